// kit::guarded_behavior (actors/actor_kit.hpp): an exception thrown inside
// one message's handler answers that message (`internal` to a request, a
// thought.final with the error to a percept, an admin error line to a
// string-returning handler) and the actor serves the next message. Without
// the guard, CAF 0.17 ends the actor. Driven by scoped actors that wait for
// each answer: no sleeps.
#define BOOST_TEST_MODULE guarded_handlers
#include <boost/test/unit_test.hpp>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>

#include <condition_variable>
#include <mutex>
#include <stdexcept>

#include "actors/actor_kit.hpp"

using namespace aikid;
using json = nlohmann::json;

namespace {

struct replies final : reply_sink {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::pair<std::uint64_t, json>> got;  // errors as {"error":{code,message}}
  void reply_ok(std::uint64_t t, json f) override { put(t, std::move(f)); }
  void reply_error(std::uint64_t t, error e) override {
    put(t, json{{"error", {{"code", errc_name(e.code)}, {"message", e.message}}}});
  }
  void put(std::uint64_t t, json j) {
    std::lock_guard<std::mutex> g(mu);
    got.emplace_back(t, std::move(j));
    cv.notify_all();
  }
  json wait_for(std::uint64_t t) {
    std::unique_lock<std::mutex> g(mu);
    cv.wait_for(g, std::chrono::seconds(10), [&] {
      for (auto& [k, v] : got)
        if (k == t) return true;
      return false;
    });
    for (auto& [k, v] : got)
      if (k == t) return v;
    return nullptr;
  }
};

struct thoughts final : thought_sink {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::pair<std::string, json>> got;
  void publish(std::string topic, json body) override {
    std::lock_guard<std::mutex> g(mu);
    got.emplace_back(std::move(topic), std::move(body));
    cv.notify_all();
  }
  json wait_final() {
    std::unique_lock<std::mutex> g(mu);
    cv.wait_for(g, std::chrono::seconds(10), [&] { return !got.empty(); });
    return got.empty() ? json() : got.front().second;
  }
};

struct cfg_t : caf::actor_system_config {
  cfg_t() { add_message_types<caf::id_block::aikid>(); }
};

// Throws on a request whose op is "boom", on any percept, and on stats;
// answers everything else.
caf::behavior thrower(caf::event_based_actor*, std::shared_ptr<replies> out, std::shared_ptr<thoughts> th) {
  const kit::guard_ctx guard{"thrower", out, th};
  return kit::guarded_behavior(
      guard,
      [=](request_msg& r) {
        if (r.op == "boom") throw std::runtime_error("boom on purpose");
        out->reply_ok(r.ticket, json{{"served", r.op}});
      },
      [=](percept_msg&) { throw std::out_of_range("no such key"); },
      [=](stats_atom) -> std::string { throw std::logic_error("stats broke"); },
      [=](health_atom) { return std::string("{\"up\":true}"); });
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_throwing_handler_answers_internal_and_the_actor_serves_on) {
  cfg_t cfg;
  caf::actor_system sys{cfg};
  auto out = std::make_shared<replies>();
  auto th = std::make_shared<thoughts>();
  auto a = sys.spawn(thrower, out, th);

  request_msg boom;
  boom.ticket = 1;
  boom.op = "boom";
  caf::anon_send(a, boom);
  const json e = out->wait_for(1);
  BOOST_REQUIRE(e.is_object());
  BOOST_TEST(e["error"]["code"] == "internal");
  BOOST_TEST(e["error"]["message"] == "thrower: boom on purpose");

  // the same actor serves the next request
  request_msg ok;
  ok.ticket = 2;
  ok.op = "fine";
  caf::anon_send(a, ok);
  const json r = out->wait_for(2);
  BOOST_REQUIRE(r.is_object());
  BOOST_TEST(r["served"] == "fine");

  // a percept whose handler throws still gets its one thought.final
  percept_msg p;
  p.percept_id = "p-1";
  p.user = "kari";
  caf::anon_send(a, p);
  const json f = th->wait_final();
  BOOST_REQUIRE(f.is_object());
  BOOST_TEST(f["percept_id"] == "p-1");
  BOOST_TEST(f["user"] == "kari");
  BOOST_TEST(f["error"]["code"] == "internal");
  BOOST_TEST(f["error"]["message"] == "thrower: no such key");

  // a string-returning handler (stats, admin) answers an admin error line
  caf::scoped_actor self{sys};
  std::string line;
  self->request(a, std::chrono::seconds(10), stats_atom_v)
      .receive([&](const std::string& s) { line = s; }, [&](caf::error& err) { line = sys.render(err); });
  const json j = json::parse(line, nullptr, false);
  BOOST_REQUIRE(j.is_object());
  BOOST_TEST(j["ok"] == false);
  BOOST_TEST(j["error"]["code"] == "internal");

  // and it is still alive after all three
  std::string health;
  self->request(a, std::chrono::seconds(10), health_atom_v)
      .receive([&](const std::string& s) { health = s; }, [&](caf::error& err) { health = sys.render(err); });
  BOOST_TEST(health == "{\"up\":true}");
  caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
}
