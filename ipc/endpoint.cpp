// Endpoint checks done before binding: ZeroMQ's ipc:// bind silently unlinks
// a live socket file, so a second daemon must be stopped here, not there.
#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "ipc/ipc.hpp"

namespace aikid::ipc {

std::string endpoint_ipc_path(const std::string& endpoint) {
  const std::string p = "ipc://";
  return endpoint.rfind(p, 0) == 0 ? endpoint.substr(p.size()) : std::string{};
}

namespace {

// Is something accepting connections on this Unix socket path?
bool unix_path_live(const std::string& path) {
  sockaddr_un a{};
  if (path.size() >= sizeof a.sun_path) return false;
  a.sun_family = AF_UNIX;
  std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  bool live = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return live;
}

bool host_is_loopback(const std::string& host) {
  if (host == "localhost") return true;
  in_addr a4{};
  if (::inet_pton(AF_INET, host.c_str(), &a4) == 1) return (ntohl(a4.s_addr) >> 24) == 127;
  in6_addr a6{};
  std::string h = host;
  if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  if (::inet_pton(AF_INET6, h.c_str(), &a6) == 1) return IN6_IS_ADDR_LOOPBACK(&a6);
  return false;
}

}  // namespace

expected<void> endpoint_check(const std::string& endpoint, bool curve) {
  if (auto path = endpoint_ipc_path(endpoint); !path.empty()) {
    // ZeroMQ reads "ipc://@name" as Linux's abstract namespace: no file, so
    // no mode or group to set, and any local user may connect to it.
    if (path.front() == '@')
      return error{errc::bad_request, endpoint +
                                          ": abstract Unix sockets (ipc://@NAME) have no file permissions, so any "
                                          "local user could connect; use a path (ipc:///run/aikid/NAME.sock)"};
    if (path.size() >= sizeof(sockaddr_un{}.sun_path))
      return error{errc::bad_request, endpoint + ": path is longer than a Unix socket path may be"};
    if (unix_path_live(path))
      return error{errc::unavailable, endpoint + ": already in use by another process (is aikid running?)"};
    return {};
  }
  const std::string tcp = "tcp://";
  if (endpoint.rfind(tcp, 0) == 0) {
    auto hp = endpoint.substr(tcp.size());
    auto colon = hp.rfind(':');
    if (colon == std::string::npos) return error{errc::bad_request, endpoint + ": expected tcp://HOST:PORT"};
    auto host = hp.substr(0, colon);
    if (!host_is_loopback(host) && !curve)
      return error{errc::bad_request, endpoint +
                                          ": a non-loopback TCP endpoint needs CURVE keys, which are not configured "
                                          "(ipc.curve_secret_key_file; make them with aikid --curve-keygen DIR)"};
    return {};
  }
  return error{errc::bad_request, endpoint + ": unsupported transport (use ipc:// or tcp://127.0.0.1:PORT)"};
}

expected<zmq::socket_t> endpoint_bind(zmq::context_t& ctx, zmq::socket_type type, const std::string& endpoint,
                                      int file_mode, const std::string& curve_secret_key,
                                      const std::function<void(zmq::socket_t&)>& configure) {
  const bool tcp = endpoint.rfind("tcp://", 0) == 0;
  const bool curve = tcp && !curve_secret_key.empty();
  if (auto ok = endpoint_check(endpoint, curve); !ok) return ok.error();
  zmq::socket_t sock;
  try {
    sock = zmq::socket_t(ctx, type);
    sock.set(zmq::sockopt::linger, 0);
    if (curve) {
      sock.set(zmq::sockopt::curve_server, 1);
      sock.set(zmq::sockopt::curve_secretkey, curve_secret_key);
    }
    // An IPv6 literal (tcp://[::1]:PORT, which endpoint_check lets through
    // as loopback) binds only on a socket with ZMQ_IPV6 set.
    if (tcp && endpoint.size() > 6 && endpoint[6] == '[') sock.set(zmq::sockopt::ipv6, 1);
    if (configure) configure(sock);
    sock.bind(endpoint);
  } catch (const zmq::error_t& e) {
    return error{errc::unavailable, endpoint + ": cannot bind: " + e.what()};
  }
  if (auto path = endpoint_ipc_path(endpoint); !path.empty()) ::chmod(path.c_str(), static_cast<mode_t>(file_mode));
  return sock;
}

expected<std::string> curve_key_read(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return error{errc::bad_request, path + ": cannot read the CURVE secret key: " + std::strerror(errno)};
  if (st.st_mode & 077)
    return error{errc::bad_request, path + ": the CURVE secret key is readable by group or others (chmod 600 it)"};
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return error{errc::bad_request, path + ": cannot read the CURVE secret key: " + std::strerror(errno)};
  char buf[128];
  std::size_t n = std::fread(buf, 1, sizeof buf, f);
  std::fclose(f);
  std::string key(buf, n);
  while (!key.empty() && (key.back() == '\n' || key.back() == '\r' || key.back() == ' ')) key.pop_back();
  std::uint8_t raw[32];
  if (key.size() != 40 || !zmq_z85_decode(raw, key.c_str()))
    return error{errc::bad_request, path + ": expected one Z85 CURVE secret key of 40 characters"};
  return key;
}

}  // namespace aikid::ipc
