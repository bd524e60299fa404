// hnsw_search: the HNSW graph walk (Malkov & Yashunin 2016, algorithms 2
// and 5) over the graph FAISS built, with our kernels and prefetching.
//
// Why not FAISS's own search: Debian 12's FAISS 1.7.3 keeps only k results
// while it walks level 0 and stops on a count of candidates ("n_dis_below"),
// which at the same efSearch recalls less than the textbook walk (on the
// clustered 100k set, M=32/efC=200, ef 16: 0.932 against 0.960 for the very
// same graph searched by faiss-cpu 1.15's and hnswlib's walk), and it loads
// each neighbour's vector only when it reaches it (38 % of search time was
// spent waiting on those loads). FAISS still builds, stores and saves the
// graph; this file only reads it.
//
//   upper levels  greedy: move to the best neighbour while one is better
//   level 0       candidates (best first) and results (the ef best admitted);
//                 stop when the best candidate is worse than the worst result
//                 and results are full. Rows that fail `admit` (tombstones,
//                 filtered out) are walked through but never returned.
#include <faiss/impl/HNSW.h>

#include <algorithm>

#include "actors/memory/memory_internal.hpp"

namespace aikid::memory {

// ---- visited rows ---------------------------------------------------------

void visited_table::begin(std::size_t rows) {
  if (mark_.size() < rows) {
    mark_.assign(rows, 0);
    epoch_ = 0;
  }
  if (++epoch_ == 0) {  // wrapped: clear the marks once every 65,535 searches
    std::fill(mark_.begin(), mark_.end(), 0);
    epoch_ = 1;
  }
}

std::unique_ptr<visited_table> visited_pool::take() {
  std::lock_guard lk(mu_);
  if (free_.empty()) return std::make_unique<visited_table>();
  auto t = std::move(free_.back());
  free_.pop_back();
  return t;
}

void visited_pool::give(std::unique_ptr<visited_table> t) {
  std::lock_guard lk(mu_);
  free_.push_back(std::move(t));
}

// ---- the walk -------------------------------------------------------------

namespace {

struct scored {
  float score;
  std::int32_t row;
};
// candidates: a max-heap on score (front = best); results: a min-heap (front = worst)
bool cand_less(const scored& a, const scored& b) { return a.score < b.score; }
bool res_less(const scored& a, const scored& b) { return a.score > b.score; }

}  // namespace

void hnsw_search(const faiss::HNSW& g, const float* xb, int dim, const float* q, int ef,
                 const row_admit& admit, visited_table& vt, std::vector<std::pair<std::int32_t, float>>& out) {
  out.clear();
  const std::size_t rows = g.levels.size();
  if (rows == 0 || g.entry_point < 0) return;
  auto row_of = [&](std::int32_t r) { return xb + static_cast<std::size_t>(r) * dim; };

  // upper levels: greedy descent to the entry of level 0
  std::int32_t cur = g.entry_point;
  float cur_s = vec_dot(q, row_of(cur), dim);
  for (int level = g.max_level; level > 0; --level) {
    for (bool moved = true; moved;) {
      moved = false;
      std::size_t b, e;
      g.neighbor_range(cur, level, &b, &e);
      for (std::size_t i = b; i < e; ++i) {
        const std::int32_t v = g.neighbors[i];
        if (v < 0) break;
        const float s = vec_dot(q, row_of(v), dim);
        if (s > cur_s) {
          cur_s = s;
          cur = v;
          moved = true;
        }
      }
    }
  }

  // level 0: best-first search with ef results
  vt.begin(rows);
  std::vector<scored> cand, res;
  cand.reserve(static_cast<std::size_t>(ef) * 4);
  res.reserve(static_cast<std::size_t>(ef) + 1);
  vt.test_and_set(cur);
  cand.push_back({cur_s, cur});
  if (admit(cur)) res.push_back({cur_s, cur});
  float worst = res.empty() ? -1e30f : cur_s;
  const std::size_t full = static_cast<std::size_t>(ef);
  std::vector<std::int32_t> fresh(static_cast<std::size_t>(g.nb_neighbors(0)));
  while (!cand.empty()) {
    const scored c = cand.front();
    if (res.size() >= full && c.score < worst) break;
    std::pop_heap(cand.begin(), cand.end(), cand_less);
    cand.pop_back();
    std::size_t b, e;
    g.neighbor_range(c.row, 0, &b, &e);
    std::size_t nf = 0;
    for (std::size_t i = b; i < e; ++i) {
      const std::int32_t v = g.neighbors[i];
      if (v < 0) break;
      if (!vt.test_and_set(v)) {
        fresh[nf++] = v;
        // the first line of each new neighbour now, all of them before the
        // first dot product; the hardware streams the rest of each row
        // (prefetching whole rows ahead measured no faster)
        __builtin_prefetch(row_of(v));
      }
    }
    for (std::size_t j = 0; j < nf; ++j) {
      const std::int32_t v = fresh[j];
      const float s = vec_dot(q, row_of(v), dim);
      if (res.size() >= full && s <= worst) continue;
      cand.push_back({s, v});
      std::push_heap(cand.begin(), cand.end(), cand_less);
      if (!admit(v)) continue;
      res.push_back({s, v});
      std::push_heap(res.begin(), res.end(), res_less);
      if (res.size() > full) {
        std::pop_heap(res.begin(), res.end(), res_less);
        res.pop_back();
      }
      worst = res.front().score;
    }
  }
  std::sort(res.begin(), res.end(), [](const scored& a, const scored& b) { return a.score > b.score; });
  out.reserve(res.size());
  for (const scored& r : res) out.emplace_back(r.row, r.score);
}

}  // namespace aikid::memory
