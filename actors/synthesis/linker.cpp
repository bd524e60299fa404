// Entity linker: one Aho–Corasick automaton over every entity name and alias,
// of every scope; linker_find keeps the links a user may see.
//
// Table of contents
//   struct linker        the automaton, pattern → targets (entity, name, scope)
//   linker_build         from kg_for_each_name
//   linker_find          all whole-word hits → visible ones → leftmost-longest
#include <algorithm>
#include <tuple>
#include "actors/synthesis/internal.hpp"
#include "actors/synthesis/synthesis.hpp"

namespace aikid::synthesis {

struct linker {
  struct target {
    std::int64_t id;
    std::string name, user;  // canonical name, scope ("" = shared)
  };
  detail::ac_automaton ac;
  // pattern id → targets — several when an alias or a name is shared
  std::vector<std::vector<target>> targets;
  bool scoped = false;  // some target is a user's (else every link is visible to everyone)
  std::uint64_t generation = 0;
};

void linker_closer::operator()(linker* l) const noexcept { delete l; }

linker_ptr linker_build(const kg& g) {
  linker_ptr l(new linker);
  l->generation = kg_stats_get(g).generation;
  detail::kg_for_each_name(g, [&](std::int64_t id, const std::string& text, const std::string& name,
                                  const std::string& user) {
    const auto key = detail::text_key(text);
    if (key.empty()) return;
    const auto p = l->ac.add(key);
    if (p >= l->targets.size()) l->targets.resize(p + 1);
    auto& t = l->targets[p];
    for (const auto& x : t)
      if (x.id == id) return;
    t.push_back({id, name, user});
    if (!user.empty()) l->scoped = true;
  });
  l->ac.build();
  // Deterministic order when an alias is shared.
  for (auto& t : l->targets)
    std::sort(t.begin(), t.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  return l;
}

std::uint64_t linker_generation(const linker& l) { return l.generation; }

std::vector<link> linker_find(const linker& l, std::string_view text, std::string_view user) {
  thread_local std::vector<detail::folded_cp> stream;
  thread_local std::vector<detail::ac_automaton::hit> hits;
  detail::text_fold_stream(text, stream);
  auto visible = [&](const linker::target& t) { return t.user.empty() || t.user == user; };
  if (!l.scoped) {
    l.ac.find(stream, hits, false);
  } else {
    // Every whole-word hit, those with a visible target, then leftmost-longest
    // among them (as ac_automaton::find does): another user's longer name
    // must not hide this user's shorter one.
    l.ac.find(stream, hits, true);
    hits.erase(std::remove_if(hits.begin(), hits.end(),
                              [&](const auto& h) {
                                const auto& ts = l.targets[h.pattern];
                                return std::none_of(ts.begin(), ts.end(), visible);
                              }),
               hits.end());
    std::sort(hits.begin(), hits.end(), [](const auto& a, const auto& b) {
      return std::tie(a.begin, b.end) < std::tie(b.begin, a.end);
    });
    std::size_t w = 0;
    std::uint32_t covered = 0;
    for (std::size_t i = 0; i < hits.size(); ++i) {
      if (w > 0 && hits[i].begin < covered) continue;
      covered = hits[i].end;
      hits[w++] = hits[i];
    }
    hits.resize(w);
  }
  std::vector<link> out;
  out.reserve(hits.size());
  for (const auto& h : hits) {
    for (const auto& t : l.targets[h.pattern])
      if (visible(t)) out.push_back(link{h.begin, h.end, t.id, t.name, t.user});
  }
  return out;
}

}  // namespace aikid::synthesis
