// Prompt builder: what the model sees when no template answers. Written for a
// 135M model, which follows a short plain system message and is thrown by
// dumps (bullets, "- subject relation object", JSON):
//
//   system:    <system prompt>
//
//              Facts:
//              Kari lives in Bergen.                               (kept third-longest)
//
//              From earlier conversations:
//              <a memory, on one line, cut to kMemoryChars>        (dropped first)
//   user/assistant: the recent turns, oldest first                 (older ones dropped second)
//   user:      <the user's text>                                   (always kept)
//
// Priority, highest first: system prompt, user text, latest turn (all three
// always kept) > facts (in the order given) > older turns (newest first) >
// memories (best score first). Each class is kept as a prefix in its own
// order, and a class is only considered once every class above it fits whole.
// Sizes are first summed piece by piece, then the assembled messages are
// counted exactly and trimmed further (lowest priority first) until they fit.
// Which turns and memories are offered at all is the caller's choice
// (compose: synthesis.prompt_turns, synthesis.prompt_memory_score).
#include <algorithm>

#include "actors/synthesis/synthesis.hpp"

namespace aikid::synthesis {

namespace {

constexpr std::string_view kFactsHeader = "\n\nFacts:\n";
constexpr std::string_view kMemoriesHeader = "\n\nFrom earlier conversations:\n";
constexpr std::size_t kMemoryChars = 200;  // a memory longer than this is cut (at a word)

// "Kari lives in Bergen." — a plain sentence: relation's '_' as spaces, the
// first letter capitalised (ASCII), one full stop.
std::string fact_line(const fact& f) {
  if (!f.said.empty()) return f.said;  // understanding's sentence ("Your brother Jonas lives in Stavanger.")
  std::string r = f.relation;
  std::replace(r.begin(), r.end(), '_', ' ');
  std::string line = f.subject + " " + r + " " + f.object;
  if (f.attrs.is_object()) {
    if (auto it = f.attrs.find("due"); it != f.attrs.end()) {
      line += " (due ";
      line += it->is_string() ? it->get<std::string>() : json_dump(*it);
      line += ")";
    }
  }
  if (!line.empty() && line[0] >= 'a' && line[0] <= 'z') line[0] = static_cast<char>(line[0] - 'a' + 'A');
  if (line.back() != '.' && line.back() != '!' && line.back() != '?') line += '.';
  line += "\n";
  return line;
}

// One line: white space runs as one space, cut at a word past kMemoryChars.
std::string memory_line(const memory_hit& m) {
  std::string t;
  for (char c : m.text) {
    const bool sp = c == ' ' || c == '\n' || c == '\t' || c == '\r';
    if (sp) {
      if (!t.empty() && t.back() != ' ') t += ' ';
    } else {
      t += c;
    }
  }
  while (!t.empty() && t.back() == ' ') t.pop_back();
  if (t.size() > kMemoryChars) {
    std::size_t cut = t.rfind(' ', kMemoryChars);
    if (cut == std::string::npos || cut < kMemoryChars / 2) {
      cut = kMemoryChars;
      while (cut > 0 && (static_cast<unsigned char>(t[cut]) & 0xC0) == 0x80) --cut;  // a whole character
    }
    t.resize(cut);
    t += "…";
  }
  return t + "\n";
}

}  // namespace

expected<prompt_result> prompt_build(const prompt_input& in, const prompt_budget& budget,
                                     const count_tokens_fn& count) {
  if (budget.max_tokens <= 0) return error{errc::bad_request, "budget.max_tokens: must be > 0"};
  if (!count) return error{errc::bad_request, "count_tokens: no function given"};
  try {
    const int ov = std::max(0, budget.per_message_overhead);
    const std::size_t nturns = in.turns.size();
    const int c_sys = count(in.system_prompt) + ov;
    const int c_user = count(in.user_text) + ov;
    const int c_latest = nturns ? count(in.turns.back().text) + ov : 0;
    const int fixed = c_sys + c_user + c_latest;
    if (fixed > budget.max_tokens) {
      return error{errc::too_large,
                   "prompt: the system prompt (" + std::to_string(c_sys) + " tokens), the user's text (" +
                       std::to_string(c_user) + ") and the latest turn (" + std::to_string(c_latest) +
                       ") exceed the budget of " + std::to_string(budget.max_tokens)};
    }
    int left = budget.max_tokens - fixed;

    // Facts: a prefix in the given order.
    std::size_t facts_kept = 0;
    std::vector<std::string> fact_lines;
    bool all_fit = true;
    if (!in.facts.empty()) {
      const int hdr = count(kFactsHeader);
      int used = hdr;
      for (const auto& f : in.facts) {
        auto line = fact_line(f);
        const int c = count(line);
        if (used + c > left) {
          all_fit = false;
          break;
        }
        used += c;
        fact_lines.push_back(std::move(line));
      }
      facts_kept = fact_lines.size();
      if (facts_kept > 0) left -= used;
      if (facts_kept == 0) all_fit = false;
    }
    // Older turns: newest first (the latest one is already counted).
    std::size_t older_kept = 0;
    if (all_fit && nturns > 1) {
      for (std::size_t i = nturns - 1; i-- > 0;) {
        const int c = count(in.turns[i].text) + ov;
        if (c > left) {
          all_fit = false;
          break;
        }
        left -= c;
        ++older_kept;
      }
    }
    // Memories: best score first, taken lazily from a heap (sets can be huge).
    std::vector<std::size_t> mem_kept;
    std::vector<std::string> mem_lines;
    if (all_fit && !in.memories.empty()) {
      std::vector<std::size_t> heap(in.memories.size());
      for (std::size_t i = 0; i < heap.size(); ++i) heap[i] = i;
      auto worse = [&](std::size_t a, std::size_t b) {
        if (in.memories[a].score != in.memories[b].score) return in.memories[a].score < in.memories[b].score;
        return a > b;
      };
      std::make_heap(heap.begin(), heap.end(), worse);
      int used = count(kMemoriesHeader);
      while (!heap.empty()) {
        std::pop_heap(heap.begin(), heap.end(), worse);
        const auto i = heap.back();
        heap.pop_back();
        auto line = memory_line(in.memories[i]);
        if (line == "\n" || std::string_view(line).substr(0, line.size() - 1) == in.user_text) continue;
        const int c = count(line);
        if (used + c > left) break;
        used += c;
        mem_kept.push_back(i);
        mem_lines.push_back(std::move(line));
      }
    }

    // Assemble, count exactly, trim until it fits.
    prompt_result r;
    for (;;) {
      std::string sys(in.system_prompt);
      if (facts_kept) {
        sys += kFactsHeader;
        for (std::size_t i = 0; i < facts_kept; ++i) sys += fact_lines[i];
      }
      if (!mem_kept.empty()) {
        while (!sys.empty() && sys.back() == '\n') sys.pop_back();  // one blank line between the parts
        sys += kMemoriesHeader;
        for (const auto& l : mem_lines) sys += l;
      }
      while (!sys.empty() && sys.back() == '\n') sys.pop_back();
      r.messages.clear();
      r.messages.push_back({"system", std::move(sys)});
      const std::size_t first_turn = nturns - (nturns ? older_kept + 1 : 0);
      for (std::size_t i = first_turn; i < nturns; ++i) {
        r.messages.push_back({in.turns[i].role == "assistant" ? "assistant" : "user", in.turns[i].text});
      }
      r.messages.push_back({"user", std::string(in.user_text)});
      int total = 0;
      for (const auto& m : r.messages) total += count(m.content) + ov;
      r.tokens = total;
      if (total <= budget.max_tokens) break;
      if (!mem_kept.empty()) {
        mem_kept.pop_back();
        mem_lines.pop_back();
      } else if (older_kept > 0) {
        --older_kept;
      } else if (facts_kept > 0) {
        --facts_kept;
      } else {
        return error{errc::too_large, "prompt: the system prompt, the user's text and the latest turn take " +
                                          std::to_string(total) + " tokens, over the budget of " +
                                          std::to_string(budget.max_tokens)};
      }
    }
    for (auto i : mem_kept) r.memory_ids.push_back(in.memories[i].id);
    r.facts_kept = facts_kept;
    r.turns_kept = nturns ? older_kept + 1 : 0;
    return r;
  } catch (const std::exception& e) {
    return error{errc::internal, std::string("prompt: count_tokens failed: ") + e.what()};
  }
}

}  // namespace aikid::synthesis
