// hnsw_search, the walk over a graph FAISS built: exact at full ef, never
// returns a row that is not admitted, recalls at least what FAISS's own
// search recalls on the same graph at the same ef, and keeps giving the same
// answer after its visited marks wrap around.
#define BOOST_TEST_MODULE memory_hnsw
#include <boost/test/unit_test.hpp>

#include <faiss/IndexHNSW.h>

#include <algorithm>
#include <set>

#include "actors/memory/memory_internal.hpp"
#include "memory_test_util.hpp"

using namespace aikid::memory;

namespace {

struct graph {
  int dim;
  std::vector<float> xb;  // [n, dim] unit rows
  std::unique_ptr<faiss::IndexHNSWFlat> index;
  std::vector<std::uint8_t> dead;
  std::vector<std::int64_t> ids;  // row → id (= row + 1000)
  std::vector<std::vector<float>> centres;
  std::size_t n() const { return dead.size(); }
  const float* row(std::size_t r) const { return xb.data() + r * dim; }
};

graph graph_make(std::mt19937& g, int n, int dim, int M, int efc) {
  graph out{dim, {}, std::make_unique<faiss::IndexHNSWFlat>(dim, M, faiss::METRIC_INNER_PRODUCT), {}, {}, {}};
  for (int c = 0; c < 40; ++c) out.centres.push_back(memtest::random_vec(g, dim));
  for (int i = 0; i < n; ++i) {
    auto v = memtest::clustered_vec(g, out.centres, 0.08f);
    out.xb.insert(out.xb.end(), v.begin(), v.end());
    out.ids.push_back(1000 + i);
  }
  out.dead.assign(n, 0);
  out.index->hnsw.efConstruction = efc;
  out.index->add(n, out.xb.data());
  return out;
}

// Brute-force top k rows (score desc) among admitted rows.
std::vector<std::int32_t> brute(const graph& gr, const float* q, int k, const row_admit& admit) {
  std::vector<std::pair<float, std::int32_t>> all;
  for (std::size_t r = 0; r < gr.n(); ++r)
    if (admit(static_cast<std::int32_t>(r)))
      all.emplace_back(vec_dot(q, gr.row(r), gr.dim), static_cast<std::int32_t>(r));
  std::partial_sort(all.begin(), all.begin() + k, all.end(), [](auto& a, auto& b) { return a.first > b.first; });
  std::vector<std::int32_t> rows;
  for (int i = 0; i < k; ++i) rows.push_back(all[i].second);
  return rows;
}

std::vector<std::int32_t> walk(const graph& gr, const float* q, int k, int ef, const row_admit& admit,
                               visited_table& vt) {
  std::vector<std::pair<std::int32_t, float>> out;
  hnsw_search(gr.index->hnsw, gr.xb.data(), gr.dim, q, ef, admit, vt, out);
  BOOST_REQUIRE(out.size() >= static_cast<std::size_t>(k));
  for (std::size_t i = 1; i < out.size(); ++i) BOOST_REQUIRE(out[i - 1].second >= out[i].second);
  std::vector<std::int32_t> rows;
  for (int i = 0; i < k; ++i) rows.push_back(out[i].first);
  return rows;
}

}  // namespace

BOOST_AUTO_TEST_CASE(full_ef_is_exact) {
  std::mt19937 g(3);
  auto gr = graph_make(g, 3000, 32, 16, 64);
  const row_admit all{gr.dead.data(), gr.ids.data(), nullptr};
  visited_table vt;
  for (int i = 0; i < 20; ++i) {
    auto q = memtest::random_vec(g, gr.dim);
    BOOST_TEST(walk(gr, q.data(), 10, 3000, all, vt) == brute(gr, q.data(), 10, all));
  }
}

BOOST_AUTO_TEST_CASE(rows_not_admitted_are_walked_through_but_never_returned) {
  std::mt19937 g(4);
  auto gr = graph_make(g, 3000, 32, 16, 64);
  for (std::size_t r = 0; r < gr.n(); r += 3) gr.dead[r] = 1;  // tombstones
  const std::function<bool(std::int64_t)> odd = [](std::int64_t id) { return id % 2 == 1; };
  const row_admit admit{gr.dead.data(), gr.ids.data(), &odd};
  visited_table vt;
  for (int i = 0; i < 20; ++i) {
    auto q = memtest::random_vec(g, gr.dim);
    std::vector<std::pair<std::int32_t, float>> out;
    hnsw_search(gr.index->hnsw, gr.xb.data(), gr.dim, q.data(), 3000, admit, vt, out);
    for (const auto& [row, score] : out) {
      BOOST_TEST(!gr.dead[row]);
      BOOST_TEST(gr.ids[row] % 2 == 1);
    }
    BOOST_TEST(walk(gr, q.data(), 10, 3000, admit, vt) == brute(gr, q.data(), 10, admit));
  }
}

BOOST_AUTO_TEST_CASE(recalls_at_least_faiss_on_the_same_graph) {
  std::mt19937 g(5);
  auto gr = graph_make(g, 10000, 48, 16, 40);
  const row_admit all{gr.dead.data(), gr.ids.data(), nullptr};
  visited_table vt;
  const int k = 10, ef = 16, nq = 200;
  gr.index->hnsw.efSearch = ef;
  double ours = 0, theirs = 0;
  for (int i = 0; i < nq; ++i) {
    auto q = memtest::clustered_vec(g, gr.centres, 0.08f);  // queries like the data
    const auto want = brute(gr, q.data(), k, all);
    const std::set<std::int32_t> truth(want.begin(), want.end());
    for (auto r : walk(gr, q.data(), k, ef, all, vt)) ours += truth.count(r);
    std::vector<float> d(k);
    std::vector<faiss::Index::idx_t> rows(k);
    gr.index->search(1, q.data(), k, d.data(), rows.data());
    for (auto r : rows) theirs += truth.count(static_cast<std::int32_t>(r));
  }
  ours /= k * nq;
  theirs /= k * nq;
  BOOST_TEST_MESSAGE("recall@10 at ef 16: hnsw_search " << ours << ", FAISS " << theirs);
  BOOST_TEST(ours >= theirs);
  BOOST_TEST(ours >= 0.8);
}

BOOST_AUTO_TEST_CASE(same_answer_after_the_visited_marks_wrap) {
  std::mt19937 g(6);
  auto gr = graph_make(g, 300, 16, 8, 32);
  const row_admit all{gr.dead.data(), gr.ids.data(), nullptr};
  visited_table vt;
  auto q = memtest::random_vec(g, gr.dim);
  const auto first = walk(gr, q.data(), 5, 20, all, vt);
  std::vector<std::pair<std::int32_t, float>> out;
  for (int i = 0; i < 70000; ++i)  // the epoch wraps at 65,535
    hnsw_search(gr.index->hnsw, gr.xb.data(), gr.dim, q.data(), 20, all, vt, out);
  BOOST_TEST(walk(gr, q.data(), 5, 20, all, vt) == first);
}

BOOST_AUTO_TEST_CASE(empty_graph_gives_nothing) {
  faiss::IndexHNSWFlat empty(8, 8, faiss::METRIC_INNER_PRODUCT);
  std::vector<std::uint8_t> dead;
  std::vector<std::int64_t> ids;
  const row_admit all{dead.data(), ids.data(), nullptr};
  visited_table vt;
  std::vector<float> q(8, 0.0f);
  q[0] = 1;
  std::vector<std::pair<std::int32_t, float>> out{{1, 1.0f}};
  hnsw_search(empty.hnsw, nullptr, 8, q.data(), 16, all, vt, out);
  BOOST_TEST(out.empty());
}
