// vindex: the FAISS side of the store.
//   exact part  IndexIDMap2 over IndexFlatIP        rows [0, flat ntotal)
//   HNSW part   IndexIDMap2 over IndexHNSWFlat      rows [0, hnsw ntotal)
// where_ maps each live id to its one live row; other rows are tombstones
// (flat_dead_ / hnsw_dead_). Distances in both parts come from vec_dot: the
// HNSW storage is an IndexFlatIP whose distance computer is ours, so FAISS
// builds and saves the graph with our AVX-512 arithmetic, and searches walk
// it with hnsw_search (memory_hnsw.cpp).
#include <omp.h>

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/impl/AuxIndexStructures.h>
#include <faiss/impl/DistanceComputer.h>
#include <faiss/impl/io.h>
#include <faiss/index_io.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "actors/memory/memory_internal.hpp"

namespace aikid::memory {

using faiss_idx = faiss::Index::idx_t;

// ---- HNSW storage with our distance computer ----------------------------

namespace {

struct fast_ip_distance : faiss::FlatCodesDistanceComputer {
  int d;
  const float* xb;
  const float* q = nullptr;
  explicit fast_ip_distance(const faiss::IndexFlat& s)
      : faiss::FlatCodesDistanceComputer(s.codes.data(), s.code_size), d(static_cast<int>(s.d)),
        xb(s.get_xb()) {}
  void set_query(const float* x) override { q = x; }
  float distance_to_code(const std::uint8_t* code) override {
    return vec_dot(q, reinterpret_cast<const float*>(code), d);
  }
  float symmetric_dis(faiss_idx i, faiss_idx j) override { return vec_dot(xb + i * d, xb + j * d, d); }
};

struct fast_ip_storage : faiss::IndexFlatIP {
  explicit fast_ip_storage(faiss_idx d) : faiss::IndexFlatIP(d) {}
  faiss::FlatCodesDistanceComputer* get_FlatCodesDistanceComputer() const override {
    return new fast_ip_distance(*this);
  }
};

std::unique_ptr<faiss::IndexIDMap2> flat_new(int dim) {
  auto m = std::make_unique<faiss::IndexIDMap2>(new faiss::IndexFlatIP(dim));
  m->own_fields = true;
  return m;
}

std::unique_ptr<faiss::IndexIDMap2> hnsw_new(int dim, int M, int efc) {
  auto* h = new faiss::IndexHNSWFlat(dim, M, faiss::METRIC_INNER_PRODUCT);
  delete h->storage;  // swap the generic storage for ours
  h->storage = new fast_ip_storage(dim);
  h->hnsw.efConstruction = efc;
  auto m = std::make_unique<faiss::IndexIDMap2>(h);
  m->own_fields = true;
  return m;
}

faiss::IndexFlat* flat_storage(const faiss::IndexIDMap2& m) { return static_cast<faiss::IndexFlat*>(m.index); }
faiss::IndexFlat* hnsw_storage(const faiss::IndexIDMap2& m) {
  return static_cast<faiss::IndexFlat*>(static_cast<faiss::IndexHNSW*>(m.index)->storage);
}

}  // namespace


// ---- rows ---------------------------------------------------------------

vindex::vindex(index_params p)
    : p_(p), flat_(flat_new(p.dim)), head_(p.dim >= 64 ? (p.dim / 3) / 16 * 16 : 0) {}
vindex::~vindex() = default;

const float* vindex::row_ptr(const loc& l) const {
  const faiss::IndexFlat* s = l.in_hnsw ? hnsw_storage(*hnsw_) : flat_storage(*flat_);
  return s->get_xb() + l.row * p_.dim;
}

const float* vindex::vector_of(std::int64_t id) const {
  auto it = where_.find(id);
  return it == where_.end() ? nullptr : row_ptr(it->second);
}

void vindex::flat_scan_put(std::size_t row, const float* v) {
  const std::size_t d = static_cast<std::size_t>(p_.dim), hd = static_cast<std::size_t>(head_);
  if (flat_half_.size() < (row + 1) * d) flat_half_.resize((row + 1) * d);
  if (flat_code_.size() < (row + 1) * hd) flat_code_.resize((row + 1) * hd);
  if (flat_bound_.size() < row + 1) flat_bound_.resize(row + 1);
  flat_half_norm_ = std::max(flat_half_norm_, vec_to_half(v, p_.dim, flat_half_.data() + row * d));
  const float tail = vec_norm_up(v + head_, p_.dim - head_);
  flat_bound_.put(row, vec_head_encode(v, head_, flat_code_.data() + row * hd), tail);
  flat_tail_max_ = std::max(flat_tail_max_, tail);
}

void vindex::flat_append(std::int64_t id, const float* v) {
  const faiss_idx fid = id;
  flat_->add_with_ids(1, v, &fid);
  flat_dead_.push_back(0);
  flat_scan_put(flat_dead_.size() - 1, v);
  where_[id] = loc{false, static_cast<std::int64_t>(flat_dead_.size() - 1)};
}

void vindex::mark_dead(const loc& l) {
  auto& dead = l.in_hnsw ? hnsw_dead_ : flat_dead_;
  if (!dead[l.row]) {
    dead[l.row] = 1;
    ++(l.in_hnsw ? hnsw_dead_n_ : flat_dead_n_);
  }
}

void vindex::upsert(std::int64_t id, const float* v) {
  if (building_) changed_during_build_.insert(id);
  auto it = where_.find(id);
  if (it != where_.end() && !it->second.in_hnsw) {  // exact part: overwrite in place
    std::memcpy(const_cast<float*>(row_ptr(it->second)), v, sizeof(float) * p_.dim);
    flat_scan_put(static_cast<std::size_t>(it->second.row), v);
    return;
  }
  if (it != where_.end()) mark_dead(it->second);  // HNSW row becomes a tombstone
  flat_append(id, v);
}

bool vindex::erase(std::int64_t id) {
  if (building_) changed_during_build_.insert(id);
  auto it = where_.find(id);
  if (it == where_.end()) return false;
  mark_dead(it->second);
  where_.erase(it);
  return true;
}

bool vindex::forget(std::int64_t id) {
  auto it = where_.find(id);
  if (it == where_.end()) return false;
  const loc l = it->second;
  erase(id);
  std::vector<float> zero(static_cast<std::size_t>(p_.dim), 0.0f);
  std::memcpy(const_cast<float*>(row_ptr(l)), zero.data(), sizeof(float) * p_.dim);
  if (!l.in_hnsw) flat_scan_put(static_cast<std::size_t>(l.row), zero.data());
  return true;
}

void vindex::flat_reset() {
  flat_ = flat_new(p_.dim);
  flat_dead_.clear();
  flat_dead_n_ = 0;
  flat_live_from_ = 0;
  flat_half_.clear();
  flat_half_norm_ = 0;
  flat_code_.clear();
  flat_bound_.clear();
  flat_tail_max_ = 0;
}

void vindex::clear() {
  flat_reset();
  hnsw_.reset();
  hnsw_dead_.clear();
  hnsw_dead_n_ = 0;
  where_.clear();
}

std::size_t vindex::hnsw_rows() const { return hnsw_ ? hnsw_dead_.size() : 0; }
std::size_t vindex::flat_rows() const { return flat_dead_.size(); }

// ---- search -------------------------------------------------------------

void vindex::set_ef_search(int ef) { ef_search_ = ef; }

void vindex::search(const float* q, int k, const std::function<bool(std::int64_t)>* pred, topk& out) const {
  search_many(q, 1, k, pred, &out);
}

void vindex::search_many(const float* qs, int nq, int k, const std::function<bool(std::int64_t)>* pred,
                         topk* outs) const {
  // exact part: a scan of the rows' halves (half the bytes of floats, which
  // is what a scan waits on) in blocks small enough to stay in L2 while every
  // query scores them; a row whose half score is within vec_half_slack of
  // entering is scored again from its floats, so what enters is exact;
  // under a high floor the heads' codes screen the rows first (see head_)
  const float* xb = flat_storage(*flat_)->get_xb();
  const std::uint16_t* xh = flat_half_.data();
  const std::size_t n = flat_dead_.size();
  const std::size_t d = static_cast<std::size_t>(p_.dim), hd = static_cast<std::size_t>(head_);
  const bool halves = flat_half_norm_ <= 256.f;  // a unit vector's halves are finite
  constexpr std::size_t block = 256;
  float scores[block];
  std::int32_t dots[block];
  std::uint32_t keep[block];
  std::vector<float> slack(static_cast<std::size_t>(nq)), q_tail(static_cast<std::size_t>(nq)),
      eps(static_cast<std::size_t>(nq));
  std::vector<head_code> q_head(static_cast<std::size_t>(nq));
  std::vector<std::int8_t> q_code(static_cast<std::size_t>(nq) * hd);
  std::vector<std::uint8_t> code(hd);
  for (int qi = 0; flat_live_from_ < n && qi < nq; ++qi) {  // (nothing to set up for an empty exact part)
    const float* q = qs + qi * d;
    const float q_norm = std::sqrt(vec_dot(q, q, p_.dim));
    slack[qi] = vec_half_slack(q_norm, flat_half_norm_, p_.dim);
    if (hd == 0) continue;
    // screening's bound on a row's exact score (head_code's, plus |q tail|
    // |row tail|), plus eps: how far the float score vec_dot gives can be
    // above the exact one (d terms), and the bound's own float rounding
    q_head[qi] = vec_head_encode(q, head_, code.data());
    for (std::size_t j = 0; j < hd; ++j) q_code[qi * hd + j] = static_cast<std::int8_t>(int(code[j]) - 128);
    q_tail[qi] = vec_norm_up(q + hd, p_.dim - head_);
    eps[qi] = static_cast<float>((d + 32) * std::ldexp(1.0, -24) * 1.01 * q_norm * flat_half_norm_ + std::ldexp(1.0, -18));
  }
  for (std::size_t start = flat_live_from_; start < n; start += block) {
    const std::size_t m = std::min(block, n - start);
    for (int qi = 0; qi < nq; ++qi) {
      topk& out = outs[qi];
      const float* q = qs + qi * d;
      // screen when the floor is so high that a row needs a head score above
      // zero to reach it even with the longest tail (dedup's threshold)
      const float floor = out.floor();
      const bool screen = halves && hd > 0 && floor - eps[qi] - q_tail[qi] * flat_tail_max_ > 0;
      // row start + i with its half score in scores[i]: rescored from its
      // floats unless the half score cannot enter (a NaN is rescored)
      auto consider = [&](std::size_t i) {
        if (halves && scores[i] + slack[qi] < out.floor()) return;
        const std::size_t row = start + i;
        if (flat_dead_[row]) return;
        const float s = vec_dot(q, xb + row * d, p_.dim);
        if (s < out.floor()) return;
        const std::int64_t id = flat_->id_map[row];
        if (pred && !(*pred)(id)) return;
        out.offer(id, s);
      };
      if (screen) {  // only the rows the screen kept are read in full
        vec_dot_rows_code(q_code.data() + qi * hd, flat_code_.data() + start * hd, m, head_, dots);  // 1/6 of the bytes
        const std::size_t kept =
            vec_code_screen(q_head[qi], q_tail[qi], eps[qi], floor, dots, flat_bound_, start, m, keep);
        for (std::size_t j = 0; j < kept; ++j) {
          vec_dot_rows_half(q, xh + (start + keep[j]) * d, 1, p_.dim, scores + keep[j]);
          consider(keep[j]);
        }
        screened_.fetch_add(m - kept, std::memory_order_relaxed);
      } else {
        if (halves) vec_dot_rows_half(q, xh + start * d, m, p_.dim, scores);
        for (std::size_t i = 0; i < m; ++i) consider(i);
      }
    }
  }
  // HNSW part: our walk over FAISS's graph (memory_hnsw.cpp says why)
  if (!hnsw_ || hnsw_dead_.size() == hnsw_dead_n_) return;
  const auto* h = static_cast<const faiss::IndexHNSW*>(hnsw_->index);
  const row_admit admit{hnsw_dead_.data(), hnsw_->id_map.data(), pred};
  const float* graph_rows = hnsw_storage(*hnsw_)->get_xb();
  auto vt = visited_.take();
  std::vector<std::pair<std::int32_t, float>> rows;
  for (int qi = 0; qi < nq; ++qi) {
    hnsw_search(h->hnsw, graph_rows, p_.dim, qs + static_cast<std::size_t>(qi) * p_.dim, std::max(ef_search_, k),
                admit, *vt, rows);
    for (const auto& [row, score] : rows) outs[qi].offer(hnsw_->id_map[row], score);
  }
  visited_.give(std::move(vt));
}

void vindex::score_ids(const float* q, const std::vector<std::int64_t>& ids, topk& out) const {
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (i + 2 < ids.size()) {
      auto it = where_.find(ids[i + 2]);
      if (it != where_.end()) __builtin_prefetch(row_ptr(it->second));
    }
    auto it = where_.find(ids[i]);
    if (it == where_.end()) continue;
    out.offer(ids[i], vec_dot(q, row_ptr(it->second), p_.dim));
  }
}

// ---- background work ----------------------------------------------------

bool vindex::wants_build() const {
  if (building_) return false;
  if (!hnsw_) return where_.size() > p_.flat_max;
  return hnsw_dead_n_ > std::max<std::size_t>(1000, hnsw_dead_.size() / 4);
}

bool vindex::wants_merge() const {
  return hnsw_ && !building_ && flat_dead_.size() > flat_dead_n_;
}

bool vindex::wants_compact() const {
  return flat_dead_n_ > 256 && flat_dead_n_ * 4 > flat_dead_.size();
}

void vindex::compact() {
  auto fresh = flat_new(p_.dim);
  std::vector<std::uint8_t> dead;
  std::vector<std::uint16_t> half;
  std::vector<std::uint8_t> code;
  code_bounds bound;
  const std::size_t d = static_cast<std::size_t>(p_.dim), hd = static_cast<std::size_t>(head_);
  const float* xb = flat_storage(*flat_)->get_xb();
  for (std::size_t row = 0; row < flat_dead_.size(); ++row) {
    if (flat_dead_[row]) continue;
    const faiss_idx id = flat_->id_map[row];
    fresh->add_with_ids(1, xb + row * d, &id);
    half.insert(half.end(), flat_half_.begin() + row * d, flat_half_.begin() + (row + 1) * d);
    code.insert(code.end(), flat_code_.begin() + row * hd, flat_code_.begin() + (row + 1) * hd);
    bound.push_row(flat_bound_, row);
    where_[id] = loc{false, static_cast<std::int64_t>(dead.size())};
    dead.push_back(0);
  }
  flat_ = std::move(fresh);
  flat_half_ = std::move(half);
  flat_code_ = std::move(code);
  flat_bound_ = std::move(bound);
  flat_dead_ = std::move(dead);
  flat_dead_n_ = 0;
  flat_live_from_ = 0;
}

void vindex::merge_step(std::size_t n) {
  omp_set_num_threads(1);
  std::vector<faiss_idx> ids;
  std::vector<float> vecs;
  std::vector<std::size_t> rows;
  const float* xb = flat_storage(*flat_)->get_xb();
  // rows before flat_live_from_ were merged already: without the cursor each
  // step rescanned them, quadratic in a bulk load that outruns the merge
  for (std::size_t row = flat_live_from_; row < flat_dead_.size() && ids.size() < n; ++row) {
    if (flat_dead_[row]) continue;
    rows.push_back(row);
    ids.push_back(flat_->id_map[row]);
    vecs.insert(vecs.end(), xb + row * p_.dim, xb + (row + 1) * p_.dim);
  }
  if (ids.empty()) return;
  const std::size_t first = hnsw_dead_.size();
  hnsw_->add_with_ids(static_cast<faiss_idx>(ids.size()), vecs.data(), ids.data());
  for (std::size_t i = 0; i < ids.size(); ++i) {
    mark_dead(loc{false, static_cast<std::int64_t>(rows[i])});
    hnsw_dead_.push_back(0);
    where_[ids[i]] = loc{true, static_cast<std::int64_t>(first + i)};
  }
  while (flat_live_from_ < flat_dead_.size() && flat_dead_[flat_live_from_]) ++flat_live_from_;
  if (flat_dead_n_ == flat_dead_.size()) flat_reset();  // everything moved: start the buffer afresh
}

std::unique_ptr<vindex::build_job> vindex::build_begin() {
  auto job = std::make_unique<build_job>();
  job->dim = p_.dim;
  job->m = p_.hnsw_m;
  job->efc = p_.ef_construction;
  job->ids.reserve(where_.size());
  for (const auto& [id, l] : where_) job->ids.push_back(id);
  std::sort(job->ids.begin(), job->ids.end());
  job->vecs.resize(job->ids.size() * p_.dim);
  for (std::size_t i = 0; i < job->ids.size(); ++i)
    std::memcpy(job->vecs.data() + i * p_.dim, row_ptr(where_.at(job->ids[i])), sizeof(float) * p_.dim);
  changed_during_build_.clear();
  building_ = true;
  return job;
}

bool vindex::hnsw_build(build_job& job, const std::atomic<bool>& stop,
                        const std::function<void(std::string_view)>& log) {
  omp_set_num_threads(1);
  job.index = hnsw_new(job.dim, job.m, job.efc);
  const std::size_t n = job.ids.size();
  constexpr std::size_t chunk = 1000;
  std::size_t next_log = n / 10;
  for (std::size_t i = 0; i < n; i += chunk) {
    if (stop) return false;
    const std::size_t m = std::min(chunk, n - i);
    std::vector<faiss_idx> ids(job.ids.begin() + i, job.ids.begin() + i + m);
    job.index->add_with_ids(static_cast<faiss_idx>(m), job.vecs.data() + i * job.dim, ids.data());
    if (log && i + m >= next_log && i + m < n) {
      log("memory: HNSW build " + std::to_string(i + m) + "/" + std::to_string(n));
      next_log += std::max<std::size_t>(1, n / 10);
    }
  }
  job.vecs.clear();
  job.vecs.shrink_to_fit();
  return true;
}

void vindex::build_install(build_job& job) {
  const std::size_t n = job.ids.size();
  std::vector<std::uint8_t> dead(n, 0);
  std::vector<std::size_t> deleted;  // rows whose memory was deleted meanwhile: zeroed (forgotten)
  std::size_t dead_n = 0;
  for (std::size_t row = 0; row < n; ++row) {
    const std::int64_t id = job.ids[row];
    auto it = where_.find(id);
    if (changed_during_build_.count(id) || it == where_.end()) {
      dead[row] = 1;  // replaced or deleted while the graph was built
      ++dead_n;
      if (it == where_.end()) deleted.push_back(row);
      continue;
    }
    if (!it->second.in_hnsw) mark_dead(it->second);  // moves from the buffer into the graph
    it->second = loc{true, static_cast<std::int64_t>(row)};
  }
  hnsw_ = std::move(job.index);
  for (std::size_t row : deleted)
    std::memset(const_cast<float*>(row_ptr(loc{true, static_cast<std::int64_t>(row)})), 0, sizeof(float) * p_.dim);
  hnsw_dead_ = std::move(dead);
  hnsw_dead_n_ = dead_n;
  changed_during_build_.clear();
  building_ = false;
  compact();
}

void vindex::build_abandon() {
  changed_during_build_.clear();
  building_ = false;
}

// ---- snapshot bytes -----------------------------------------------------
// u32 version | i32 dim | u8 has_hnsw |
// u64 len, flat index (faiss) | u64 n, flat_dead | [u64 len, hnsw index | u64 n, hnsw_dead]

namespace {
void put_u64(std::vector<std::uint8_t>& b, std::uint64_t v) {
  const auto* p = reinterpret_cast<const std::uint8_t*>(&v);
  b.insert(b.end(), p, p + 8);
}
void put_index(std::vector<std::uint8_t>& b, const faiss::Index* idx) {
  faiss::VectorIOWriter w;
  faiss::write_index(idx, &w);
  put_u64(b, w.data.size());
  b.insert(b.end(), w.data.begin(), w.data.end());
}
void put_bytes(std::vector<std::uint8_t>& b, const std::vector<std::uint8_t>& v) {
  put_u64(b, v.size());
  b.insert(b.end(), v.begin(), v.end());
}
struct reader {
  const std::uint8_t* p;
  std::size_t left;
  bool get(void* out, std::size_t n) {
    if (n > left) return false;
    std::memcpy(out, p, n);
    p += n;
    left -= n;
    return true;
  }
  bool get_u64(std::uint64_t& v) { return get(&v, 8); }
  bool get_bytes(std::vector<std::uint8_t>& v) {
    std::uint64_t n;
    if (!get_u64(n) || n > left) return false;
    v.assign(p, p + n);
    p += n;
    left -= n;
    return true;
  }
};
}  // namespace

std::vector<std::uint8_t> vindex::save() const {
  std::vector<std::uint8_t> b;
  const std::uint32_t version = 1;
  const std::int32_t dim = p_.dim;
  const std::uint8_t has_hnsw = hnsw_ ? 1 : 0;
  b.insert(b.end(), reinterpret_cast<const std::uint8_t*>(&version), reinterpret_cast<const std::uint8_t*>(&version) + 4);
  b.insert(b.end(), reinterpret_cast<const std::uint8_t*>(&dim), reinterpret_cast<const std::uint8_t*>(&dim) + 4);
  b.push_back(has_hnsw);
  put_index(b, flat_.get());
  put_bytes(b, flat_dead_);
  if (hnsw_) {
    put_index(b, hnsw_.get());
    put_bytes(b, hnsw_dead_);
  }
  return b;
}

bool vindex::load(const std::uint8_t* data, std::size_t size, std::string& why) {
  clear();
  reader r{data, size};
  std::uint32_t version = 0;
  std::int32_t dim = 0;
  std::uint8_t has_hnsw = 0;
  if (!r.get(&version, 4) || !r.get(&dim, 4) || !r.get(&has_hnsw, 1)) return why = "truncated header", false;
  if (version != 1) return why = "index format version " + std::to_string(version), false;
  if (dim != p_.dim) return why = "dimension " + std::to_string(dim) + " != " + std::to_string(p_.dim), false;
  try {
    auto read_part = [&](std::unique_ptr<faiss::IndexIDMap2>& out, std::vector<std::uint8_t>& dead,
                         bool hnsw) -> bool {
      faiss::VectorIOReader ir;
      if (!r.get_bytes(ir.data)) return why = "truncated index", false;
      std::unique_ptr<faiss::Index> idx(faiss::read_index(&ir));
      auto* m = dynamic_cast<faiss::IndexIDMap2*>(idx.get());
      if (!m || m->d != p_.dim) return why = "unexpected index type", false;
      if (hnsw) {
        auto* h = dynamic_cast<faiss::IndexHNSWFlat*>(m->index);
        auto* old = h ? dynamic_cast<faiss::IndexFlatIP*>(h->storage) : nullptr;
        if (!old) return why = "unexpected HNSW index type", false;
        auto* fs = new fast_ip_storage(p_.dim);
        fs->codes.swap(old->codes);
        fs->ntotal = old->ntotal;
        delete old;
        h->storage = fs;
      } else if (!dynamic_cast<faiss::IndexFlatIP*>(m->index)) {
        return why = "unexpected flat index type", false;
      }
      idx.release();
      out.reset(m);
      if (!r.get_bytes(dead)) return why = "truncated tombstones", false;
      if (dead.size() != static_cast<std::size_t>(m->ntotal) || m->id_map.size() != dead.size())
        return why = "tombstones do not match the index rows", false;
      return true;
    };
    if (!read_part(flat_, flat_dead_, false)) return clear(), false;
    if (has_hnsw && !read_part(hnsw_, hnsw_dead_, true)) return clear(), false;
  } catch (const std::exception& e) {
    why = std::string("FAISS could not read it: ") + e.what();
    clear();
    return false;
  }
  auto add_rows = [&](bool in_hnsw, const faiss::IndexIDMap2& m, const std::vector<std::uint8_t>& dead,
                      std::size_t& dead_n) {
    for (std::size_t row = 0; row < dead.size(); ++row) {
      if (dead[row]) {
        ++dead_n;
        continue;
      }
      if (!where_.emplace(m.id_map[row], loc{in_hnsw, static_cast<std::int64_t>(row)}).second) return false;
    }
    return true;
  };
  if (!add_rows(false, *flat_, flat_dead_, flat_dead_n_) ||
      (hnsw_ && !add_rows(true, *hnsw_, hnsw_dead_, hnsw_dead_n_))) {
    why = "an id is live twice";
    clear();
    return false;
  }
  if (r.left != 0) {
    why = "trailing bytes";
    clear();
    return false;
  }
  const float* xb = flat_storage(*flat_)->get_xb();
  for (std::size_t row = 0; row < flat_dead_.size(); ++row) flat_scan_put(row, xb + row * p_.dim);
  return true;
}

nlohmann::json vindex::stats() const {
  return {{"kind", hnsw_ ? "hnsw" : "flat"},
          {"live", where_.size()},
          {"flat_rows", flat_dead_.size()},
          {"flat_tombstones", flat_dead_n_},
          {"hnsw_rows", hnsw_dead_.size()},
          {"hnsw_tombstones", hnsw_dead_n_},
          {"building", building_.load()},
          {"screened_rows", screened_.load(std::memory_order_relaxed)},
          {"kernel", vec_kernel_name()}};
}

}  // namespace aikid::memory
