// proactive: the clock for thoughts nobody asked for. Every proactive.tick_ms
// it tells synthesis the time, and synthesis hands out the reminders whose due
// time has come (the knowledge graph marks each due time taken, durably, so a
// reminder fires once, also across a restart). Every
// proactive.reflection_minutes it asks synthesis for a reflection over the
// recent turns. The clock can be moved with admin `debug clock UNIX_MS|real`
// (daemon.debug only), so a test sees a due time arrive without waiting.
// Owns no engine: the due times live in the graph, which synthesis owns.
#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/actor_kit.hpp"

namespace aikid {

std::vector<config::key_spec> proactive_config_keys() {
  using namespace config;
  return {
      key_bool("proactive.reminders", true, "publish a reminder thought when a relation's attrs.due arrives").is_live(),
      key_int("proactive.tick_ms", 1000, 50, 60000, "how often due times are checked (ms)").is_live(),
      key_int("proactive.reflection_minutes", 0, 0, 10080,
              "every N minutes, summarise each user's recent turns with the model and remember the summary (0 = off)")
          .is_live(),
  };
}

namespace {

struct proactive_state {
  actor_env env;
  caf::actor synthesis;
  std::int64_t offset_ms = 0;          // debug clock: proactive time = wall clock + offset
  std::int64_t next_reflection_ms = 0;  // 0 = not scheduled yet
  std::uint64_t ticks = 0, reflections = 0;
  static inline const char* name = "proactive";
};

using proactive_actor = caf::stateful_actor<proactive_state>;

std::int64_t now_of(const proactive_state& st) { return kit::unix_ms() + st.offset_ms; }

// One look at the clock: reminders due by now, and a reflection when its time has come.
void check(proactive_actor* self) {
  auto& st = self->state;
  auto now = now_of(st);
  ++st.ticks;
  if (st.env.cfg.get_bool("proactive.reminders")) self->send(st.synthesis, tick_atom_v, now);
  auto every = st.env.cfg.get_int("proactive.reflection_minutes") * 60000;
  if (every <= 0) {
    st.next_reflection_ms = 0;
    return;
  }
  if (st.next_reflection_ms == 0) st.next_reflection_ms = now + every;
  if (now >= st.next_reflection_ms) {
    ++st.reflections;
    self->send(st.synthesis, reflect_atom_v, now);
    st.next_reflection_ms = now + every;
  }
}

caf::behavior proactive_fun(proactive_actor* self, actor_env env, caf::actor synthesis) {
  self->state.env = std::move(env);
  self->state.synthesis = synthesis;
  self->send(self, tick_atom_v);
  const kit::guard_ctx guard{"proactive", self->state.env.replies, self->state.env.thoughts};
  auto basics = kit::basic_handlers(
      self,
      [=] {
        auto& st = self->state;
        return kit::json{{"ticks", st.ticks}, {"reflections", st.reflections}, {"now_ms", now_of(st)},
                         {"clock_offset_ms", st.offset_ms}};
      },
      [] { return kit::json{{"up", true}}; });
  return kit::actor_behavior(
      guard, std::move(basics),
      [=](tick_atom) {
        check(self);
        self->delayed_send(self, std::chrono::milliseconds(self->state.env.cfg.get_int("proactive.tick_ms")), tick_atom_v);
      },
      // debug clock (admin checks daemon.debug): 0 = the wall clock again; else proactive time jumps to t (unix ms) and runs on from there.
      [=](clock_atom, std::int64_t t) -> std::string {
        auto& st = self->state;
        st.offset_ms = t == 0 ? 0 : t - kit::unix_ms();
        self->send(st.synthesis, clock_atom_v, st.offset_ms);  // before the tick: reminders said after it count from here
        check(self);
        return kit::json{{"ok", true}, {"now_ms", now_of(st)}, {"offset_ms", st.offset_ms}}.dump();
      });
}

}  // namespace

caf::actor spawn_proactive(caf::actor_system& sys, const actor_env& env, caf::actor synthesis) {
  return sys.spawn(proactive_fun, env, synthesis);
}

}  // namespace aikid
