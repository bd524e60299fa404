// The ROUTER socket's I/O thread: receives requests, validates the envelope,
// applies admission control and deadlines, dispatches to actors, and sends the
// replies actors push into its outbox.

#include <chrono>
#include <deque>
#include <mutex>
#include <unordered_map>
#include <variant>

#include "common/stats.hpp"
#include "ipc/ipc.hpp"
#include "ipc/outbox.hpp"

namespace aikid::ipc {

namespace {
using clock = std::chrono::steady_clock;
constexpr std::size_t n_classes = wire::n_op_classes;

struct route {
  std::string identity;
  bool delimiter = true;  // REQ and most DEALER clients send an empty frame first
};

struct pending {
  route to;
  std::string id;
  wire::op_class cls;
  clock::time_point start;
  std::optional<clock::time_point> deadline;
};

struct out_item {
  std::uint64_t ticket;
  std::variant<nlohmann::json, error> body;
};
}  // namespace

struct ingress::impl {
  ingress_options opts;
  zmq::socket_t sock;
  outbox<out_item> out{1 << 16};
  dispatch_fn dispatch;
  expire_fn expire;
  std::thread th;
  std::atomic<bool> stopping{false};
  std::atomic<bool> accepting{true};
  std::atomic<int> inflight_total{0};
  std::atomic<std::size_t> max_bytes;
  int max_depth = json_default_max_depth;  // set at start
  std::array<std::atomic<int>, n_classes> limits;

  // I/O thread state
  std::unordered_map<std::uint64_t, pending> pend;
  std::array<int, n_classes> inflight{};
  std::uint64_t next_ticket = 1;

  // stats (guarded: written by the I/O thread, read by admin)
  mutable std::mutex st_mu;
  std::map<std::string, std::uint64_t> errors_by_code;
  std::map<std::string, std::uint64_t> requests_by_op;
  std::array<latency_window, n_classes> latency;
  std::uint64_t late_replies = 0;

  void send(const route& to, const std::string& payload) {
    try {
      sock.send(zmq::buffer(to.identity), zmq::send_flags::sndmore | zmq::send_flags::dontwait);
      if (to.delimiter) sock.send(zmq::message_t{}, zmq::send_flags::sndmore | zmq::send_flags::dontwait);
      sock.send(zmq::buffer(payload), zmq::send_flags::dontwait);
    } catch (const zmq::error_t&) {
      // The peer is gone or over its HWM: the reply is lost for it alone.
    }
  }

  void count_error(const error& e) {
    std::lock_guard<std::mutex> g(st_mu);
    ++errors_by_code[std::string(errc_name(e.code))];
  }

  void reject(const route& to, const std::string& id, const error& e) {
    count_error(e);
    send(to, wire::protocol_reply_error(id, e));
  }

  void on_request(std::vector<zmq::message_t>& frames) {
    route to;
    to.identity = frames[0].to_string();
    std::string_view payload;
    if (frames.size() == 2) {
      to.delimiter = false;
      payload = frames[1].to_string_view();
    } else if (frames.size() == 3 && frames[1].size() == 0) {
      payload = frames[2].to_string_view();
    } else {
      to.delimiter = frames.size() > 1 && frames[1].size() == 0;
      reject(to, "", error{errc::bad_json, "expected one JSON frame per request, got " +
                                               std::to_string(frames.size() - 1 - (to.delimiter ? 1 : 0))});
      return;
    }
    std::string id;
    auto req = wire::protocol_parse_request(payload, max_bytes.load(), &id, max_depth);
    if (!req) return reject(to, id, req.error());
    {
      std::lock_guard<std::mutex> g(st_mu);
      ++requests_by_op[req->op];
    }
    if (!accepting.load()) return reject(to, id, error{errc::unavailable, "aikid is shutting down"});
    if (req->info->server == wire::op_server::ingress) {  // ping, answered here: it proves the I/O path is alive
      auto fields = opts.ping_fields;
      fields["pong"] = true;
      send(to, wire::protocol_reply_ok(id, std::move(fields)));
      return;
    }
    const auto cls = req->info->cls;
    auto ci = static_cast<std::size_t>(cls);
    if (inflight[ci] >= limits[ci].load())
      return reject(to, id, error{errc::busy, std::string(wire::op_class_name(cls)) + ": " +
                                                  std::to_string(inflight[ci]) +
                                                  " requests in flight (the limit); retry later"});
    std::uint64_t ticket = next_ticket++;
    pending p{to, id, cls, clock::now(), std::nullopt};
    if (req->deadline_ms) p.deadline = p.start + std::chrono::milliseconds(*req->deadline_ms);
    pend.emplace(ticket, std::move(p));
    ++inflight[ci];
    inflight_total.fetch_add(1);
    dispatch(ticket, std::move(*req));
  }

  void finish(std::uint64_t ticket, const std::variant<nlohmann::json, error>& body) {
    auto it = pend.find(ticket);
    if (it == pend.end()) {
      std::lock_guard<std::mutex> g(st_mu);
      ++late_replies;
      return;
    }
    pending p = std::move(it->second);
    pend.erase(it);
    // Bookkeeping first: once the client has its reply, the slot is free.
    --inflight[static_cast<std::size_t>(p.cls)];
    inflight_total.fetch_sub(1);
    {
      std::lock_guard<std::mutex> g(st_mu);
      latency[static_cast<std::size_t>(p.cls)].add(
          std::chrono::duration<double, std::milli>(clock::now() - p.start).count());
    }
    if (auto* e = std::get_if<error>(&body)) {
      count_error(*e);
      send(p.to, wire::protocol_reply_error(p.id, *e));
    } else {
      send(p.to, wire::protocol_reply_ok(p.id, std::get<nlohmann::json>(body)));
    }
  }

  // Answers `deadline` for every request past its deadline; returns the time
  // to the next one (capped).
  std::chrono::milliseconds expire_due() {
    auto now = clock::now();
    auto next = std::chrono::milliseconds(200);
    std::vector<std::uint64_t> due;
    for (auto& [t, p] : pend) {
      if (!p.deadline) continue;
      if (*p.deadline <= now) due.push_back(t);
      else next = std::min(next, std::chrono::duration_cast<std::chrono::milliseconds>(*p.deadline - now) +
                                     std::chrono::milliseconds(1));
    }
    for (auto t : due) {
      std::string id = pend[t].id;
      finish(t, error{errc::deadline, "deadline_ms passed before the request finished"});
      if (expire) expire(t, id);
    }
    return next;
  }

  void run() {
    std::deque<out_item> batch;
    while (!stopping.load()) {
      auto wait = expire_due();
      zmq::pollitem_t items[] = {{sock.handle(), 0, ZMQ_POLLIN, 0}, {nullptr, out.fd(), ZMQ_POLLIN, 0}};
      try {
        zmq::poll(items, 2, wait);
      } catch (const zmq::error_t& e) {
        if (e.num() == ETERM) break;
        continue;
      }
      if (items[1].revents & ZMQ_POLLIN) {
        out.drain(batch);
        for (auto& it : batch) finish(it.ticket, it.body);
        batch.clear();
      }
      if (items[0].revents & ZMQ_POLLIN) {
        for (int i = 0; i < 256; ++i) {  // bounded, so replies are not starved
          std::vector<zmq::message_t> frames;
          zmq::recv_result_t r;
          try {
            r = zmq::recv_multipart(sock, std::back_inserter(frames), zmq::recv_flags::dontwait);
          } catch (const zmq::error_t&) {
            break;
          }
          if (!r) break;
          if (frames.empty()) continue;
          on_request(frames);
        }
      }
    }
  }
};

expected<std::unique_ptr<ingress>> ingress::start(zmq::context_t& ctx, ingress_options opts, dispatch_fn dispatch,
                                                  expire_fn expire) {
  auto p = std::make_unique<impl>();
  p->opts = opts;
  p->dispatch = std::move(dispatch);
  p->expire = std::move(expire);
  p->max_bytes = opts.max_message_bytes;
  p->max_depth = opts.max_json_depth;
  for (std::size_t i = 0; i < n_classes; ++i) p->limits[i] = opts.max_inflight[i];
  auto sock = endpoint_bind(ctx, zmq::socket_type::router, opts.endpoint, opts.file_mode, opts.curve_secret_key, [&](zmq::socket_t& s) {
    // A hard cap well above the configured limit: frames up to it get a
    // too_large reply; beyond it ZeroMQ drops the connection (memory guard).
    s.set(zmq::sockopt::maxmsgsize,
          static_cast<int64_t>(std::max<std::size_t>(opts.max_message_bytes * 16, 16 << 20)));
  });
  if (!sock) return sock.error();
  p->sock = std::move(*sock);
  auto* raw = p.get();
  p->th = std::thread([raw] { raw->run(); });
  return std::unique_ptr<ingress>(new ingress(std::move(p)));
}

ingress::ingress(std::unique_ptr<impl> p) : p_(std::move(p)) {}
ingress::~ingress() { stop(); }

void ingress::reply_ok(std::uint64_t ticket, nlohmann::json fields) { p_->out.push({ticket, std::move(fields)}); }
void ingress::reply_error(std::uint64_t ticket, error e) { p_->out.push({ticket, std::move(e)}); }
void ingress::stop_accepting() { p_->accepting = false; }
int ingress::in_flight() const { return p_->inflight_total.load(); }

void ingress::set_limits(std::size_t max_message_bytes, wire::class_limits max_inflight) {
  p_->max_bytes = max_message_bytes;
  for (std::size_t i = 0; i < n_classes; ++i) p_->limits[i] = max_inflight[i];
}

nlohmann::json ingress::stats() const {
  std::lock_guard<std::mutex> g(p_->st_mu);
  nlohmann::json lat = nlohmann::json::object();
  for (std::size_t i = 0; i < n_classes; ++i)
    lat[std::string(wire::op_class_name(static_cast<wire::op_class>(i)))] = p_->latency[i].to_json();
  return {{"endpoint", p_->opts.endpoint},
          {"in_flight", p_->inflight_total.load()},
          {"requests", p_->requests_by_op},
          {"errors", p_->errors_by_code},
          {"late_replies", p_->late_replies},
          {"dropped_replies", p_->out.dropped()},
          {"latency", lat}};
}

void ingress::stop() {
  if (!p_ || !p_->th.joinable()) return;
  p_->stopping = true;
  p_->out.push({0, nlohmann::json::object()});  // wakes the poll
  p_->th.join();
  p_->sock.close();
  if (auto path = endpoint_ipc_path(p_->opts.endpoint); !path.empty()) ::unlink(path.c_str());
}

}  // namespace aikid::ipc
