// Ingress and publisher over real ZeroMQ sockets: replies, admission control
// (busy), deadlines, too_large, framing, endpoint in use, seq numbering.
#define BOOST_TEST_MODULE ingress
#include <boost/test/unit_test.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <mutex>
#include <thread>

#include "ipc/ipc.hpp"

using namespace aikid;
using json = nlohmann::json;

namespace {

std::string tmp_endpoint(const char* name) {
  return "ipc:///tmp/aikid-test-" + std::to_string(::getpid()) + "-" + name + ".sock";
}

json call(zmq::socket_t& s, const std::string& frame) {
  s.send(zmq::message_t{}, zmq::send_flags::sndmore);
  s.send(zmq::buffer(frame));
  std::vector<zmq::message_t> parts;
  zmq::pollitem_t it{s.handle(), 0, ZMQ_POLLIN, 0};
  zmq::poll(&it, 1, std::chrono::milliseconds(5000));
  BOOST_REQUIRE(it.revents & ZMQ_POLLIN);
  [[maybe_unused]] auto r = zmq::recv_multipart(s, std::back_inserter(parts));
  return json::parse(parts.back().to_string());
}

struct fixture {
  zmq::context_t ctx;
  std::string ep = tmp_endpoint("ingress");
  std::shared_ptr<ipc::ingress> ing;
  std::mutex mu;
  std::vector<std::pair<std::uint64_t, wire::request>> held;  // requests not yet answered
  zmq::socket_t client{ctx, zmq::socket_type::dealer};

  explicit fixture(bool hold = false) {
    ipc::ingress_options o;
    o.endpoint = ep;
    o.max_message_bytes = 512;
    o.max_inflight = {2, 2, 2, 2, 2, 2};
    o.ping_fields = {{"version", "test"}};
    auto r = ipc::ingress::start(ctx, o, [this, hold](std::uint64_t t, wire::request&& req) {
      if (hold || req.op == "kg.add") {
        std::lock_guard<std::mutex> g(mu);
        held.emplace_back(t, std::move(req));
        return;
      }
      ing->reply_ok(t, {{"echo", req.op}});
    }, nullptr);
    BOOST_REQUIRE_MESSAGE(r.has_value(), (r ? "" : r.error().message));
    ing = std::move(*r);
    client.set(zmq::sockopt::linger, 0);
    client.connect(ep);
  }
};

}  // namespace

BOOST_AUTO_TEST_CASE(ping_is_answered_by_ingress_itself) {
  fixture f;
  auto r = call(f.client, R"({"v":1,"op":"ping","id":"p1"})");
  BOOST_TEST(r["ok"] == true);
  BOOST_TEST(r["pong"] == true);
  BOOST_TEST(r["id"] == "p1");
  BOOST_TEST(r["version"] == "test");
}

BOOST_AUTO_TEST_CASE(dispatched_requests_get_their_reply_and_bad_ones_an_error) {
  fixture f;
  BOOST_TEST(call(f.client, R"({"v":1,"op":"memory.get","id":"a"})")["echo"] == "memory.get");
  BOOST_TEST(call(f.client, "{oops")["error"]["code"] == "bad_json");
  BOOST_TEST(call(f.client, R"({"v":1,"op":"nope","id":"b"})")["error"]["code"] == "unknown_op");
  BOOST_TEST(call(f.client, std::string(600, ' '))["error"]["code"] == "too_large");
  BOOST_TEST(call(f.client, "{\"v\":1,\"op\":\"ping\",\"s\":\"\xc3\x28\"}")["error"]["code"] == "bad_json");
  // … and the connection still serves good requests.
  BOOST_TEST(call(f.client, R"({"v":1,"op":"ping","id":"c"})")["ok"] == true);
  auto st = f.ing->stats();
  BOOST_TEST(st["errors"]["bad_json"] == 2);
}

BOOST_AUTO_TEST_CASE(busy_past_the_admission_limit_then_recovers) {
  fixture f;
  // kg.add requests are held (never answered yet): the kg class limit is 2.
  for (int i = 0; i < 2; ++i) {
    f.client.send(zmq::message_t{}, zmq::send_flags::sndmore);
    f.client.send(zmq::buffer(std::string(R"({"v":1,"op":"kg.add","id":"h)") + std::to_string(i) + "\"}"));
  }
  for (int i = 0; i < 100 && f.ing->in_flight() < 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  BOOST_TEST(f.ing->in_flight() == 2);
  auto r = call(f.client, R"({"v":1,"op":"kg.add","id":"third"})");
  BOOST_TEST(r["error"]["code"] == "busy");
  // Other classes are not affected.
  BOOST_TEST(call(f.client, R"({"v":1,"op":"memory.get","id":"m"})")["ok"] == true);
  // Answer the held ones; the class admits again.
  {
    std::lock_guard<std::mutex> g(f.mu);
    for (auto& [t, req] : f.held) f.ing->reply_ok(t, {{"done", true}});
    f.held.clear();
  }
  for (int i = 0; i < 2; ++i) {
    std::vector<zmq::message_t> parts;
    [[maybe_unused]] auto rr = zmq::recv_multipart(f.client, std::back_inserter(parts));
  }
  BOOST_TEST(f.ing->in_flight() == 0);
}

BOOST_AUTO_TEST_CASE(deadline_is_answered_and_a_late_reply_dropped) {
  fixture f(true);
  auto t0 = std::chrono::steady_clock::now();
  auto r = call(f.client, R"({"v":1,"op":"memory.get","id":"d","deadline_ms":30})");
  BOOST_TEST(r["error"]["code"] == "deadline");
  BOOST_TEST(r["id"] == "d");
  BOOST_TEST((std::chrono::steady_clock::now() - t0 >= std::chrono::milliseconds(30)));
  std::lock_guard<std::mutex> g(f.mu);
  BOOST_TEST_REQUIRE(f.held.size() == 1u);
  f.ing->reply_ok(f.held[0].first, {{"late", true}});
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  BOOST_TEST(f.ing->stats()["late_replies"] == 1);
}

BOOST_AUTO_TEST_CASE(a_second_bind_on_a_live_endpoint_fails_fast) {
  fixture f;
  zmq::context_t ctx2;
  ipc::ingress_options o;
  o.endpoint = f.ep;
  auto r = ipc::ingress::start(ctx2, o, [](std::uint64_t, wire::request&&) {}, nullptr);
  BOOST_TEST_REQUIRE(!r.has_value());
  BOOST_TEST((r.error().code == errc::unavailable));
  BOOST_TEST(r.error().message.find("already in use") != std::string::npos);
  // The first one still serves.
  BOOST_TEST(call(f.client, R"({"v":1,"op":"ping"})")["ok"] == true);
}

BOOST_AUTO_TEST_CASE(non_loopback_tcp_is_refused_without_curve) {
  BOOST_TEST(ipc::endpoint_check("tcp://127.0.0.1:5555").has_value());
  BOOST_TEST(ipc::endpoint_check("tcp://[::1]:5555").has_value());
  auto r = ipc::endpoint_check("tcp://0.0.0.0:5555");
  BOOST_TEST_REQUIRE(!r.has_value());
  BOOST_TEST((r.error().code == errc::bad_request));
  BOOST_TEST(r.error().message.find("CURVE") != std::string::npos);
  BOOST_TEST(!ipc::endpoint_check("udp://x").has_value());
}

// ipc://@NAME is Linux's abstract namespace: no file, so the 0660 mode and the
// group are never applied and any local user could connect.
BOOST_AUTO_TEST_CASE(abstract_ipc_endpoints_are_refused) {
  const std::string ep = "ipc://@aikid-test-" + std::to_string(::getpid());
  auto r = ipc::endpoint_check(ep);
  BOOST_TEST_REQUIRE(!r.has_value());
  BOOST_TEST((r.error().code == errc::bad_request));
  BOOST_TEST(r.error().message.find("abstract") != std::string::npos);
  zmq::context_t ctx;
  ipc::ingress_options o;
  o.endpoint = ep;
  auto ing = ipc::ingress::start(ctx, o, [](std::uint64_t, wire::request&&) {}, nullptr);
  BOOST_TEST_REQUIRE(!ing.has_value());
  BOOST_TEST((ing.error().code == errc::bad_request));
  ipc::publisher_options po;
  po.endpoint = ep;
  auto pub = ipc::publisher::start(ctx, po);
  BOOST_TEST_REQUIRE(!pub.has_value());
  BOOST_TEST((pub.error().code == errc::bad_request));
  ipc::admin_options ao;
  ao.path = "@aikid-admin-test";
  auto adm = ipc::admin_server::start(ao, [](const std::string&) { return json::object(); });
  BOOST_TEST_REQUIRE(!adm.has_value());
  BOOST_TEST((adm.error().code == errc::bad_request));
}

namespace {
int free_port_v6() {
  int fd = ::socket(AF_INET6, SOCK_STREAM, 0);
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_addr = in6addr_loopback;
  socklen_t len = sizeof a;
  BOOST_REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  BOOST_REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  ::close(fd);
  return ntohs(a.sin6_port);
}

// GET PATH over a plain socket to [::1]:port; the whole answer ("" if none).
std::string http_get_v6(int port, const std::string& path) {
  int fd = ::socket(AF_INET6, SOCK_STREAM, 0);
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_addr = in6addr_loopback;
  a.sin6_port = htons(static_cast<std::uint16_t>(port));
  std::string out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    std::string req = "GET " + path + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    [[maybe_unused]] auto w = ::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
    char buf[4096];
    ssize_t n;
    while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}
}  // namespace

// What the loopback check lets through must also bind: tcp://[::1]:PORT for
// ZeroMQ (needs ZMQ_IPV6) and [::1]:PORT for /metrics (the bare address).
BOOST_AUTO_TEST_CASE(ipv6_loopback_passes_the_check_and_binds) {
  zmq::context_t ctx;
  const std::string ep = "tcp://[::1]:" + std::to_string(free_port_v6());
  BOOST_TEST_REQUIRE(ipc::endpoint_check(ep).has_value());
  std::shared_ptr<ipc::ingress> ing;
  ipc::ingress_options o;
  o.endpoint = ep;
  auto r = ipc::ingress::start(ctx, o, [&](std::uint64_t t, wire::request&&) { ing->reply_ok(t, {}); }, nullptr);
  BOOST_TEST_REQUIRE(r.has_value(), (r ? "" : r.error().message));
  ing = std::move(*r);
  zmq::socket_t client(ctx, zmq::socket_type::dealer);
  client.set(zmq::sockopt::linger, 0);
  client.set(zmq::sockopt::ipv6, 1);
  client.connect(ep);
  BOOST_TEST(call(client, R"({"v":1,"op":"ping"})")["ok"] == true);

  const int port = free_port_v6();
  const std::string listen = "[::1]:" + std::to_string(port);
  auto m = ipc::metrics_http::start(listen, [] { return std::string("aikid_up 1\n"); });
  BOOST_TEST_REQUIRE(m.has_value(), (m ? "" : m.error().message));
  auto text = http_get_v6(port, "/metrics");
  BOOST_TEST(text.find("200 OK") != std::string::npos);
  BOOST_TEST(text.find("aikid_up 1") != std::string::npos);
  (*m)->stop();
  // A host that is not loopback is still refused at the check, before any bind.
  auto bad = ipc::metrics_http::start("[::]:" + std::to_string(port), [] { return std::string(); });
  BOOST_TEST_REQUIRE(!bad.has_value());
  BOOST_TEST((bad.error().code == errc::bad_request));
}

BOOST_AUTO_TEST_CASE(publisher_stamps_boot_id_and_per_topic_seq) {
  zmq::context_t ctx;
  auto ep = tmp_endpoint("pub");
  ipc::publisher_options po;
  po.endpoint = ep;
  po.sndhwm = 1000;
  po.boot_id = "boot-1";
  auto p = ipc::publisher::start(ctx, po);
  BOOST_TEST_REQUIRE(p.has_value());
  zmq::socket_t sub(ctx, zmq::socket_type::sub);
  sub.set(zmq::sockopt::subscribe, "thought.");
  sub.connect(ep);
  // Slow joiner: publish until the subscriber sees the first message.
  std::vector<zmq::message_t> parts;
  for (int i = 0; i < 200 && parts.empty(); ++i) {
    (*p)->publish("thought.probe", {{"i", i}});
    zmq::pollitem_t it{sub.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&it, 1, std::chrono::milliseconds(10));
    if (it.revents & ZMQ_POLLIN) [[maybe_unused]] auto r = zmq::recv_multipart(sub, std::back_inserter(parts));
  }
  BOOST_TEST_REQUIRE(parts.size() == 2u);
  // Drain the rest of the probes.
  for (;;) {
    zmq::pollitem_t it{sub.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&it, 1, std::chrono::milliseconds(50));
    if (!(it.revents & ZMQ_POLLIN)) break;
    std::vector<zmq::message_t> x;
    [[maybe_unused]] auto r = zmq::recv_multipart(sub, std::back_inserter(x));
  }
  (*p)->publish("thought.final", {{"text", "a"}});
  (*p)->publish("status", {{"x", 1}});  // filtered out by the subscription
  (*p)->publish("thought.final", {{"text", "b"}});
  std::vector<json> got;
  while (got.size() < 2) {
    std::vector<zmq::message_t> x;
    [[maybe_unused]] auto r = zmq::recv_multipart(sub, std::back_inserter(x));
    BOOST_TEST(x[0].to_string() == "thought.final");
    got.push_back(json::parse(x[1].to_string()));
  }
  BOOST_TEST(got[0]["seq"] == 1);
  BOOST_TEST(got[1]["seq"] == 2);
  BOOST_TEST(got[1]["boot_id"] == "boot-1");
  BOOST_TEST(got[1]["v"] == 1);
  BOOST_TEST(got[1]["text"] == "b");
  BOOST_TEST(got[1].contains("ts"));
}
