// The perception actor in a real actor system, driven by messages: its
// neighbours (embedder, memory) are played by the test, so every step is
// observed, not slept on.
#define BOOST_TEST_MODULE perception_actor
#include <boost/test/unit_test.hpp>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>

#include <mutex>

#include "actors/actors.hpp"
#include "actors/messages.hpp"

using namespace aikid;
using json = nlohmann::json;

namespace aikid {
caf::actor spawn_perception(caf::actor_system&, const actor_env&, caf::actor embedder, caf::actor memory);
}

namespace {

struct replies final : reply_sink {
  std::mutex mu;
  std::vector<std::pair<std::uint64_t, json>> got;  // error replies as {"error":{code,message}}
  void reply_ok(std::uint64_t t, json f) override {
    std::lock_guard<std::mutex> g(mu);
    got.emplace_back(t, std::move(f));
  }
  void reply_error(std::uint64_t t, error e) override {
    std::lock_guard<std::mutex> g(mu);
    got.emplace_back(t, json{{"error", {{"code", errc_name(e.code)}, {"message", e.message}}}});
  }
  json of(std::uint64_t t) {
    std::lock_guard<std::mutex> g(mu);
    for (auto& [k, v] : got)
      if (k == t) return v;
    return nullptr;
  }
};

struct thoughts final : thought_sink {
  void publish(std::string, json) override {}
};

caf::behavior fake_embedder(caf::event_based_actor*, std::size_t dim) {
  return {[dim](embed_atom, const std::vector<std::string>& texts) {
    return caf::make_message(std::vector<float>(dim * texts.size(), 0.5f), std::string("fake-model"));
  }};
}

struct cfg_t : caf::actor_system_config {
  cfg_t() { add_message_types<caf::id_block::aikid>(); }
};

struct fixture {
  cfg_t cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor memory{sys};  // plays the memory actor
  std::shared_ptr<replies> out = std::make_shared<replies>();
  caf::actor perception;

  fixture() {
    actor_env env;
    env.replies = out;
    env.thoughts = std::make_shared<thoughts>();
    env.cfg = config::config_load_defaults();
    perception = spawn_perception(sys, env, sys.spawn(fake_embedder, std::size_t{4}), memory);
  }

  request_msg perceive(std::uint64_t ticket, json body) {
    body["v"] = 1;
    body["op"] = "perceive";
    return request_msg{ticket, "perceive", "id" + std::to_string(ticket), body.dump(), 0,
                       std::make_shared<const json>(body)};
  }

  // The next percept that reaches "memory" (perception hands one on per
  // accepted percept).
  std::optional<percept_msg> next_percept(std::chrono::milliseconds within = std::chrono::seconds(10)) {
    std::optional<percept_msg> p;
    memory->receive([&](percept_msg& x) { p = std::move(x); }, caf::after(within) >> [] {});
    return p;
  }
};

}  // namespace

BOOST_FIXTURE_TEST_CASE(a_percept_is_normalised_embedded_and_handed_to_memory, fixture) {
  // "ö" decomposed (o + U+0308), runs of white space around and inside.
  memory->send(perception, perceive(1, {{"text", "  Hello \t w\x6f\xcc\x88rld \n"}, {"user", "kari"}}));
  auto p = next_percept();
  BOOST_TEST_REQUIRE(p.has_value());
  BOOST_TEST(p->text == "Hello w\xc3\xb6rld");  // NFC, one space, trimmed
  BOOST_TEST(p->user == "kari");
  BOOST_TEST(p->source == "user");
  BOOST_TEST(p->request_id == "id1");
  BOOST_TEST(p->vec.size() == 4u);
  BOOST_TEST(p->embed_model == "fake-model");
  BOOST_TEST_REQUIRE(p->stage_names.size() == 2u);
  BOOST_TEST(p->stage_names[0] == "perceive");
  BOOST_TEST(p->stage_names[1] == "embed");
  // The client was answered with the same percept id.
  BOOST_TEST(out->of(1)["percept_id"] == p->percept_id);
}

BOOST_FIXTURE_TEST_CASE(a_repeat_within_the_window_is_answered_but_not_handed_on, fixture) {
  memory->send(perception, perceive(1, {{"text", "same"}, {"user", "u"}}));
  auto first = next_percept();
  BOOST_TEST_REQUIRE(first.has_value());
  memory->send(perception, perceive(2, {{"text", "same"}, {"user", "u"}}));
  memory->send(perception, perceive(3, {{"text", "same"}, {"user", "other user"}}));
  auto next = next_percept();
  BOOST_TEST_REQUIRE(next.has_value());
  BOOST_TEST(next->user == "other user");  // the repeat (ticket 2) was not handed on
  BOOST_TEST(out->of(2)["duplicate"] == true);
  BOOST_TEST(out->of(2)["percept_id"] == first->percept_id);
}

BOOST_FIXTURE_TEST_CASE(bad_percepts_get_specific_errors, fixture) {
  memory->send(perception, perceive(1, {{"text", 5}}));
  memory->send(perception, perceive(2, {{"user", "x"}}));
  memory->send(perception, perceive(3, {{"text", " \n\t "}}));
  memory->send(perception, perceive(4, {{"text", std::string(20000, 'a')}}));
  memory->send(perception, perceive(5, {{"text", "ok"}, {"meta", "not an object"}}));
  // A good percept after them still flows.
  memory->send(perception, perceive(6, {{"text", "still alive"}}));
  auto p = next_percept();
  BOOST_TEST_REQUIRE(p.has_value());
  BOOST_TEST(p->text == "still alive");
  BOOST_TEST(out->of(1)["error"]["message"] == "text: must be a string");
  BOOST_TEST(out->of(2)["error"]["message"] == "text: missing");
  BOOST_TEST(out->of(3)["error"]["code"] == "bad_request");
  BOOST_TEST(out->of(4)["error"]["code"] == "too_large");
  BOOST_TEST(out->of(5)["error"]["message"] == "meta: must be an object");
}

BOOST_FIXTURE_TEST_CASE(tunables_apply_live, fixture) {
  std::string ack = "unset";
  memory->request(perception, std::chrono::seconds(5), tunables_msg{{"perception.max_text_bytes"}, {"10"}})
      .receive([&](const std::string& s) { ack = s; }, [&](caf::error&) {});
  BOOST_TEST(ack.empty());
  memory->send(perception, perceive(1, {{"text", "this is longer than ten bytes"}}));
  memory->send(perception, perceive(2, {{"text", "short"}}));
  auto p = next_percept();
  BOOST_TEST_REQUIRE(p.has_value());
  BOOST_TEST(p->text == "short");
  BOOST_TEST(out->of(1)["error"]["code"] == "too_large");
}

BOOST_FIXTURE_TEST_CASE(stats_and_health_answer, fixture) {
  std::string stats;
  memory->request(perception, std::chrono::seconds(5), stats_atom_v)
      .receive([&](const std::string& s) { stats = s; }, [&](caf::error&) {});
  BOOST_TEST(json::parse(stats).contains("perceive"));
  std::string health;  // also the watchdog's heartbeat
  memory->request(perception, std::chrono::seconds(5), health_atom_v)
      .receive([&](const std::string& s) { health = s; }, [&](caf::error&) {});
  BOOST_TEST(json::parse(health).value("up", false));
}

// An embedder that never answers until told: percepts pile up in perception.
caf::behavior slow_embedder(caf::event_based_actor* self, std::size_t) {
  return {[self](embed_atom, const std::vector<std::string>&) -> caf::result<std::vector<float>, std::string> {
    return self->make_response_promise<std::vector<float>, std::string>();  // never delivered
  }};
}

BOOST_AUTO_TEST_CASE(busy_when_too_many_percepts_wait_for_the_embedder) {
  cfg_t cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor memory{sys};
  auto out = std::make_shared<replies>();
  actor_env env;
  env.replies = out;
  env.thoughts = std::make_shared<thoughts>();
  env.cfg = config::config_load_defaults();
  env.cfg.set("perception.max_pending", std::int64_t{2});
  env.cfg.set("perception.embed_timeout_ms", std::int64_t{60000});
  auto p = spawn_perception(sys, env, sys.spawn(slow_embedder, std::size_t{4}), memory);
  for (std::uint64_t t = 1; t <= 3; ++t) {
    json body = {{"v", 1}, {"op", "perceive"}, {"text", "text " + std::to_string(t)}};
    memory->send(p, request_msg{t, "perceive", "x", body.dump(), 0, std::make_shared<const json>(body)});
  }
  std::string stats;
  memory->request(p, std::chrono::seconds(5), stats_atom_v).receive([&](const std::string& s) { stats = s; },
                                                                     [&](caf::error&) {});
  BOOST_TEST(json::parse(stats)["pending"] == 2);
  BOOST_TEST(out->of(1).contains("percept_id"));
  BOOST_TEST(out->of(2).contains("percept_id"));
  BOOST_TEST(out->of(3)["error"]["code"] == "busy");
  caf::anon_send_exit(p, caf::exit_reason::user_shutdown);
}
