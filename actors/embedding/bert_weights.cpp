// bert_weights_load: bind each tensor of the safetensors file to its place in
// the encoder, checking dtype and shape against the config.
#include <cstring>

#include "actors/embedding/bert.hpp"

namespace aikid::embedding {

namespace {

std::string shape_str(const std::vector<std::int64_t>& s) {
  std::string r = "[";
  for (std::size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

struct binder {
  bert_weights& w;
  std::string err;

  // Finds `name` (or "bert." + name), checks F32 and `shape`; returns a float
  // pointer (the mapping itself when 4-byte aligned, else an owned copy).
  const float* bind(const std::string& name, std::vector<std::int64_t> shape) {
    if (!err.empty()) return nullptr;
    const st_tensor* t = w.file.find(name);
    if (!t) t = w.file.find("bert." + name);
    const std::string& label = w.file.label();
    if (!t) {
      err = label + ": tensor '" + name + "' missing";
      return nullptr;
    }
    if (t->dtype != st_dtype::F32) {
      err = label + ": tensor '" + t->name + "': dtype " + std::string(st_dtype_name(t->dtype)) +
            " is not supported (F32 is)";
      return nullptr;
    }
    if (t->shape != shape) {
      err = label + ": tensor '" + t->name + "': shape " + shape_str(t->shape) + ", expected " + shape_str(shape);
      return nullptr;
    }
    if (reinterpret_cast<std::uintptr_t>(t->data) % alignof(float) == 0)
      return reinterpret_cast<const float*>(t->data);
    std::vector<float> copy(static_cast<std::size_t>(t->n_elements()));
    std::memcpy(copy.data(), t->data, copy.size() * sizeof(float));
    w.copies.push_back(std::move(copy));
    return w.copies.back().data();
  }
};

// dst[c * ld + r] = src[r * cols + c]: src is [rows, cols] row-major.
void transpose_into(const float* src, std::int64_t rows, std::int64_t cols, float* dst, std::int64_t ld) {
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t c = 0; c < cols; ++c) dst[c * ld + r] = src[r * cols + c];
}

// The [cols, rows] transpose of a [rows, cols] row-major matrix.
std::vector<float> transposed(const float* src, std::int64_t rows, std::int64_t cols) {
  std::vector<float> t(static_cast<std::size_t>(rows * cols));
  transpose_into(src, rows, cols, t.data(), rows);
  return t;
}

const float* keep(bert_weights& w, std::vector<float> v) {
  w.copies.push_back(std::move(v));
  return w.copies.back().data();
}

}  // namespace

expected<bert_weights> bert_weights_load(st_file file, const bert_config& c) {
  bert_weights w;
  w.file = std::move(file);
  binder b{w, {}};
  const std::int64_t H = c.hidden, F = c.ffn;
  w.word = b.bind("embeddings.word_embeddings.weight", {c.vocab, H});
  w.pos = b.bind("embeddings.position_embeddings.weight", {c.max_pos, H});
  w.type = b.bind("embeddings.token_type_embeddings.weight", {c.type_vocab, H});
  w.ln_g = b.bind("embeddings.LayerNorm.weight", {H});
  w.ln_b = b.bind("embeddings.LayerNorm.bias", {H});
  for (int i = 0; i < c.layers && b.err.empty(); ++i) {
    const std::string p = "encoder.layer." + std::to_string(i) + ".";
    bert_layer l{};
    l.wq = b.bind(p + "attention.self.query.weight", {H, H});
    l.bq = b.bind(p + "attention.self.query.bias", {H});
    l.wk = b.bind(p + "attention.self.key.weight", {H, H});
    l.bk = b.bind(p + "attention.self.key.bias", {H});
    l.wv = b.bind(p + "attention.self.value.weight", {H, H});
    l.bv = b.bind(p + "attention.self.value.bias", {H});
    l.wo = b.bind(p + "attention.output.dense.weight", {H, H});
    l.bo = b.bind(p + "attention.output.dense.bias", {H});
    l.ln1_g = b.bind(p + "attention.output.LayerNorm.weight", {H});
    l.ln1_b = b.bind(p + "attention.output.LayerNorm.bias", {H});
    l.w1 = b.bind(p + "intermediate.dense.weight", {F, H});
    l.b1 = b.bind(p + "intermediate.dense.bias", {F});
    l.w2 = b.bind(p + "output.dense.weight", {H, F});
    l.b2 = b.bind(p + "output.dense.bias", {H});
    l.ln2_g = b.bind(p + "output.LayerNorm.weight", {H});
    l.ln2_b = b.bind(p + "output.LayerNorm.bias", {H});
    if (b.err.empty()) {
      // Transposed copies for the forward pass; Q, K and V share one product.
      const std::size_t hh = static_cast<std::size_t>(H) * H;
      std::vector<float> wqkv(3 * hh), bqkv(3 * static_cast<std::size_t>(H));
      transpose_into(l.wq, H, H, wqkv.data(), 3 * H);
      transpose_into(l.wk, H, H, wqkv.data() + H, 3 * H);
      transpose_into(l.wv, H, H, wqkv.data() + 2 * H, 3 * H);
      std::memcpy(bqkv.data(), l.bq, H * sizeof(float));
      std::memcpy(bqkv.data() + H, l.bk, H * sizeof(float));
      std::memcpy(bqkv.data() + 2 * H, l.bv, H * sizeof(float));
      l.wqkv_t = keep(w, std::move(wqkv));
      l.bqkv = keep(w, std::move(bqkv));
      l.wo_t = keep(w, transposed(l.wo, H, H));
      l.w1_t = keep(w, transposed(l.w1, F, H));
      l.w2_t = keep(w, transposed(l.w2, H, F));
    }
    w.layer.push_back(l);
  }
  if (!b.err.empty()) return error{errc::unavailable, b.err};
  return w;
}

}  // namespace aikid::embedding
