// Prometheus text over HTTP on a loopback port, for a scraper.
#include <httplib.h>

#include "ipc/ipc.hpp"

namespace aikid::ipc {

struct metrics_http::impl {
  httplib::Server srv;
  std::thread th;
};

expected<std::unique_ptr<metrics_http>> metrics_http::start(const std::string& listen,
                                                            std::function<std::string()> render) {
  auto colon = listen.rfind(':');
  if (colon == std::string::npos) return error{errc::bad_request, "admin.metrics_http: expected HOST:PORT"};
  std::string host = listen.substr(0, colon);
  int port = 0;
  try {
    port = std::stoi(listen.substr(colon + 1));
  } catch (const std::exception&) {
    return error{errc::bad_request, "admin.metrics_http: bad port in \"" + listen + "\""};
  }
  if (auto ok = endpoint_check("tcp://" + listen); !ok)
    return error{errc::bad_request, "admin.metrics_http: " + ok.error().message};
  auto p = std::make_unique<impl>();
  p->srv.Get("/metrics", [render](const httplib::Request&, httplib::Response& res) {
    res.set_content(render(), "text/plain; version=0.0.4");
  });
  // "[::1]:PORT" passed the loopback check with its brackets; the socket
  // takes the bare address.
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (!p->srv.bind_to_port(host.c_str(), port))
    return error{errc::unavailable, "admin.metrics_http: cannot bind " + listen};
  auto* raw = p.get();
  p->th = std::thread([raw] { raw->srv.listen_after_bind(); });
  return std::unique_ptr<metrics_http>(new metrics_http(std::move(p)));
}

metrics_http::metrics_http(std::unique_ptr<impl> p) : p_(std::move(p)) {}
metrics_http::~metrics_http() { stop(); }

void metrics_http::stop() {
  if (!p_ || !p_->th.joinable()) return;
  p_->srv.stop();
  p_->th.join();
}

}  // namespace aikid::ipc
