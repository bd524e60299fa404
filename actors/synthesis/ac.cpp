// Aho–Corasick automaton over case-folded codepoints: one pass over a text
// finds every pattern; whole words only; leftmost-longest selection.
#include <algorithm>
#include <deque>
#include <unordered_map>

#include "actors/synthesis/internal.hpp"

namespace aikid::synthesis::detail {

std::uint32_t ac_automaton::add(std::string_view key) {
  if (nodes_.empty()) {
    nodes_.emplace_back();
    build_edges_.emplace_back();
  }
  std::vector<folded_cp> st;
  text_fold_stream(key, st);
  std::uint32_t n = 0;
  for (const auto& f : st) {
    auto& es = build_edges_[n];
    auto it = std::lower_bound(es.begin(), es.end(), f.cp,
                               [](const edge& e, char32_t c) { return e.cp < c; });
    if (it != es.end() && it->cp == f.cp) {
      n = it->to;
      continue;
    }
    auto to = static_cast<std::uint32_t>(nodes_.size());
    es.insert(it, edge{f.cp, to});
    nodes_.emplace_back();
    build_edges_.emplace_back();
    n = to;
  }
  if (nodes_[n].out >= 0) return static_cast<std::uint32_t>(nodes_[n].out);
  auto id = static_cast<std::uint32_t>(plen_.size());
  nodes_[n].out = static_cast<std::int32_t>(id);
  plen_.push_back(static_cast<std::uint32_t>(st.size()));
  built_ = false;
  return id;
}

void ac_automaton::build() {
  if (nodes_.empty()) {
    nodes_.emplace_back();
    build_edges_.emplace_back();
  }
  // Flatten edges (each node's edges are already sorted by codepoint).
  edges_.clear();
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    nodes_[i].edge_begin = static_cast<std::uint32_t>(edges_.size());
    edges_.insert(edges_.end(), build_edges_[i].begin(), build_edges_[i].end());
    nodes_[i].edge_end = static_cast<std::uint32_t>(edges_.size());
  }
  // Breadth first: fail links and dictionary links.
  std::deque<std::uint32_t> q;
  for (auto e = nodes_[0].edge_begin; e < nodes_[0].edge_end; ++e) {
    auto c = edges_[e].to;
    nodes_[c].fail = 0;
    nodes_[c].dict = 0;
    q.push_back(c);
  }
  while (!q.empty()) {
    auto u = q.front();
    q.pop_front();
    for (auto e = nodes_[u].edge_begin; e < nodes_[u].edge_end; ++e) {
      auto [cp, v] = edges_[e];
      auto f = nodes_[u].fail;
      std::uint32_t target = 0;
      for (;;) {
        auto c = child(f, cp);
        if (c != 0) {
          target = c;
          break;
        }
        if (f == 0) break;
        f = nodes_[f].fail;
      }
      nodes_[v].fail = target;
      nodes_[v].dict = nodes_[target].out >= 0 ? target : nodes_[target].dict;
      q.push_back(v);
    }
  }
  build_edges_.clear();
  build_edges_.shrink_to_fit();
  built_ = true;
}

std::uint32_t ac_automaton::child(std::uint32_t n, char32_t cp) const {
  const edge* b = edges_.data() + nodes_[n].edge_begin;
  const edge* e = edges_.data() + nodes_[n].edge_end;
  if (e - b <= 8) {
    for (; b != e; ++b)
      if (b->cp == cp) return b->to;
    return 0;
  }
  auto it = std::lower_bound(b, e, cp, [](const edge& x, char32_t c) { return x.cp < c; });
  return (it != e && it->cp == cp) ? it->to : 0;
}

void ac_automaton::find(const std::vector<folded_cp>& st, std::vector<hit>& out, bool all) const {
  out.clear();
  if (!built_ || nodes_.empty() || plen_.empty()) return;
  std::uint32_t s = 0;
  const std::size_t n = st.size();
  for (std::size_t j = 0; j < n; ++j) {
    const char32_t cp = st[j].cp;
    for (;;) {
      auto c = child(s, cp);
      if (c != 0) {
        s = c;
        break;
      }
      if (s == 0) break;
      s = nodes_[s].fail;
    }
    for (std::uint32_t o = nodes_[s].out >= 0 ? s : nodes_[s].dict; o != 0; o = nodes_[o].dict) {
      const auto pat = static_cast<std::uint32_t>(nodes_[o].out);
      const std::size_t len = plen_[pat];
      const std::size_t start = j + 1 - len;
      if (!st[start].first || !st[j].last) continue;  // inside one folded codepoint
      if (st[start].word && start > 0 && st[start - 1].word) continue;
      if (st[j].word && j + 1 < n && st[j + 1].word) continue;
      out.push_back({pat, st[start].begin, st[j].end});
    }
  }
  if (all || out.size() < 2) return;
  std::sort(out.begin(), out.end(), [](const hit& a, const hit& b) {
    if (a.begin != b.begin) return a.begin < b.begin;
    return a.end > b.end;
  });
  std::size_t w = 0;
  std::uint32_t covered = 0;
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (w > 0 && out[i].begin < covered) continue;
    covered = out[i].end;
    out[w++] = out[i];
  }
  out.resize(w);
}

}  // namespace aikid::synthesis::detail
