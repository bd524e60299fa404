// The daemon's I/O threads under ThreadSanitizer (issue 21): ingress with
// several clients at once and replies pushed from several threads while
// another thread sets limits and reads stats; the publisher fed from several
// threads (and stopped while they publish); the admin socket with concurrent
// connections; the heartbeat thread with actors that go down and up. Each
// case also checks what came out (every request answered once with its own
// id, every topic's seq without a gap), so a lost or doubled item fails it
// even where TSan has nothing to say. Boost.Test is not thread-safe: threads
// count, the test thread checks.
#define BOOST_TEST_MODULE tsan_ipc
#include <boost/test/unit_test.hpp>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "daemon/heartbeat.hpp"
#include "ipc/ipc.hpp"

using namespace aikid;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

std::string tmp_path(const char* name) {
  return "/tmp/aikid-tsan-" + std::to_string(::getpid()) + "-" + name + ".sock";
}

// Tickets handed out by ingress (on its I/O thread), answered by other threads.
struct ticket_queue {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::pair<std::uint64_t, std::string>> q;  // ticket, op
  bool closed = false;
  void push(std::uint64_t t, std::string op) {
    {
      std::lock_guard<std::mutex> g(mu);
      q.emplace_back(t, std::move(op));
    }
    cv.notify_one();
  }
  bool pop(std::pair<std::uint64_t, std::string>& out) {
    std::unique_lock<std::mutex> g(mu);
    cv.wait(g, [&] { return closed || !q.empty(); });
    if (q.empty()) return false;
    out = std::move(q.front());
    q.pop_front();
    return true;
  }
  void close() {
    {
      std::lock_guard<std::mutex> g(mu);
      closed = true;
    }
    cv.notify_all();
  }
};

}  // namespace

BOOST_AUTO_TEST_CASE(ingress_serves_concurrent_clients_with_replies_from_several_threads) {
  constexpr int clients = 4, per_client = 400, repliers = 3;
  zmq::context_t ctx;
  const std::string ep = "ipc://" + tmp_path("ingress");
  ticket_queue tickets;
  std::shared_ptr<ipc::ingress> ing;
  ipc::ingress_options o;
  o.endpoint = ep;
  o.max_message_bytes = 4096;
  o.max_inflight = {64, 64, 64, 64, 64, 64};
  auto r = ipc::ingress::start(
      ctx, o, [&](std::uint64_t t, wire::request&& req) { tickets.push(t, req.op); }, nullptr);
  BOOST_TEST_REQUIRE(r.has_value(), (r ? "" : r.error().message));
  ing = std::move(*r);

  // Actors: answer from several threads, some ok, some errors.
  std::vector<std::thread> actors;
  for (int i = 0; i < repliers; ++i)
    actors.emplace_back([&] {
      std::pair<std::uint64_t, std::string> t;
      while (tickets.pop(t)) {
        if (t.second == "kg.add") ing->reply_error(t.first, error{errc::not_found, "no such thing"});
        else ing->reply_ok(t.first, {{"echo", t.second}});
      }
    });
  // Admin: live limits and stats while the I/O thread serves.
  std::atomic<bool> done{false};
  std::atomic<int> stats_reads{0};
  std::thread admin([&] {
    std::array<int, 6> lim{64, 64, 64, 64, 64, 64};
    for (int i = 0; !done.load(); ++i) {
      lim[static_cast<std::size_t>(i % 6)] = 48 + i % 16;
      ing->set_limits(4096 + static_cast<std::size_t>(i % 2), lim);
      auto st = ing->stats();
      if (st.contains("requests") && ing->in_flight() >= 0) stats_reads.fetch_add(1);
      std::this_thread::sleep_for(1ms);
    }
  });
  // Clients: one DEALER each, requests pipelined in windows of 8.
  std::atomic<int> wrong{0}, answered{0};
  std::vector<std::thread> cs;
  for (int c = 0; c < clients; ++c)
    cs.emplace_back([&, c] {
      zmq::socket_t s(ctx, zmq::socket_type::dealer);
      s.set(zmq::sockopt::linger, 0);
      s.connect(ep);
      static const char* ops[] = {"memory.get", "kg.add", "ping", "embed", "bad"};
      std::map<std::string, std::string> expect;  // id -> expected marker
      int sent = 0;
      while (sent < per_client || !expect.empty()) {
        while (sent < per_client && expect.size() < 8) {
          std::string id = std::to_string(c) + "-" + std::to_string(sent);
          std::string op = ops[sent % 5];
          std::string frame = op == "bad" ? "{\"v\":1,\"id\":\"" + id + "\",\"op\":" : json{{"v", 1}, {"id", id}, {"op", op}}.dump();
          if (op == "embed") frame = json{{"v", 1}, {"id", id}, {"op", op}, {"texts", {"x"}}}.dump();
          s.send(zmq::message_t{}, zmq::send_flags::sndmore);
          s.send(zmq::buffer(frame));
          expect[id] = op;
          ++sent;
        }
        zmq::pollitem_t it{s.handle(), 0, ZMQ_POLLIN, 0};
        zmq::poll(&it, 1, 10s);
        if (!(it.revents & ZMQ_POLLIN)) {
          wrong.fetch_add(1000);  // a request never answered
          return;
        }
        std::vector<zmq::message_t> parts;
        [[maybe_unused]] auto rr = zmq::recv_multipart(s, std::back_inserter(parts));
        auto rep = json::parse(parts.back().to_string());
        std::string id = rep.value("id", "");
        if (id.empty()) {  // bad_json: the id could not be read; match it by order
          auto e = std::find_if(expect.begin(), expect.end(), [](auto& kv) { return kv.second == "bad"; });
          if (e == expect.end() || rep["error"]["code"] != "bad_json") wrong.fetch_add(1);
          else expect.erase(e);
          answered.fetch_add(1);
          continue;
        }
        auto e = expect.find(id);
        if (e == expect.end()) {
          wrong.fetch_add(1);
          continue;
        }
        const std::string& op = e->second;
        bool good = op == "ping"     ? rep["pong"] == true
                    : op == "kg.add" ? rep["error"]["code"] == "not_found"
                    : op == "bad"    ? rep["error"]["code"] == "bad_json"
                                     : rep["echo"] == op;
        if (!good) wrong.fetch_add(1);
        expect.erase(e);
        answered.fetch_add(1);
      }
    });
  for (auto& t : cs) t.join();
  done = true;
  admin.join();
  tickets.close();
  for (auto& t : actors) t.join();
  BOOST_TEST(wrong.load() == 0);
  BOOST_TEST(answered.load() == clients * per_client);
  BOOST_TEST(stats_reads.load() > 0);
  auto st = ing->stats();
  BOOST_TEST(st["in_flight"] == 0);
  BOOST_TEST(st["errors"]["not_found"] == clients * per_client / 5);
  // Stop while replies may still be pushed from another thread.
  std::thread late([&] {
    for (int i = 0; i < 200; ++i) ing->reply_ok(1000000 + static_cast<std::uint64_t>(i), {});
  });
  ing->stop_accepting();
  ing->stop();
  late.join();
}

BOOST_AUTO_TEST_CASE(publisher_takes_thoughts_from_several_threads_and_stops_while_they_publish) {
  constexpr int producers = 4, per_producer = 1000;
  zmq::context_t ctx;
  const std::string ep = "ipc://" + tmp_path("pub");
  ipc::publisher_options po;
  po.endpoint = ep;
  po.sndhwm = 100000;
  po.boot_id = "tsan";
  auto p = ipc::publisher::start(ctx, po);
  BOOST_TEST_REQUIRE(p.has_value(), (p ? "" : p.error().message));
  std::shared_ptr<ipc::publisher> pub = std::move(*p);
  zmq::socket_t sub(ctx, zmq::socket_type::sub);
  sub.set(zmq::sockopt::subscribe, "t.");
  sub.set(zmq::sockopt::rcvhwm, 0);
  sub.connect(ep);
  // Slow joiner: probe until the subscriber hears one.
  for (int i = 0;; ++i) {
    BOOST_TEST_REQUIRE(i < 500);
    pub->publish("t.probe", {{"i", i}});
    zmq::pollitem_t it{sub.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&it, 1, 10ms);
    if (it.revents & ZMQ_POLLIN) break;
  }
  for (;;) {  // drain the probes
    zmq::pollitem_t it{sub.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&it, 1, 50ms);
    if (!(it.revents & ZMQ_POLLIN)) break;
    std::vector<zmq::message_t> x;
    [[maybe_unused]] auto r = zmq::recv_multipart(sub, std::back_inserter(x));
  }
  std::atomic<bool> done{false};
  std::thread stats([&] {
    while (!done.load()) {
      [[maybe_unused]] auto st = pub->stats();
      std::this_thread::sleep_for(1ms);
    }
  });
  std::vector<std::thread> ps;
  for (int k = 0; k < producers; ++k)
    ps.emplace_back([&, k] {
      for (int i = 0; i < per_producer; ++i)
        pub->publish("t." + std::to_string(k % 2), {{"producer", k}, {"i", i}});
    });
  for (auto& t : ps) t.join();
  // Every thought arrives, and each topic's seq runs 1, 2, 3, … without a gap;
  // each producer's own thoughts keep their order.
  std::map<std::string, std::uint64_t> last_seq;
  std::map<int, int> last_i;
  int got = 0, bad = 0;
  while (got < producers * per_producer) {
    zmq::pollitem_t it{sub.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&it, 1, 10s);
    BOOST_TEST_REQUIRE((it.revents & ZMQ_POLLIN), "only " << got << " thoughts arrived");
    std::vector<zmq::message_t> x;
    [[maybe_unused]] auto r = zmq::recv_multipart(sub, std::back_inserter(x));
    auto body = json::parse(x[1].to_string());
    const std::string topic = x[0].to_string();
    if (topic == "t.probe") continue;
    auto seq = body["seq"].get<std::uint64_t>();
    if (seq != last_seq[topic] + 1) ++bad;
    last_seq[topic] = seq;
    int k = body["producer"], i = body["i"];
    if (last_i.count(k) && i != last_i[k] + 1) ++bad;
    last_i[k] = i;
    ++got;
  }
  BOOST_TEST(bad == 0);
  BOOST_TEST(pub->stats()["sent"]["t.0"] == producers / 2 * per_producer);
  // Stop while producers are still at it: no race, nothing after stop is sent.
  done = false;
  std::vector<std::thread> late;
  for (int k = 0; k < 2; ++k)
    late.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) pub->publish("t.late", {{"i", i}});
    });
  std::this_thread::sleep_for(1ms);
  pub->stop();
  for (auto& t : late) t.join();
  done = true;
  stats.join();
}

namespace {

int unix_connect(const std::string& path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

// Reads until `lines` newlines came (or the peer closed / timed out).
std::string read_lines(int fd, int lines) {
  std::string buf;
  char tmp[4096];
  while (std::count(buf.begin(), buf.end(), '\n') < lines) {
    auto n = ::recv(fd, tmp, sizeof tmp, 0);
    if (n <= 0) break;
    buf.append(tmp, static_cast<std::size_t>(n));
  }
  return buf;
}

}  // namespace

BOOST_AUTO_TEST_CASE(admin_socket_serves_concurrent_connections) {
  constexpr int conns = 6, per_conn = 120;
  const std::string path = tmp_path("admin");
  std::mutex state_mu;
  std::map<std::string, int> seen;  // the handler's shared state (as admin_context's cfg)
  std::atomic<int> calls{0};
  ipc::admin_options ao;
  ao.path = path;
  ao.max_line = 1024;
  auto a = ipc::admin_server::start(ao, [&](const std::string& line) {
    calls.fetch_add(1);
    std::lock_guard<std::mutex> g(state_mu);
    int n = ++seen[line.substr(0, line.find(' '))];
    return json{{"ok", true}, {"line", line}, {"n", n}};
  });
  BOOST_TEST_REQUIRE(a.has_value(), (a ? "" : a.error().message));
  std::atomic<int> wrong{0};
  std::vector<std::thread> ts;
  for (int c = 0; c < conns; ++c)
    ts.emplace_back([&, c] {
      int fd = unix_connect(path);
      if (fd < 0) {
        wrong.fetch_add(1000);
        return;
      }
      // Lines one at a time, pipelined in bursts, and split across writes.
      for (int i = 0; i < per_conn; i += 4) {
        std::string burst;
        for (int j = i; j < i + 4; ++j) burst += "c" + std::to_string(c) + " " + std::to_string(j) + "\n";
        const std::size_t cut = burst.size() / 3;
        [[maybe_unused]] auto w1 = ::send(fd, burst.data(), cut, MSG_NOSIGNAL);
        [[maybe_unused]] auto w2 = ::send(fd, burst.data() + cut, burst.size() - cut, MSG_NOSIGNAL);
        auto text = read_lines(fd, 4);
        std::size_t pos = 0;
        for (int j = i; j < i + 4; ++j) {
          auto nl = text.find('\n', pos);
          if (nl == std::string::npos) {
            wrong.fetch_add(1);
            break;
          }
          auto rep = json::parse(text.substr(pos, nl - pos), nullptr, false);
          if (rep.is_discarded() || rep["line"] != "c" + std::to_string(c) + " " + std::to_string(j)) wrong.fetch_add(1);
          pos = nl + 1;
        }
      }
      ::close(fd);
    });
  // Meanwhile: peers that connect and vanish, and one line over the limit.
  std::thread rude([&] {
    for (int i = 0; i < 20; ++i) {
      int fd = unix_connect(path);
      if (fd < 0) continue;
      if (i % 2) [[maybe_unused]] auto w = ::send(fd, "half a li", 9, MSG_NOSIGNAL);
      ::close(fd);
    }
    int fd = unix_connect(path);
    std::string big(2000, 'x');
    [[maybe_unused]] auto w = ::send(fd, big.data(), big.size(), MSG_NOSIGNAL);
    auto text = read_lines(fd, 1);
    if (text.find("too_large") == std::string::npos) wrong.fetch_add(1);
    ::close(fd);
  });
  for (auto& t : ts) t.join();
  rude.join();
  BOOST_TEST(wrong.load() == 0);
  BOOST_TEST(calls.load() == conns * per_conn);
  // Stop with connections still open.
  std::vector<int> open;
  for (int i = 0; i < 3; ++i) open.push_back(unix_connect(path));
  (*a)->stop();
  for (int fd : open)
    if (fd >= 0) ::close(fd);
}

namespace {

// Fake actors for the heartbeat: the test thread flips them while the
// heartbeat thread reads them.
struct fake_actors {
  std::mutex mu;
  std::map<std::string, std::pair<bool, bool>> state;  // name -> (alive, up)
  json health() {
    std::lock_guard<std::mutex> g(mu);
    json h{{"status", "ok"}, {"actors", json::object()}};
    for (auto& [n, s] : state) {
      h["actors"][n] = {{"alive", s.first}, {"up", s.second}};
      if (!s.second) {
        h["actors"][n]["reason"] = n + " broke";
        h["status"] = "degraded";
      }
    }
    return h;
  }
  void set(const std::string& n, bool alive, bool up) {
    std::lock_guard<std::mutex> g(mu);
    state[n] = {alive, up};
  }
};

struct event_log final : thought_sink {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<json> events;
  void publish(std::string topic, json body) override {
    {
      std::lock_guard<std::mutex> g(mu);
      body["topic"] = topic;
      events.push_back(std::move(body));
    }
    cv.notify_all();
  }
  // Waits until `pred` holds over the events (true) or 10 s pass (false).
  template <class P>
  bool wait_for(P pred) {
    std::unique_lock<std::mutex> g(mu);
    return cv.wait_for(g, 10s, [&] { return pred(events); });
  }
};

}  // namespace

BOOST_AUTO_TEST_CASE(heartbeat_reports_actors_going_down_and_up_and_feeds_the_watchdog) {
  fake_actors actors;
  actors.set("memory", true, true);
  actors.set("inference", true, true);
  event_log log;
  std::atomic<int> watchdog_pings{0}, states{0};
  std::mutex notes_mu;
  std::vector<std::string> notes;
  heartbeat_hooks hooks;
  hooks.health = [&] { return actors.health(); };
  hooks.publish_state = [&](const std::string& state, json h) {
    states.fetch_add(1);
    log.publish("status", {{"status", state}, {"actors", h["actors"]}});
  };
  hooks.events = &log;
  hooks.notify = [&](const std::string& s) {
    std::lock_guard<std::mutex> g(notes_mu);
    notes.push_back(s);
    watchdog_pings.fetch_add(1);
  };
  auto hb = std::make_unique<heartbeat>(heartbeat_options{5ms, 20ms, true},
                                        std::move(hooks), std::map<std::string, bool>{{"memory", true}, {"inference", true}});
  auto has = [](const std::vector<json>& ev, const char* status, const char* actor) {
    return std::any_of(ev.begin(), ev.end(), [&](const json& e) {
      return e["status"] == status && e.value("actor", "") == actor;
    });
  };
  BOOST_TEST(log.wait_for([](auto& ev) { return ev.size() >= 2; }));  // periodic whole states
  BOOST_TEST(watchdog_pings.load() > 0);
  actors.set("memory", true, false);
  BOOST_TEST(log.wait_for([&](auto& ev) { return has(ev, "down", "memory"); }));
  actors.set("memory", true, true);
  BOOST_TEST(log.wait_for([&](auto& ev) { return has(ev, "up", "memory"); }));
  // A silent actor (no answer): no WATCHDOG=1 while it lasts.
  actors.set("inference", false, true);
  std::this_thread::sleep_for(30ms);  // the beat in flight may still have pinged
  int before = watchdog_pings.load();
  std::this_thread::sleep_for(50ms);
  BOOST_TEST(watchdog_pings.load() == before);
  actors.set("inference", true, true);
  for (int i = 0; i < 1000 && watchdog_pings.load() == before; ++i) std::this_thread::sleep_for(5ms);
  BOOST_TEST(watchdog_pings.load() > before);
  hb->stop();
  {
    std::lock_guard<std::mutex> g(log.mu);
    BOOST_TEST(std::count_if(log.events.begin(), log.events.end(),
                             [](const json& e) { return e["status"] == "down"; }) == 1);
  }
  BOOST_TEST(states.load() >= 2);
  std::lock_guard<std::mutex> g(notes_mu);
  BOOST_TEST(std::all_of(notes.begin(), notes.end(), [](auto& s) { return s == "WATCHDOG=1"; }));
}

BOOST_AUTO_TEST_CASE(heartbeat_stops_at_once_in_a_long_beat) {
  std::atomic<int> asks{0};
  heartbeat_hooks hooks;
  hooks.health = [&] {
    asks.fetch_add(1);
    return json{{"status", "ok"}, {"actors", json::object()}};
  };
  for (int i = 0; i < 20; ++i) {
    heartbeat hb({std::chrono::minutes(1), 0ms, false}, hooks, {});
    if (i % 2) std::this_thread::sleep_for(1ms);
    auto t0 = std::chrono::steady_clock::now();
    hb.stop();
    BOOST_TEST((std::chrono::steady_clock::now() - t0 < 5s));
  }
  BOOST_TEST(asks.load() <= 20);
}
