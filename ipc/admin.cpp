// The admin Unix stream socket: one text command a line in, one JSON object a
// line out, so `socat - UNIX-CONNECT:…` works by hand. Peers are checked with
// SO_PEERCRED before their first line is read.
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "ipc/ipc.hpp"

namespace aikid::ipc {

bool admin_peer_allowed(unsigned uid, unsigned gid, int pid, const std::string& group) {
  if (uid == 0 || uid == ::geteuid()) return true;
  struct group* g = group.empty() ? nullptr : ::getgrnam(group.c_str());
  if (!g) return false;
  if (gid == g->gr_gid) return true;
  // Supplementary groups of the peer process.
  std::ifstream st("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(st, line)) {
    if (line.rfind("Groups:", 0) != 0) continue;
    std::istringstream is(line.substr(7));
    unsigned x;
    while (is >> x)
      if (x == g->gr_gid) return true;
  }
  // Members listed in /etc/group (by name).
  if (struct passwd* pw = ::getpwuid(uid))
    for (char** m = g->gr_mem; m && *m; ++m)
      if (std::strcmp(*m, pw->pw_name) == 0) return true;
  return false;
}

namespace {
struct client {
  int fd;
  std::string buf;
};

void write_all(int fd, const std::string& s) {
  std::size_t off = 0;
  while (off < s.size()) {
    auto n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return;
    off += static_cast<std::size_t>(n);
  }
}
}  // namespace

struct admin_server::impl {
  admin_options opts;
  admin_handler handler;
  int lfd = -1;
  int wake = -1;
  std::thread th;
  std::atomic<bool> stopping{false};
  std::vector<client> clients;

  void accept_one() {
    int fd = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) return;
    ucred cr{};
    socklen_t len = sizeof cr;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0 ||
        !admin_peer_allowed(cr.uid, cr.gid, cr.pid, opts.group)) {
      nlohmann::json r = {{"ok", false},
                          {"error", {{"code", "forbidden"},
                                     {"message", "uid " + std::to_string(cr.uid) + " is not in group " + opts.group}}}};
      write_all(fd, json_dump(r) + "\n");
      ::close(fd);
      return;
    }
    clients.push_back({fd, {}});
  }

  // Returns false when the client should be closed.
  bool read_client(client& c) {
    char tmp[4096];
    auto n = ::recv(c.fd, tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    c.buf.append(tmp, static_cast<std::size_t>(n));
    std::size_t nl;
    while ((nl = c.buf.find('\n')) != std::string::npos) {
      std::string line = c.buf.substr(0, nl);
      c.buf.erase(0, nl + 1);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.empty()) continue;
      nlohmann::json reply;
      if (!wire::utf8_valid(line)) {
        reply = {{"ok", false}, {"error", {{"code", "bad_request"}, {"message", "command is not valid UTF-8"}}}};
      } else {
        reply = handler(line);
      }
      write_all(c.fd, reply.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
    }
    if (c.buf.size() > opts.max_line) {
      nlohmann::json r = {{"ok", false},
                          {"error", {{"code", "too_large"},
                                     {"message", "command line longer than " + std::to_string(opts.max_line) +
                                                     " bytes"}}}};
      write_all(c.fd, json_dump(r) + "\n");
      return false;
    }
    return true;
  }

  void run() {
    while (!stopping.load()) {
      std::vector<pollfd> fds;
      fds.push_back({lfd, POLLIN, 0});
      fds.push_back({wake, POLLIN, 0});
      for (auto& c : clients) fds.push_back({c.fd, POLLIN, 0});
      if (::poll(fds.data(), fds.size(), 1000) < 0) continue;
      if (fds[1].revents) break;
      std::vector<client> keep;
      for (std::size_t i = 0; i < clients.size(); ++i) {
        auto re = fds[i + 2].revents;
        if (re == 0 || read_client(clients[i])) keep.push_back(std::move(clients[i]));
        else ::close(clients[i].fd);
      }
      clients.swap(keep);
      if (fds[0].revents & POLLIN) accept_one();
    }
  }
};

expected<std::unique_ptr<admin_server>> admin_server::start(admin_options opts, admin_handler handler) {
  auto ep = endpoint_check("ipc://" + opts.path);
  if (!ep) return error{ep.error().code, "admin socket " + opts.path + ": " + ep.error().message};
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::memcpy(a.sun_path, opts.path.c_str(), opts.path.size() + 1);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return error{errc::unavailable, "admin socket: " + std::string(std::strerror(errno))};
  ::unlink(opts.path.c_str());  // stale file (a live one was refused above)
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 16) != 0) {
    std::string why = std::strerror(errno);
    ::close(fd);
    return error{errc::unavailable, "admin socket " + opts.path + ": cannot bind: " + why};
  }
  ::chmod(opts.path.c_str(), opts.file_mode);
  if (struct group* g = ::getgrnam(opts.group.c_str())) [[maybe_unused]] auto r = ::chown(opts.path.c_str(), -1, g->gr_gid);
  auto p = std::make_unique<impl>();
  p->opts = std::move(opts);
  p->handler = std::move(handler);
  p->lfd = fd;
  p->wake = ::eventfd(0, EFD_CLOEXEC);
  auto* raw = p.get();
  p->th = std::thread([raw] { raw->run(); });
  return std::unique_ptr<admin_server>(new admin_server(std::move(p)));
}

admin_server::admin_server(std::unique_ptr<impl> p) : p_(std::move(p)) {}
admin_server::~admin_server() { stop(); }

void admin_server::stop() {
  if (!p_ || !p_->th.joinable()) return;
  p_->stopping = true;
  std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(p_->wake, &one, sizeof one);
  p_->th.join();
  for (auto& c : p_->clients) ::close(c.fd);
  ::close(p_->lfd);
  ::close(p_->wake);
  ::unlink(p_->opts.path.c_str());
}

}  // namespace aikid::ipc
