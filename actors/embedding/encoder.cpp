// encoder: the public face of the engine (embedding.hpp). Loads the model
// folder, tokenizes, groups texts into length buckets and runs the forward pass.
#include <algorithm>
#include <bit>
#include <new>
#include <system_error>
#include <numeric>

#include "actors/embedding/bert.hpp"
#include "actors/embedding/embedding.hpp"
#include "actors/embedding/tokenizer.hpp"

namespace aikid::embedding {

// Token rows per forward pass at most (bounds the scratch activations to
// ~28 MB for a 384-wide model; long texts then go a few at a time).
constexpr std::size_t k_max_batch_rows = 2048;

struct encoder::impl {
  bert_config cfg;
  bert_weights w;
  wordpiece_tokenizer tok;
  std::string model_id;
  int threads = 1;
  int max_batch = 32;
  bert_scratch scratch;
};

encoder::encoder(std::unique_ptr<impl> p) : p_(std::move(p)) {}
encoder::~encoder() = default;

int encoder::dim() const { return p_->cfg.hidden; }
int encoder::max_tokens() const { return p_->cfg.max_seq; }
const std::string& encoder::model_id() const { return p_->model_id; }
void encoder::set_threads(int n) { p_->threads = std::max(1, n); }

expected<std::unique_ptr<encoder>> encoder::load(const encoder_options& o) {
  blis_arch_pick();
  try {
    return load_model(o);
  } catch (const std::bad_alloc&) {
    return error{errc::unavailable, o.model_dir.string() + ": out of memory loading the model"};
  }
}

expected<std::unique_ptr<encoder>> encoder::load_model(const encoder_options& o) {
  if (o.threads < 1) return error{errc::bad_request, "embedding: threads must be >= 1"};
  if (o.max_batch < 1) return error{errc::bad_request, "embedding: max_batch must be >= 1"};
  std::error_code ec;
  if (!std::filesystem::is_directory(o.model_dir, ec))
    return error{errc::unavailable, o.model_dir.string() + ": model folder missing"};
  auto cfg = bert_config_load(o.model_dir);
  if (!cfg) return cfg.error();
  auto tok = wordpiece_tokenizer::load(o.model_dir / "vocab.txt", cfg->tok);
  if (!tok) return tok.error();
  if (tok->vocab_size() > static_cast<std::size_t>(cfg->vocab))
    return error{errc::unavailable, "vocab.txt: " + std::to_string(tok->vocab_size()) +
                                        " tokens but config.json vocab_size is " + std::to_string(cfg->vocab)};
  auto file = st_file::open(o.model_dir / "model.safetensors");
  if (!file) return file.error();
  const std::string digest = sha256_hex(file->bytes().data(), file->bytes().size());
  auto w = bert_weights_load(std::move(*file), *cfg);
  if (!w) return w.error();

  auto p = std::make_unique<impl>();
  p->cfg = std::move(*cfg);
  p->w = std::move(*w);
  p->tok = std::move(*tok);
  std::string name = o.model_dir.filename().string();
  if (name.empty() || name == ".") name = o.model_dir.parent_path().filename().string();
  p->model_id = name + ":" + digest.substr(0, 12);
  p->threads = o.threads;
  p->max_batch = o.max_batch;
  return std::unique_ptr<encoder>(new encoder(std::move(p)));
}

expected<std::vector<std::int32_t>> encoder::tokenize(std::string_view text, bool* truncated) const {
  return p_->tok.encode(text, p_->cfg.max_seq, truncated);
}

expected<encode_output> encoder::encode(const std::vector<std::string>& texts) {
  try {
    return encode_batches(texts);
  } catch (const std::bad_alloc&) {
    return error{errc::internal, "embedding: out of memory encoding " + std::to_string(texts.size()) + " texts"};
  } catch (const std::system_error& e) {  // the forward pass's helper threads could not start
    return error{errc::internal, std::string("embedding: cannot start encoder threads: ") + e.what()};
  }
}

expected<encode_output> encoder::encode_batches(const std::vector<std::string>& texts) {
  impl& m = *p_;
  const std::size_t n = texts.size();
  const int H = m.cfg.hidden;
  // 1. tokenize everything first: one bad text fails the call before any work.
  std::vector<std::vector<std::int32_t>> ids(n);
  encode_output out;
  out.truncated.resize(n);
  out.n_tokens.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    bool cut = false;
    auto t = m.tok.encode(texts[i], m.cfg.max_seq, &cut);
    if (!t) return error{t.error().code, "text " + std::to_string(i) + ": " + t.error().message};
    ids[i] = std::move(*t);
    out.truncated[i] = cut ? 1 : 0;
    out.n_tokens[i] = static_cast<int>(ids[i].size());
  }
  out.vectors.assign(n * static_cast<std::size_t>(H), 0.0f);

  // 2. length buckets: sort by length, cut a batch at max_batch, at
  //    k_max_batch_rows tokens, or when the length bucket (next power of two)
  //    changes, so each batch's sequences have similar lengths.
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return ids[a].size() < ids[b].size(); });
  auto bucket = [](std::size_t len) { return std::bit_width(len > 1 ? len - 1 : 1); };
  std::vector<std::int32_t> flat;
  std::vector<int> lens;
  std::vector<float> pooled;
  for (std::size_t at = 0; at < n;) {
    std::size_t end = at + 1, rows = ids[order[at]].size();
    while (end < n && end - at < static_cast<std::size_t>(m.max_batch) &&
           bucket(ids[order[end]].size()) == bucket(ids[order[at]].size()) &&
           rows + ids[order[end]].size() <= k_max_batch_rows)
      rows += ids[order[end++]].size();
    flat.clear();
    lens.clear();
    for (std::size_t i = at; i < end; ++i) {
      const auto& v = ids[order[i]];
      flat.insert(flat.end(), v.begin(), v.end());
      lens.push_back(static_cast<int>(v.size()));
    }
    pooled.resize(lens.size() * static_cast<std::size_t>(H));
    // 3. forward pass; scatter rows back to the callers' order.
    bert_forward(m.cfg, m.w, flat.data(), lens, m.threads, m.scratch, pooled.data());
    for (std::size_t i = at; i < end; ++i)
      std::copy_n(pooled.data() + (i - at) * H, H, out.vectors.data() + order[i] * H);
    at = end;
  }
  return out;
}

}  // namespace aikid::embedding
