// Weight views of a loaded llama model (internal to the engine and its tests).
#pragma once

#include <vector>

#include "actors/inference/inference.hpp"
#include "actors/inference/kernels.hpp"

namespace aikid::inference {

// Shapes use ggml order {ne0 = input/row length, ne1 = rows = outputs}.
struct layer_weights {
  std::vector<float> attn_norm;  // {n_embd}
  weight_view wq;                // {n_embd, n_head*head_dim}
  weight_view wk;                // {n_embd, n_head_kv*head_dim}
  weight_view wv;                // {n_embd, n_head_kv*head_dim}
  weight_view wo;                // {n_head*head_dim, n_embd}
  std::vector<float> ffn_norm;   // {n_embd}
  weight_view w_gate;            // {n_embd, n_ff}
  weight_view w_up;              // {n_embd, n_ff}
  weight_view w_down;            // {n_ff, n_embd}
};

struct model::globals {
  weight_view token_embd;         // {n_embd, n_vocab}
  std::vector<float> output_norm; // {n_embd}
  weight_view output;             // {n_embd, n_vocab}; = token_embd when tied
  std::vector<float> rope_freqs;  // {n_rot/2} optional frequency factors (empty = none)
};

}  // namespace aikid::inference
