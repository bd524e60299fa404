// The PUB socket's I/O thread: stamps each thought with v, boot_id, a
// per-topic seq and ts, and sends it as two frames (topic, body) without ever
// blocking.

#include <chrono>
#include <deque>
#include <mutex>

#include "ipc/ipc.hpp"
#include "ipc/outbox.hpp"

namespace aikid::ipc {

namespace {
struct thought {
  std::string topic;
  nlohmann::json body;
};
}  // namespace

struct publisher::impl {
  publisher_options opts;
  zmq::socket_t sock;
  outbox<thought> out{1 << 16};
  std::thread th;
  std::atomic<bool> stopping{false};
  std::map<std::string, std::uint64_t> seq;  // I/O thread
  mutable std::mutex st_mu;
  std::map<std::string, std::uint64_t> sent, failed;

  void send(thought& t) {
    auto& body = t.body;
    std::uint64_t s = ++seq[t.topic];
    body["v"] = wire::version;
    body["boot_id"] = opts.boot_id;
    body["seq"] = s;
    if (!body.contains("ts"))
      body["ts"] = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
    auto text = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    bool ok = true;
    try {
      ok = sock.send(zmq::buffer(t.topic), zmq::send_flags::sndmore | zmq::send_flags::dontwait).has_value() &&
           sock.send(zmq::buffer(text), zmq::send_flags::dontwait).has_value();
    } catch (const zmq::error_t&) {
      ok = false;
    }
    std::lock_guard<std::mutex> g(st_mu);
    ++(ok ? sent : failed)[t.topic];
  }

  void run() {
    std::deque<thought> batch;
    while (!stopping.load()) {
      zmq::pollitem_t items[] = {{nullptr, out.fd(), ZMQ_POLLIN, 0}};
      try {
        zmq::poll(items, 1, std::chrono::milliseconds(500));
      } catch (const zmq::error_t& e) {
        if (e.num() == ETERM) break;
        continue;
      }
      if (items[0].revents & ZMQ_POLLIN) {
        out.drain(batch);
        for (auto& t : batch)
          if (!t.topic.empty()) send(t);
        batch.clear();
      }
    }
  }
};

expected<std::unique_ptr<publisher>> publisher::start(zmq::context_t& ctx, publisher_options opts) {
  auto p = std::make_unique<impl>();
  p->opts = opts;
  auto sock = endpoint_bind(ctx, zmq::socket_type::pub, opts.endpoint, opts.file_mode, opts.curve_secret_key,
                            [&](zmq::socket_t& s) { s.set(zmq::sockopt::sndhwm, opts.sndhwm); });
  if (!sock) return sock.error();
  p->sock = std::move(*sock);
  auto* raw = p.get();
  p->th = std::thread([raw] { raw->run(); });
  return std::unique_ptr<publisher>(new publisher(std::move(p)));
}

publisher::publisher(std::unique_ptr<impl> p) : p_(std::move(p)) {}
publisher::~publisher() { stop(); }

void publisher::publish(std::string topic, nlohmann::json body) { p_->out.push({std::move(topic), std::move(body)}); }

nlohmann::json publisher::stats() const {
  std::lock_guard<std::mutex> g(p_->st_mu);
  return {{"endpoint", p_->opts.endpoint}, {"sent", p_->sent}, {"failed", p_->failed},
          {"dropped_in_queue", p_->out.dropped()}};
}

void publisher::stop() {
  if (!p_ || !p_->th.joinable()) return;
  p_->stopping = true;
  p_->out.push({"", nlohmann::json::object()});
  p_->th.join();
  // Send whatever is still queued, synchronously, before closing.
  std::deque<thought> rest;
  p_->out.drain(rest);
  for (auto& t : rest)
    if (!t.topic.empty()) p_->send(t);
  p_->sock.close();
  if (auto path = endpoint_ipc_path(p_->opts.endpoint); !path.empty()) ::unlink(path.c_str());
}

}  // namespace aikid::ipc
