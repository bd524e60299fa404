// Entity linker: one Aho–Corasick automaton over every entity name and alias.
#include <algorithm>
#include "actors/synthesis/internal.hpp"
#include "actors/synthesis/synthesis.hpp"

namespace aikid::synthesis {

struct linker {
  detail::ac_automaton ac;
  // pattern id → (entity id, canonical name) — several when an alias is shared
  std::vector<std::vector<std::pair<std::int64_t, std::string>>> targets;
  std::uint64_t generation = 0;
};

void linker_closer::operator()(linker* l) const noexcept { delete l; }

linker_ptr linker_build(const kg& g) {
  linker_ptr l(new linker);
  l->generation = kg_stats_get(g).generation;
  detail::kg_for_each_name(g, [&](std::int64_t id, const std::string& text, const std::string& name) {
    const auto key = detail::text_key(text);
    if (key.empty()) return;
    const auto p = l->ac.add(key);
    if (p >= l->targets.size()) l->targets.resize(p + 1);
    auto& t = l->targets[p];
    for (const auto& [eid, n] : t)
      if (eid == id) return;
    t.emplace_back(id, name);
  });
  l->ac.build();
  // Deterministic order when an alias is shared.
  for (auto& t : l->targets) std::sort(t.begin(), t.end());
  return l;
}

std::uint64_t linker_generation(const linker& l) { return l.generation; }

std::vector<link> linker_find(const linker& l, std::string_view text) {
  thread_local std::vector<detail::folded_cp> stream;
  thread_local std::vector<detail::ac_automaton::hit> hits;
  detail::text_fold_stream(text, stream);
  l.ac.find(stream, hits, false);
  std::vector<link> out;
  out.reserve(hits.size());
  for (const auto& h : hits) {
    for (const auto& [id, name] : l.targets[h.pattern]) out.push_back(link{h.begin, h.end, id, name});
  }
  return out;
}

}  // namespace aikid::synthesis
