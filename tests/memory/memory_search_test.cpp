// Scoped and filtered search against a brute-force reference on random
// data: the same ids in the same order (ties within float rounding may swap).
// Flat mode, HNSW mode (filtered results stay exact up to flat_max matches),
// and a filter that matches 0.1 % of 100k memories.
#define BOOST_TEST_MODULE memory_search
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <limits>
#include <thread>

#include "actors/memory/memory_internal.hpp"
#include "memory_test_util.hpp"

using namespace aikid;
using namespace aikid::memory;
using memtest::ref_item;
using memtest::temp_dir;

namespace {

struct dataset {
  std::vector<ref_item> items;
};

// A store in DIR with vectors of DIM, dedup off (these tests add near
// twins on purpose); the caller sets anything else before store_open_ok.
store_options search_options(const temp_dir& t, int dim) {
  store_options o;
  o.dir = t.path;
  o.dim = dim;
  o.dedup_threshold = 2.0;
  return o;
}

std::unique_ptr<store> store_open_ok(const store_options& o) {
  auto s = store::open(o);
  BOOST_REQUIRE_MESSAGE(s.has_value(), (s ? "" : s.error().message));
  return std::move(*s);
}

// n memories over 4 users; meta: colour (5 values), rare (1 in `rare_every`),
// n (number). Loaded with add_batch (one transaction per 1000).
dataset load(store& s, std::mt19937& g, int n, int dim, int rare_every, bool clustered) {
  dataset d;
  std::vector<std::vector<float>> centres;
  for (int c = 0; c < 64; ++c) centres.push_back(memtest::random_vec(g, dim));
  const char* colours[] = {"red", "green", "blue", "grey", "black"};
  std::vector<new_memory> batch;
  std::vector<ref_item> pending;
  auto flush = [&] {
    auto r = s.add_batch(batch);
    BOOST_REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
    for (std::size_t i = 0; i < r->size(); ++i) {
      pending[i].id = (*r)[i].id;
      pending[i].created = s.get((*r)[i].id)->created_ms;
      d.items.push_back(std::move(pending[i]));
    }
    batch.clear();
    pending.clear();
  };
  for (int i = 0; i < n; ++i) {
    ref_item it;
    it.user = "user" + std::to_string(i % 4);
    it.meta = {{"colour", colours[g() % 5]}, {"n", i}};
    if (i % rare_every == 0) it.meta["rare"] = true;
    it.vec = clustered ? memtest::clustered_vec(g, centres, 0.05f) : memtest::random_vec(g, dim);
    batch.push_back(new_memory{it.user, "text " + std::to_string(i), it.meta, it.vec, {}});
    pending.push_back(std::move(it));
    if (batch.size() == 1000) flush();
  }
  if (!batch.empty()) flush();
  return d;
}

// What an exact float scan keeps: the rows (id 1 + index; only the `live`
// ones when given) whose vec_dot with q is at least floor, the best k by
// score desc, id asc.
std::vector<std::pair<float, std::int64_t>> float_topk(const std::vector<float>& q,
                                                        const std::vector<std::vector<float>>& rows, float floor,
                                                        std::size_t k, const std::vector<bool>& live = {}) {
  std::vector<std::pair<float, std::int64_t>> want;
  for (std::size_t r = 0; r < rows.size(); ++r) {
    if (!live.empty() && !live[r]) continue;
    const float sc = vec_dot(q.data(), rows[r].data(), static_cast<int>(q.size()));
    if (sc >= floor) want.push_back({sc, static_cast<std::int64_t>(r + 1)});
  }
  std::sort(want.begin(), want.end(),
            [](auto& a, auto& b) { return a.first != b.first ? a.first > b.first : a.second < b.second; });
  if (want.size() > k) want.resize(k);
  return want;
}

// Same ids in the same order; where they differ the scores must tie.
void check_same(const std::vector<hit>& got, const std::vector<std::pair<std::int64_t, double>>& want,
                const std::string& what) {
  BOOST_REQUIRE_MESSAGE(got.size() == want.size(), what << ": " << got.size() << " hits, want " << want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    BOOST_TEST(got[i].score == want[i].second, boost::test_tools::tolerance(1e-4));
    if (got[i].rec.id != want[i].first)
      BOOST_TEST(std::fabs(got[i].score - want[i].second) < 1e-5, what << " rank " << i << ": id " << got[i].rec.id
                                                                        << " want " << want[i].first);
  }
}

void compare_many(store& s, const dataset& d, std::mt19937& g, int dim, int queries, bool check_unfiltered) {
  const char* colours[] = {"red", "green", "blue"};
  for (int qi = 0; qi < queries; ++qi) {
    query q;
    q.vector = memtest::random_vec(g, dim);
    q.top_k = 1 + static_cast<int>(g() % 20);
    const int mode = qi % 6;
    std::function<bool(const ref_item&)> pred = [](const ref_item&) { return true; };
    if (mode == 0 && !check_unfiltered) continue;
    if (mode == 1) {
      q.user = "user2";
      pred = [](const ref_item& it) { return it.user == "user2"; };
    } else if (mode == 2) {
      q.filter = {{"colour", colours[qi % 3]}};
      const std::string c = colours[qi % 3];
      pred = [c](const ref_item& it) { return it.meta["colour"] == c; };
    } else if (mode == 3) {
      q.user = "user1";
      q.filter = {{"colour", {{"in", {"red", "blue"}}}}};
      pred = [](const ref_item& it) {
        return it.user == "user1" && (it.meta["colour"] == "red" || it.meta["colour"] == "blue");
      };
    } else if (mode == 4) {
      q.filter = {{"rare", true}};
      pred = [](const ref_item& it) { return it.meta.contains("rare"); };
    } else if (mode == 5) {
      const std::int64_t mid = d.items[d.items.size() / 2].created;
      q.since_ms = mid;
      q.filter = {{"colour", "grey"}};
      pred = [mid](const ref_item& it) { return it.created >= mid && it.meta["colour"] == "grey"; };
    }
    auto got = s.search(q);
    BOOST_REQUIRE(got);
    check_same(*got, memtest::brute_topk(d.items, q.vector, q.top_k, pred), "query " + std::to_string(qi));
  }
}

}  // namespace

// The exact scan reads rows as halves and rescores candidates from floats:
// a half score is never further from the float one than vec_half_slack says
// (components in the normal and the subnormal half range, odd dims).
// vec_to_half (F16C where the CPU has it) rounds as a _Float16 cast does:
// to nearest even, subnormals kept, past 65504 to infinity; its norm is the
// floats'.
BOOST_AUTO_TEST_CASE(halves_round_as_float16_casts_do) {
  std::mt19937 g(9);
  std::normal_distribution<float> nd(0.f, 1.f);
  std::vector<float> v;
  for (int i = 0; i < 997; ++i) v.push_back(nd(g) * std::ldexp(1.f, static_cast<int>(i % 40) - 30));
  for (float x : {0.f, -0.f, 65504.f, 65519.f, 65520.f, -70000.f, std::ldexp(1.f, -24), std::ldexp(1.f, -25),
                  std::ldexp(3.f, -26), 1.f + std::ldexp(1.f, -11), 1.f + std::ldexp(3.f, -11)})
    v.push_back(x);
  std::vector<std::uint16_t> h(v.size());
  const float norm = vec_to_half(v.data(), static_cast<int>(v.size()), h.data());
  double ss = 0;
  for (std::size_t i = 0; i < v.size(); ++i) {
    BOOST_TEST(h[i] == std::bit_cast<std::uint16_t>(static_cast<_Float16>(v[i])), "value " << v[i]);
    ss += double(v[i]) * v[i];
  }
  BOOST_TEST(norm == static_cast<float>(std::sqrt(ss)));
}

// vec_head_encode's codes bound the dot product of two heads from both
// sides as head_code says (the screen relies on the upper side), tightly
// enough to screen; vec_dot_rows_code gives the codes' exact integer dot
// products (each of VNNI, AVX2 and scalar this CPU runs). Heads include
// ties halfway between codes, a lone spike, zeros, subnormals and values
// that are exact codes. vec_norm_up never falls below the exact norm.
BOOST_AUTO_TEST_CASE(head_codes_bound_every_dot) {
  std::mt19937 g(13);
  std::normal_distribution<float> nd(0.f, 1.f);
  for (int d : {16, 48, 64, 128, 144}) {
    std::vector<std::vector<float>> vs;
    for (int i = 0; i < 240; ++i) {
      std::vector<float> v(d);
      for (float& x : v) x = nd(g) / std::sqrt(float(d));
      switch (i % 6) {
        case 1:  // halfway between codes: step 1/127 of the top value
          v[0] = 1.f;
          for (int j = 1; j < d; ++j) v[j] = (float(j % 9) + 0.5f) / 127.f * (j % 2 ? 1.f : -1.f);
          break;
        case 2:  // one spike, the rest small
          for (float& x : v) x *= 1e-3f;
          v[static_cast<std::size_t>(i) % d] = 0.9f;
          break;
        case 3: std::fill(v.begin(), v.end(), 0.f); break;
        case 4:
          for (float& x : v) x *= std::ldexp(1.f, -130);  // subnormal
          break;
        case 5:  // exact codes: no rounding at all
          for (int j = 0; j < d; ++j) v[j] = float((j * 37) % 255 - 127) / 127.f;
          break;
        default: break;
      }
      vs.push_back(std::move(v));
    }
    std::vector<std::uint8_t> rows(vs.size() * d);
    std::vector<head_code> hc;
    for (std::size_t i = 0; i < vs.size(); ++i) {
      hc.push_back(vec_head_encode(vs[i].data(), d, rows.data() + i * d));
      double ss = 0;
      for (float x : vs[i]) ss += double(x) * x;
      BOOST_TEST(double(vec_norm_up(vs[i].data(), d)) >= std::sqrt(ss));
    }
    std::vector<std::int32_t> dots(vs.size());
    double worst_gap = 0;
    for (std::size_t qi = 0; qi < vs.size(); ++qi) {
      std::vector<std::int8_t> q(d);
      for (int j = 0; j < d; ++j) q[j] = static_cast<std::int8_t>(int(rows[qi * d + j]) - 128);
      std::vector<std::vector<std::int32_t>> by_kernel;
      for (const auto& [name, fn] : vec_codes_variants()) {
        by_kernel.emplace_back(vs.size());
        vec_dot_rows_code(q.data(), rows.data(), vs.size(), d, by_kernel.back().data(), fn);
      }
      vec_dot_rows_code(q.data(), rows.data(), vs.size(), d, dots.data());
      for (std::size_t r = 0; r < vs.size(); ++r) {
        for (std::size_t k = 0; k < by_kernel.size(); ++k)
          BOOST_REQUIRE_MESSAGE(by_kernel[k][r] == dots[r], vec_codes_variants()[k].first << ": d " << d << " row " << r);
        std::int64_t want = 0;
        double exact = 0, qn = 0, rn = 0;
        for (int j = 0; j < d; ++j) {
          want += std::int64_t(int(rows[r * d + j]) - 128) * q[j];
          exact += double(vs[qi][j]) * vs[r][j];
          qn += double(vs[qi][j]) * vs[qi][j];
          rn += double(vs[r][j]) * vs[r][j];
        }
        BOOST_REQUIRE_MESSAGE(dots[r] == want, "d " << d << " query " << qi << " row " << r);
        const double approx = double(hc[qi].scale) * hc[r].scale * dots[r];
        const double err = double(hc[qi].err) * hc[r].code_l1 + double(hc[r].err) * hc[qi].l1;
        const double tol = 1e-12 * (std::sqrt(qn * rn) + 1e-30);
        BOOST_REQUIRE_MESSAGE(approx + err >= exact - tol, "d " << d << " query " << qi << " row " << r << ": bound "
                                                                << approx + err << " below " << exact);
        BOOST_REQUIRE_MESSAGE(approx - err <= exact + tol, "d " << d << " query " << qi << " row " << r);
        if (qi % 6 == 0 && r % 6 == 0) worst_gap = std::max(worst_gap, err / std::sqrt(qn * rn));
      }
    }
    BOOST_TEST(worst_gap < 0.05, "d " << d << ": random heads' bound is " << worst_gap << " above their dot");
  }
}

BOOST_AUTO_TEST_CASE(half_scores_stay_within_their_slack) {
  std::mt19937 g(5);
  std::uniform_real_distribution<float> tiny(-6e-5f, 6e-5f);
  for (int dim : {1, 7, 16, 31, 48, 384, 385}) {
    for (int rep = 0; rep < 200; ++rep) {
      auto q = memtest::random_vec(g, dim);
      auto x = memtest::random_vec(g, dim);
      if (rep % 2)
        for (int i = 0; i < dim; i += 3) x[i] = tiny(g);  // subnormal halves
      std::vector<std::uint16_t> h(dim);
      const float xn = vec_to_half(x.data(), dim, h.data());
      BOOST_TEST(std::fabs(xn - std::sqrt(memtest::dot(x, x))) < 1e-6);
      float half_score = 0;
      vec_dot_rows_half(q.data(), h.data(), 1, dim, &half_score);
      const float slack = vec_half_slack(1.f, xn, dim);
      BOOST_TEST(std::fabs(half_score - vec_dot(q.data(), x.data(), dim)) <= slack, "dim " << dim << " rep " << rep);
      BOOST_TEST(slack < 1e-3f);
    }
  }
}

// Rows a hair apart (closer than halves can tell): the scan must still give
// the float ranking and the float scores, not the halves'.
BOOST_AUTO_TEST_CASE(near_twins_keep_float_order) {
  temp_dir t("twins");
  std::mt19937 g(3);
  const store_options o = search_options(t, 48);
  auto s = store_open_ok(o);
  const auto base = memtest::random_vec(g, o.dim);
  std::normal_distribution<float> nd(0.f, 0.01f);
  std::vector<new_memory> batch;
  std::vector<std::vector<float>> rows;
  for (int i = 0; i < 3000; ++i) {
    auto v = base;
    for (float& x : v) x += nd(g);
    v = memtest::unit(v);
    rows.push_back(v);
    batch.push_back({"u", "r" + std::to_string(i), {}, v, {}});
  }
  BOOST_REQUIRE(s->add_batch(batch));
  for (int qi = 0; qi < 20; ++qi) {
    query q;
    q.vector = memtest::random_vec(g, o.dim);
    for (std::size_t i = 0; i < q.vector.size(); ++i) q.vector[i] += base[i];
    q.vector = memtest::unit(q.vector);
    q.top_k = 50;
    auto got = s->search(q);
    BOOST_REQUIRE(got);
    const auto want = float_topk(q.vector, rows, -std::numeric_limits<float>::infinity(), 50);
    BOOST_REQUIRE(got->size() == 50u);
    for (std::size_t i = 0; i < 50; ++i) {
      BOOST_TEST((*got)[i].rec.id == want[i].second, "query " << qi << " rank " << i);
      BOOST_TEST((*got)[i].score == want[i].first);
    }
  }
}

// vec_code_screen (AVX-512 where the CPU has it, and the scalar loop) keeps
// exactly the rows whose bound, computed in double, is not below the floor
// (none lies within 1e-5 of it here), in order, at every block length, and
// keeps a row whose bound is NaN. Each of the bound's terms moves some rows
// across the floor (magnitudes as a 128-value head's, errors enlarged).
BOOST_AUTO_TEST_CASE(code_screen_keeps_what_its_bound_allows) {
  std::mt19937 g(17);
  std::uniform_real_distribution<float> u(0.f, 1.f);
  std::uniform_int_distribution<std::int32_t> di(-200000, 200000);
  const std::size_t rows = 300;
  code_bounds b;
  b.resize(rows);
  std::vector<std::int32_t> dots(rows);
  for (std::size_t r = 0; r < rows; ++r) {
    b.put(r, head_code{u(g) * 3e-3f, u(g) * 0.02f, u(g) * 5.f, 0}, u(g) * 0.8f);
    dots[r] = di(g);
  }
  const head_code q{1.6e-3f, 0.01f, 0, 5.f};
  const float q_tail = 0.6f, eps = 1e-6f, floor = 0.5f;
  b.scale[17] = std::numeric_limits<float>::quiet_NaN();
  std::size_t kept_total = 0;
  for (std::size_t from : {std::size_t{0}, std::size_t{5}, std::size_t{33}})
    for (std::size_t n : {std::size_t{1}, std::size_t{15}, std::size_t{16}, std::size_t{17}, std::size_t{100}, rows - 40}) {
      std::vector<std::uint32_t> want;
      for (std::size_t i = 0; i < n; ++i) {
        const std::size_t r = from + i;
        const double bound = double(q.scale) * b.scale[r] * dots[i] + double(q.err) * b.code_l1[r] +
                             double(q.l1) * b.err[r] + double(q_tail) * b.tail[r] + eps;
        if (std::isnan(bound) || bound >= floor) want.push_back(static_cast<std::uint32_t>(i));
        if (!std::isnan(bound)) BOOST_REQUIRE(std::fabs(bound - floor) > 1e-5);
      }
      for (bool wide : {true, false}) {
        std::vector<std::uint32_t> keep(n);
        const std::size_t kept = vec_code_screen(q, q_tail, eps, floor, dots.data(), b, from, n, keep.data(), wide);
        keep.resize(kept);
        BOOST_TEST(keep == want, "from " << from << " n " << n << (wide ? " wide" : " scalar"));
      }
      kept_total += want.size();
      BOOST_TEST((want.size() < n || n < 16));  // the floor does rule rows out
    }
  BOOST_TEST(kept_total > 100u);
}

// A floor as high as dedup's lets the exact scan rule rows out by their
// heads (the first third) and a bound on their tails; what it keeps must be
// exactly the rows at or above the floor, in float order. Rows whose
// likeness lies all in the tail (head near zero) must survive the screen.
BOOST_AUTO_TEST_CASE(high_floor_screening_keeps_every_row_above_it) {
  constexpr int dim = 384;
  std::mt19937 g(5);
  vindex ix(index_params{dim, 100000, 32, 200});
  std::vector<std::vector<float>> rows;
  auto add = [&](std::vector<float> v) {
    v = memtest::unit(v);
    ix.upsert(static_cast<std::int64_t>(rows.size() + 1), v.data());
    rows.push_back(std::move(v));
  };
  for (int i = 0; i < 4000; ++i) add(memtest::random_vec(g, dim));
  std::vector<std::vector<float>> queries;
  std::normal_distribution<float> nd(0.f, 1.f);
  for (int qi = 0; qi < 24; ++qi) {
    auto q = memtest::random_vec(g, dim);
    if (qi % 2)  // its energy in the tail: twins of it have heads near zero
      for (int i = 0; i < dim / 3; ++i) q[i] *= 0.01f;
    q = memtest::unit(q);
    queries.push_back(q);
    for (float noise : {0.05f, 0.1f, 0.15f, 0.2f, 0.25f, 0.3f}) {  // cosines from ~0.99 down past 0.95
      auto v = q;
      for (float& x : v) x += noise * nd(g) / std::sqrt(float(dim));
      add(v);
    }
  }
  const std::uint64_t screened0 = ix.stats()["screened_rows"].get<std::uint64_t>();
  std::size_t kept = 0;
  for (float floor : {0.95f, 0.97f, 0.99f})
    for (std::size_t qi = 0; qi < queries.size(); ++qi) {
      const auto& q = queries[qi];
      topk got(4, floor);
      ix.search(q.data(), 4, nullptr, got);
      const auto want = float_topk(q, rows, floor, 4);
      const auto have = got.sorted();
      BOOST_REQUIRE_MESSAGE(have.size() == want.size(), "floor " << floor << " query " << qi << ": " << have.size()
                                                                  << " kept, " << want.size() << " above it");
      for (std::size_t i = 0; i < want.size(); ++i) {
        BOOST_TEST(have[i].first == want[i].second, "floor " << floor << " query " << qi << " rank " << i);
        BOOST_TEST(have[i].second == want[i].first);
      }
      kept += want.size();
    }
  BOOST_TEST(kept > 100u);  // the floors do keep twins (not an empty comparison)
  // and the screen ran: for the queries whose tail can be screened (the
  // other half has a tail as long as the longest row's), most of the 4,000
  // random rows never had a full score
  BOOST_TEST(ix.stats()["screened_rows"].get<std::uint64_t>() - screened0 > 3u * 12u * 3000u);
}

// compact() moves the exact part's live rows together with their scan
// copies (halves, head codes, bounds): afterwards a plain search and a
// screened one (a dedup-high floor) both give exactly the brute-force rows.
BOOST_AUTO_TEST_CASE(compaction_keeps_rows_and_their_screens_aligned) {
  constexpr int dim = 384;
  std::mt19937 g(23);
  vindex ix(index_params{dim, 100000, 32, 200});
  std::vector<std::vector<float>> rows;
  std::vector<bool> live;
  std::normal_distribution<float> nd(0.f, 1.f);
  for (int i = 0; i < 3000; ++i) {
    auto v = memtest::unit(memtest::random_vec(g, dim));
    if (i % 3 == 2) {  // a near twin of the row before it
      v = rows.back();
      for (float& x : v) x += 0.1f * nd(g) / std::sqrt(float(dim));
      v = memtest::unit(v);
    }
    ix.upsert(static_cast<std::int64_t>(i + 1), v.data());
    rows.push_back(v);
    live.push_back(true);
  }
  for (int i = 0; i < 3000; i += 2) {  // every other row goes: twins and originals lose partners
    BOOST_REQUIRE(ix.erase(i + 1));
    live[static_cast<std::size_t>(i)] = false;
  }
  BOOST_REQUIRE(ix.wants_compact());
  ix.compact();
  BOOST_TEST(!ix.wants_compact());
  BOOST_TEST(ix.flat_rows() == 1500u);
  const std::uint64_t screened0 = ix.stats()["screened_rows"].get<std::uint64_t>();
  std::size_t kept = 0;
  for (std::size_t qi = 1; qi < rows.size(); qi += 7) {
    const auto& q = rows[qi];
    for (float floor : {-1.f, 0.95f}) {
      topk got(5, floor);
      ix.search(q.data(), 5, nullptr, got);
      const auto want = float_topk(q, rows, floor, 5, live);
      const auto have = got.sorted();
      BOOST_REQUIRE_MESSAGE(have.size() == want.size(), "query " << qi << " floor " << floor);
      for (std::size_t i = 0; i < want.size(); ++i) {
        BOOST_TEST(have[i].first == want[i].second, "query " << qi << " floor " << floor << " rank " << i);
        BOOST_TEST(have[i].second == want[i].first);
      }
      if (floor > 0) kept += want.size();
    }
  }
  BOOST_TEST(kept > 200u);  // live queries find themselves (and twins) above the floor
  BOOST_TEST(ix.stats()["screened_rows"].get<std::uint64_t>() - screened0 > 100000u);  // the screen ran
}

BOOST_AUTO_TEST_CASE(flat_matches_brute_force) {
  temp_dir t("flat");
  std::mt19937 g(11);
  const store_options o = search_options(t, 48);
  auto s = store_open_ok(o);
  auto d = load(*s, g, 5000, o.dim, 200, false);
  compare_many(*s, d, g, o.dim, 60, true);
  // after deletes and updates, still exact
  for (int i = 0; i < 500; ++i) {
    auto& it = d.items[i * 7];
    if (i % 2) {
      BOOST_REQUIRE(s->remove(it.id));
      it.user = "<deleted>";
    } else {
      it.vec = memtest::random_vec(g, o.dim);
      BOOST_REQUIRE(s->update(it.id, std::nullopt, std::nullopt, it.vec));
    }
  }
  std::erase_if(d.items, [](const ref_item& it) { return it.user == "<deleted>"; });
  compare_many(*s, d, g, o.dim, 60, true);
}

BOOST_AUTO_TEST_CASE(hnsw_filtered_exact_unfiltered_recall) {
  temp_dir t("hnsw");
  std::mt19937 g(12);
  store_options o = search_options(t, 32);
  o.flat_max = 1500;
  o.hnsw_m = 16;
  o.hnsw_ef_construction = 100;
  auto s = store_open_ok(o);
  auto d = load(*s, g, 6000, o.dim, 100, true);
  // wait for the background HNSW build and merge
  for (int i = 0; i < 600 && !(s->stats()["index"]["kind"] == "hnsw" && s->stats()["index"]["flat_rows"] == 0); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  BOOST_REQUIRE(s->stats()["index"]["kind"] == "hnsw");
  compare_many(*s, d, g, o.dim, 48, false);
  // new adds are searchable at once (exact buffer), deletes hidden at once
  std::vector<float> v = memtest::random_vec(g, o.dim);
  auto a = s->add("user0", "fresh", {}, v);
  query q;
  q.vector = v;
  q.top_k = 1;
  BOOST_TEST(s->search(q)->at(0).rec.id == a->id);
  BOOST_REQUIRE(s->remove(a->id));
  BOOST_TEST(s->search(q)->at(0).rec.id != a->id);
  const auto victim = d.items[10];
  BOOST_REQUIRE(s->remove(victim.id));  // a row inside the graph: tombstone
  q.vector = victim.vec;
  BOOST_TEST(s->search(q)->at(0).rec.id != victim.id);
  std::erase_if(d.items, [&](const ref_item& it) { return it.id == victim.id; });
  // unfiltered recall@10 on clustered data
  double hits = 0, total = 0;
  for (int i = 0; i < 50; ++i) {
    query u;
    u.vector = d.items[g() % d.items.size()].vec;
    u.top_k = 10;
    auto got = s->search(u);
    auto want = memtest::brute_topk(d.items, u.vector, 10, [](const ref_item&) { return true; });
    for (const auto& w : want) {
      total += 1;
      for (const auto& h : *got) hits += h.rec.id == w.first;
    }
  }
  BOOST_TEST_MESSAGE("recall@10 = " << hits / total);
  BOOST_TEST(hits / total >= 0.9);
}

BOOST_AUTO_TEST_CASE(rare_filter_over_100k) {
  temp_dir t("100k");
  std::mt19937 g(13);
  store_options o = search_options(t, 32);
  o.flat_max = 200000;  // keep the index exact: this test is about the filter path
  auto s = store_open_ok(o);
  auto d = load(*s, g, 100000, o.dim, 1000, false);  // "rare" on 0.1 %
  BOOST_REQUIRE(s->size() == 100000u);
  for (int qi = 0; qi < 20; ++qi) {
    query q;
    q.vector = memtest::random_vec(g, o.dim);
    q.top_k = 10;
    q.filter = {{"rare", true}};
    if (qi % 2) q.user = "user0";
    auto got = s->search(q);
    BOOST_REQUIRE(got);
    auto want = memtest::brute_topk(d.items, q.vector, 10, [&](const ref_item& it) {
      return it.meta.contains("rare") && (!q.user || it.user == *q.user);
    });
    check_same(*got, want, "rare query " + std::to_string(qi));
  }
}
