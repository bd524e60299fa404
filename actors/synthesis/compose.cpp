// Compose: one percept → link entities → match a template → render it, or
// build the prompt for the model.
#include <algorithm>

#include "actors/synthesis/synthesis.hpp"

namespace aikid::synthesis {

expected<composition> synthesis_compose(const compose_env& env, const compose_request& req,
                                        const compose_settings& st) {
  composition out;
  // 1. Entities in the text, with their facts.
  std::vector<linked_entity> linked;
  if (env.links && env.graph) {
    out.links = linker_find(*env.links, req.text, req.user);
    std::vector<std::int64_t> seen;
    for (const auto& l : out.links) {
      if (linked.size() >= st.max_linked_entities) break;
      auto e = kg_find(*env.graph, l.name, req.user);
      if (!e) continue;  // deleted since the linker was built
      // a name in both the user's and the shared graph links twice: one entity, whose query has both
      if (std::find(seen.begin(), seen.end(), e->id) != seen.end()) continue;
      seen.push_back(e->id);
      auto facts = kg_query(*env.graph, l.name, std::clamp(st.fact_depth, 1, 3), req.user);
      linked_entity le{std::move(*e), facts ? std::move(*facts) : std::vector<fact>{}};
      if (le.facts.size() > st.max_facts_per_entity) le.facts.resize(st.max_facts_per_entity);
      if (env.say)
        for (auto& f : le.facts) f.said = env.say(f);
      linked.push_back(std::move(le));
    }
  }
  // 2. What is due today, in the configured zone.
  std::vector<fact> due;
  if (env.graph && env.tz) {
    auto lt = zone_local(*env.tz, req.now_ms);
    due = kg_due(*env.graph, lt.day_start_ms, lt.day_end_ms, req.user);
    if (env.say)
      for (auto& f : due) f.said = env.say(f);
  }
  std::vector<turn> recent;
  if (env.conversation) recent = turns_recent(*env.conversation, req.user);

  // 3. A template?
  if (env.templates) {
    auto m = templates_match(*env.templates, req.text, req.vector, st.match);
    if (!m) return m.error();
    out.match = *m;
    if (m->index >= 0) {
      render_input in;
      in.text = req.text;
      in.user = req.user;
      in.entities = linked;
      in.memories = req.memories;
      in.turns = recent;
      in.due = due;
      in.tz = env.tz;
      in.now_ms = req.now_ms;
      in.status = req.status;
      auto r = template_render(*env.templates, static_cast<std::size_t>(m->index), in);
      if (!r) return r.error();
      out.source = "template:" + templates_get(*env.templates, static_cast<std::size_t>(m->index)).name;
      for (const auto& mem : req.memories) out.memory_ids.push_back(mem.id);
      if (r->mode == template_mode::answer) {
        out.answered = true;
        out.text = std::move(r->text);
      } else {
        out.messages.push_back({"system", std::move(r->system)});
        out.messages.push_back({"user", std::move(r->user)});
      }
      return out;
    }
  }
  // 4. No template: the prompt for the model.
  std::vector<fact> facts;
  for (const auto& le : linked) facts.insert(facts.end(), le.facts.begin(), le.facts.end());
  prompt_input pin;
  pin.system_prompt = st.system_prompt;
  pin.user_text = req.text;
  // Only memories relevant enough, and only the most recent turns: the small
  // model copies whatever earlier answers and stray memories it is shown.
  std::vector<memory_hit> mems;
  for (const auto& m : req.memories)  // a question the user asked before tells the model nothing (it repeats it)
    if (m.score >= st.memory_min_score && m.text.find('?') == std::string::npos) mems.push_back(m);
  std::span<const turn> turns_in(recent);
  if (turns_in.size() > st.prompt_turns) turns_in = turns_in.last(st.prompt_turns);
  pin.memories = mems;
  pin.facts = facts;
  pin.turns = turns_in;

  auto p = prompt_build(pin, st.budget, env.count_tokens);
  if (!p) return p.error();
  out.messages = std::move(p->messages);
  out.memory_ids = std::move(p->memory_ids);
  out.source = "llm";
  return out;
}

}  // namespace aikid::synthesis
