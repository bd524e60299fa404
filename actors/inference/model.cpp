// model::load — hyper-parameters, tensor binding and validation; tokenizer
// entry points.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string_view>

#include "actors/inference/gguf.hpp"
#include "actors/inference/model_impl.hpp"
#include "actors/inference/vocab.hpp"

namespace aikid::inference {

model::model() = default;
model::~model() = default;

namespace {

std::string file_type_name(std::int64_t ft) {
  switch (ft) {
    case 0: return "F32";
    case 1: return "F16";
    case 2: return "Q4_0";
    case 3: return "Q4_1";
    case 7: return "Q8_0";
    case 8: return "Q5_0";
    case 9: return "Q5_1";
    case 10: return "Q2_K";
    case 11: return "Q3_K_S";
    case 12: return "Q3_K_M";
    case 13: return "Q3_K_L";
    case 14: return "Q4_K_S";
    case 15: return "Q4_K_M";
    case 16: return "Q5_K_S";
    case 17: return "Q5_K_M";
    case 18: return "Q6_K";
    case 32: return "BF16";
    default: return "ftype#" + std::to_string(ft);
  }
}

struct binder {
  const gguf_file& f;

  error fail(const std::string& msg) const { return error{errc::unavailable, f.name() + ": " + msg}; }

  // A 2-D matrix {n, rows} of a type the kernels can multiply.
  expected<weight_view> matrix(const std::string& name, std::int64_t n, std::int64_t rows) const {
    const gguf_tensor* t = f.find_tensor(name);
    if (!t) return fail("missing tensor '" + name + "'");
    if (t->ne[0] != n || t->ne[1] != rows || t->ne[2] != 1 || t->ne[3] != 1) {
      return fail("tensor '" + name + "' has shape {" + std::to_string(t->ne[0]) + ", " + std::to_string(t->ne[1]) +
                  ", " + std::to_string(t->ne[2]) + ", " + std::to_string(t->ne[3]) + "}, expected {" +
                  std::to_string(n) + ", " + std::to_string(rows) + "}");
    }
    const auto tr = type_traits_of(std::uint32_t(t->type));
    if (!tr || !tr->supported) {
      return fail("tensor '" + name + "' has type " + type_name(t->type) +
                  ", which this engine does not support (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K)");
    }
    if (reinterpret_cast<std::uintptr_t>(t->data) % 4 != 0) {
      return fail("tensor '" + name + "' data is not 4-byte aligned (general.alignment " +
                  std::to_string(f.alignment()) + ")");
    }
    weight_view w;
    w.type = t->type;
    w.n = n;
    w.rows = rows;
    w.row_bytes = std::size_t(n / tr->block) * std::size_t(tr->block_bytes);
    w.data = t->data;
    return w;
  }

  // A vector of n floats (dequantised copy).
  expected<std::vector<float>> vec(const std::string& name, std::int64_t n) const {
    const gguf_tensor* t = f.find_tensor(name);
    if (!t) return fail("missing tensor '" + name + "'");
    if (t->n_elements() != n || t->ne[0] != n) {
      return fail("tensor '" + name + "' has " + std::to_string(t->n_elements()) + " elements, expected " +
                  std::to_string(n));
    }
    const auto tr = type_traits_of(std::uint32_t(t->type));
    if (!tr || !tr->supported) {
      return fail("tensor '" + name + "' has type " + type_name(t->type) + ", which this engine does not support");
    }
    std::vector<float> out(static_cast<std::size_t>(n));
    dequantize_row(t->type, t->data, out.data(), n);
    return out;
  }
};

// AIKID_PACK=0 in the environment keeps the file layout (to measure the
// packed kernels against the row kernels).
bool pack_disabled() {
  const char* v = std::getenv("AIKID_PACK");
  return v != nullptr && std::string_view(v) == "0";
}

}  // namespace

expected<std::unique_ptr<model>> model::load(const model_options& opts) {
  try {
    return load_impl(opts);
  } catch (const std::exception& e) {  // allocation failure or a library exception
    return error{errc::internal, opts.path.string() + ": loading failed: " + e.what()};
  }
}

expected<std::unique_ptr<model>> model::load_impl(const model_options& opts) {
  auto file = gguf_file::open(opts.path);
  if (!file) return file.error();
  const gguf_file& f = **file;
  std::unique_ptr<model> m(new model());
  model_info& in = m->info_;
  in.file_bytes = f.size();

  // ---- architecture and hyper-parameters ----
  auto arch = f.get_string("general.architecture");
  if (!arch) return arch.error();
  in.arch = *arch;
  if (in.arch != "llama") {
    return error{errc::unavailable, f.name() + ": key 'general.architecture': architecture '" + in.arch +
                                        "' is not supported (only 'llama')"};
  }
  if (auto nm = f.get_string("general.name")) in.name = *nm;
  if (f.find("general.file_type")) {
    auto ft = f.get_int("general.file_type");
    if (!ft) return ft.error();
    in.file_type = file_type_name(*ft);
  }
  const std::string a = in.arch + ".";
  auto geti = [&](const std::string& key, std::int64_t lo, std::int64_t hi, std::int64_t def,
                  bool required) -> expected<int> {
    auto v = required ? f.get_int(key) : f.get_int(key, def);
    if (!v) return v.error();
    if (*v < lo || *v > hi) {
      return error{errc::unavailable, f.name() + ": key '" + key + "' = " + std::to_string(*v) +
                                          " is out of range [" + std::to_string(lo) + ", " + std::to_string(hi) + "]"};
    }
    return int(*v);
  };
  auto ctx = geti(a + "context_length", 1, 1 << 24, 0, true);
  if (!ctx) return ctx.error();
  auto embd = geti(a + "embedding_length", 1, 1 << 16, 0, true);
  if (!embd) return embd.error();
  auto nl = geti(a + "block_count", 1, 1024, 0, true);
  if (!nl) return nl.error();
  auto nff = geti(a + "feed_forward_length", 1, 1 << 18, 0, true);
  if (!nff) return nff.error();
  auto nh = geti(a + "attention.head_count", 1, 1024, 0, true);
  if (!nh) return nh.error();
  auto nhkv = geti(a + "attention.head_count_kv", 1, 1024, *nh, false);
  if (!nhkv) return nhkv.error();
  in.n_ctx_train = *ctx;
  in.n_embd = *embd;
  in.n_layer = *nl;
  in.n_ff = *nff;
  in.n_head = *nh;
  in.n_head_kv = *nhkv;
  if (in.n_embd % in.n_head != 0 || in.n_head % in.n_head_kv != 0 || (in.n_embd / in.n_head) % 2 != 0) {
    return error{errc::unavailable, f.name() + ": inconsistent heads: n_embd " + std::to_string(in.n_embd) +
                                        ", head_count " + std::to_string(in.n_head) + ", head_count_kv " +
                                        std::to_string(in.n_head_kv)};
  }
  const int head_dim = in.n_embd / in.n_head;
  auto nrot = geti(a + "rope.dimension_count", 2, head_dim, head_dim, false);
  if (!nrot) return nrot.error();
  in.n_rot = *nrot;
  if (in.n_rot % 2 != 0) return error{errc::unavailable, f.name() + ": key '" + a + "rope.dimension_count' is odd"};
  auto base = f.get_float(a + "rope.freq_base", 10000.0);
  if (!base) return base.error();
  auto eps = f.get_float(a + "attention.layer_norm_rms_epsilon", 1e-5);
  if (!eps) return eps.error();
  if (!(*base > 0) || !(*eps > 0) || !std::isfinite(*base) || !std::isfinite(*eps)) {
    return error{errc::unavailable, f.name() + ": rope.freq_base / layer_norm_rms_epsilon must be positive"};
  }
  in.rope_freq_base = float(*base);
  in.rms_eps = float(*eps);
  if (const gguf_value* st = f.find(a + "rope.scaling.type")) {
    auto s = f.get_string(a + "rope.scaling.type");
    if (!s) return s.error();
    if (*s == "linear") {
      auto fac = f.get_float(a + "rope.scaling.factor", 1.0);
      if (!fac) return fac.error();
      if (!(*fac > 0) || !std::isfinite(*fac)) {
        return error{errc::unavailable, f.name() + ": key '" + a + "rope.scaling.factor' must be positive"};
      }
      in.rope_freq_scale = float(1.0 / *fac);
    } else if (*s != "none") {
      return error{errc::unavailable, f.name() + ": key '" + a + "rope.scaling.type': rope scaling '" + *s +
                                          "' is not supported (none, linear)"};
    }
    (void)st;
  } else if (f.find(a + "rope.scale_linear")) {
    auto fac = f.get_float(a + "rope.scale_linear");
    if (!fac) return fac.error();
    if (*fac > 0 && std::isfinite(*fac)) in.rope_freq_scale = float(1.0 / *fac);
  }
  if (f.find(a + "expert_count")) {
    auto ne = f.get_int(a + "expert_count");
    if (ne && *ne > 0) {
      return error{errc::unavailable, f.name() + ": key '" + a + "expert_count': mixture-of-experts llama is not supported"};
    }
  }

  // ---- tensor types (for info) ----
  for (const auto& t : f.tensors()) ++in.tensor_types[type_name(t.type)];

  // ---- tokenizer ----
  auto voc = vocab::load(f);
  if (!voc) return voc.error();
  m->vocab_ = std::make_unique<vocab>(std::move(*voc));
  in.n_vocab = m->vocab_->n_tokens();

  // ---- tensors ----
  const binder b{f};
  auto g = std::make_unique<globals>();
  const int E = in.n_embd, kv = in.n_head_kv * head_dim, V = in.n_vocab;
  auto emb = b.matrix("token_embd.weight", E, V);
  if (!emb) return emb.error();
  g->token_embd = *emb;
  auto onorm = b.vec("output_norm.weight", E);
  if (!onorm) return onorm.error();
  g->output_norm = std::move(*onorm);
  if (f.find_tensor("output.weight")) {
    auto out = b.matrix("output.weight", E, V);
    if (!out) return out.error();
    g->output = *out;
  } else {
    g->output = g->token_embd;
    in.tied_output = true;
  }
  if (f.find_tensor("rope_freqs.weight")) {
    auto rf = b.vec("rope_freqs.weight", in.n_rot / 2);
    if (!rf) return rf.error();
    g->rope_freqs = std::move(*rf);
  }
  m->globals_ = std::move(g);
  m->layers_.resize(std::size_t(in.n_layer));
  for (int l = 0; l < in.n_layer; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    layer_weights& L = m->layers_[std::size_t(l)];
    auto set_m = [&](weight_view& dst, const char* nm, std::int64_t n, std::int64_t rows) -> expected<void> {
      auto w = b.matrix(p + nm, n, rows);
      if (!w) return w.error();
      dst = *w;
      return {};
    };
    auto set_v = [&](std::vector<float>& dst, const char* nm) -> expected<void> {
      auto v = b.vec(p + nm, E);
      if (!v) return v.error();
      dst = std::move(*v);
      return {};
    };
    for (auto r : {set_v(L.attn_norm, "attn_norm.weight"), set_m(L.wq, "attn_q.weight", E, E),
                   set_m(L.wk, "attn_k.weight", E, kv), set_m(L.wv, "attn_v.weight", E, kv),
                   set_m(L.wo, "attn_output.weight", E, E), set_v(L.ffn_norm, "ffn_norm.weight"),
                   set_m(L.w_gate, "ffn_gate.weight", E, in.n_ff), set_m(L.w_up, "ffn_up.weight", E, in.n_ff),
                   set_m(L.w_down, "ffn_down.weight", in.n_ff, E)}) {
      if (!r) return r.error();
    }
  }

  // ---- context and kernels ----
  const int cap = opts.n_ctx_cap > 0 ? opts.n_ctx_cap : 8192;
  in.n_ctx = std::min(opts.n_ctx > 0 ? opts.n_ctx : cap, in.n_ctx_train);
  m->kernels_ = &kernels_select();
  in.kernels = std::string(m->kernels_->name);
  // ---- weights repacked for the kernels, where the table has a layout ----
  // One copy per matrix (the same size as the file's), made once; the
  // file's pages of a repacked matrix are released, so resident memory
  // stays about one model. The token embedding rows keep the file layout
  // (read one row at a time, they fault back in a page at a time); a tied
  // output gets its own copy.
  if (const kernel_table& k = *m->kernels_; k.pack_bytes && !pack_disabled()) {
    auto repack = [&](weight_view& w, bool release) {
      const std::size_t bytes = k.pack_bytes(w.type, w.n, w.rows);
      if (bytes == 0) return;
      std::vector<std::byte>& buf = m->packed_.emplace_back(bytes);
      // in slices of 1024 rows, each released once copied, so the copy and
      // the file's pages of one matrix are not resident together (the packed
      // layouts keep groups of 4 rows in the same bytes as the file's rows)
      const std::int64_t slice = bytes == std::size_t(w.rows) * w.row_bytes ? 1024 : w.rows;
      for (std::int64_t r0 = 0; r0 < w.rows; r0 += slice) {
        const std::int64_t nr = std::min(slice, w.rows - r0);
        const std::size_t off = std::size_t(r0) * w.row_bytes;
        k.pack(w.type, w.n, nr, w.data + off, w.row_bytes, buf.data() + off);
        if (release) f.release(w.data + off, std::size_t(nr) * w.row_bytes);
      }
      w.data = buf.data();
      w.packed_by = &k;
    };
    for (layer_weights& L : m->layers_) {
      for (weight_view* w : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down}) repack(*w, true);
    }
    repack(m->globals_->output, true);  // embedding rows of a tied output fault back in one page at a time
  }
  in.n_threads = std::clamp(opts.threads, 1, 64);
  m->file_ = std::move(*file);
  return m;
}

// ---- tokenizer entry points -------------------------------------------------------
namespace {
std::vector<chat_turn> turns_of(const std::vector<chat_message>& msgs) {
  std::vector<chat_turn> t;
  t.reserve(msgs.size());
  for (const auto& m : msgs) t.push_back({m.role, m.content});
  return t;
}
}  // namespace

std::vector<std::int32_t> model::tokenize(std::string_view text) const { return vocab_->tokenize(text, false); }

std::vector<std::int32_t> model::tokenize_chat(const std::vector<chat_message>& msgs,
                                               bool add_generation_prompt) const {
  return vocab_->tokenize_chat(turns_of(msgs), add_generation_prompt);
}

std::string model::render_chat(const std::vector<chat_message>& msgs, bool add_generation_prompt) const {
  return vocab_->render_chat(turns_of(msgs), add_generation_prompt);
}

std::string model::token_to_piece(std::int32_t id) const { return vocab_->token_to_piece(id); }

bool model::is_eog(std::int32_t id) const { return vocab_->is_eog(id); }

}  // namespace aikid::inference
