// understand_dialogues — the understanding engine alone (no daemon, no model)
// over dialogue files of ../shared/eval's shape: each dialogue its own user;
// every `said` line, then the question(s). Prints, per file: questions
// answered right (every answer_has group has a word in the answer), answered
// from facts / memory / not known / not understood, and the engine's time per
// percept (p50, p99). bench/synthesis/run_dialogues.py runs the same files
// against the real daemon; this is the quick loop for the rules.
//
//   understand_dialogues [--verbose] [--understand DIR] [--time DIR] FILE.jsonl…
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include <nlohmann/json.hpp>

#include "actors/synthesis/synthesis.hpp"

namespace syn = aikid::synthesis;
using json = nlohmann::json;

namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool has_all(const std::string& answer, const json& groups) {
  const std::string a = lower(answer);
  for (const auto& g : groups) {
    bool any = false;
    for (const auto& w : g) any = any || a.find(lower(w.get<std::string>())) != std::string::npos;
    if (!any) return false;
  }
  return true;
}

double pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

}  // namespace

int main(int argc, char** argv) {
  bool verbose = false;
  std::filesystem::path und_dir = "config/understand", time_dir = "config/time";
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--verbose") verbose = true;
    else if (a == "--understand" && i + 1 < argc) und_dir = argv[++i];
    else if (a == "--time" && i + 1 < argc) time_dir = argv[++i];
    else files.push_back(a);
  }
  auto u = syn::understanding_load_dir(und_dir);
  if (!u) {
    std::cerr << u.error().message << "\n";
    return 2;
  }
  auto words = syn::time_words_load_dir(time_dir);
  if (!words) {
    std::cerr << words.error().message << "\n";
    return 2;
  }
  auto tz = *syn::zone_open("Europe/Oslo");
  auto dir = std::filesystem::temp_directory_path() / ("understand-bench-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto g = syn::kg_open(dir / "kg.sqlite");
  if (!g) {
    std::cerr << g.error().message << "\n";
    return 2;
  }
  auto st = syn::understand_state_new();
  const std::int64_t now = 1796651340000;  // Monday 7 December 2026 13:49 Oslo
  std::printf("| file | questions | right | from facts | from memory | not known | not understood | statements taken | p50 ms | p99 ms |\n");
  std::printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  int user_no = 0;
  for (const auto& file : files) {
    std::ifstream in(file);
    std::string line;
    int questions = 0, right = 0, facts = 0, memory = 0, unknown = 0, none = 0, said_n = 0, taken = 0;
    std::vector<double> ms;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      auto d = json::parse(line);
      const std::string user = "u" + std::to_string(++user_no);
      std::vector<syn::memory_hit> memories;
      auto run = [&](const std::string& text) {
        syn::understand_input ui;
        ui.user = user;
        ui.text = text;
        ui.memories = memories;
        ui.words = &*words;
        ui.tz = tz.get();
        ui.now_ms = now;
        auto t0 = std::chrono::steady_clock::now();
        auto r = syn::understand(**g, **u, *st, ui);
        ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
        if (!r) {
          std::cerr << "error: " << r.error().message << "\n";
          return std::optional<syn::understood>{};
        }
        return *r;
      };
      for (const auto& s : d["said"]) {
        const std::string text = s.get<std::string>();
        auto r = run(text);
        ++said_n;
        if (r && r->source == "understood") ++taken;
        if (verbose) std::printf("  > %s\n  < %s [%s]\n", text.c_str(), r ? r->text.c_str() : "(none)", r ? r->source.c_str() : "-");
        memories.insert(memories.begin(), syn::memory_hit{static_cast<std::int64_t>(memories.size() + 1), text, 0.6f});
      }
      json asks = d.contains("asks") ? d["asks"] : json::array({{{"ask", d["ask"]}, {"answer_has", d["answer_has"]}}});
      for (const auto& q : asks) {
        const std::string text = q["ask"].get<std::string>();
        auto r = run(text);
        ++questions;
        const std::string answer = r ? r->text : "";
        const bool ok = r && has_all(answer, q["answer_has"]);
        right += ok;
        if (!r) ++none;
        else if (r->source == "facts") ++facts;
        else if (r->source == "memory") ++memory;
        else ++unknown;
        if (verbose || !ok)
          std::printf("%s %s\n  ? %s\n  = %s [%s]\n", ok ? "ok  " : "FAIL", d.value("lang", "").c_str(), text.c_str(),
                      r ? answer.c_str() : "(none)", r ? r->source.c_str() : "-");
      }
    }
    std::printf("| %s | %d | %d | %d | %d | %d | %d | %d/%d | %.3f | %.3f |\n",
                std::filesystem::path(file).filename().c_str(), questions, right, facts, memory, unknown, none, taken,
                said_n, pct(ms, 0.5), pct(ms, 0.99));
  }
  std::filesystem::remove_all(dir);
  return 0;
}
