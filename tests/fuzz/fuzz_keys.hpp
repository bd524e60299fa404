// For the config and admin fuzzers: the actors' config keys without linking
// the actors. daemon/config_keys.cpp builds the registry from
// daemon_config_keys() (linked for real) and each actor's *_config_keys(),
// which live in the actor sources (CAF, models, stores). Here those come from
// config/aikid.toml instead — the registry's own rendering, kept equal to it
// by tests/config — so every real section, key, type, range, choice list and
// live flag is there. Include this in exactly one source of a fuzz target.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "actors/actors.hpp"
#include "daemon/config/config.hpp"

#ifndef AIKID_SOURCE_DIR
#error "compile with -DAIKID_SOURCE_DIR=\"/path/to/repo\" (tests/fuzz/fuzz.sh does)"
#endif

namespace aikid::fuzz {

// section → its keys, parsed from config/aikid.toml ("# help [lo, hi] (a|b) (live)" then "key = value").
inline const std::map<std::string, std::vector<config::key_spec>>& rendered_keys() {
  static const auto keys = [] {
    std::map<std::string, std::vector<config::key_spec>> out;
    std::ifstream in(AIKID_SOURCE_DIR "/config/aikid.toml");
    if (!in) std::abort();  // the harness needs the repo's config/aikid.toml
    std::string line, section, help;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      if (line[0] == '[') { section = line.substr(1, line.find(']') - 1); continue; }
      if (line[0] == '#') { help = line.size() > 2 ? line.substr(2) : ""; continue; }
      const auto eq = line.find(" = ");
      if (eq == std::string::npos || section.empty()) continue;
      const std::string key = section + "." + line.substr(0, eq), val = line.substr(eq + 3);
      config::key_spec k;
      if (val == "true" || val == "false") {
        k = config::key_bool(key, val == "true", help);
      } else if (val[0] == '"') {
        const auto s = nlohmann::json::parse(val).get<std::string>();
        const bool path = help.find("folder") != std::string::npos || help.find("file") != std::string::npos;
        k = path ? config::key_path(key, s, help) : config::key_string(key, s, help);
      } else {
        const auto lb = help.rfind('['), comma = help.rfind(", "), rb = help.rfind(']');
        const bool ranged = lb != std::string::npos && comma > lb && rb > comma && rb != std::string::npos;
        const double lo = ranged ? std::stod(help.substr(lb + 1, comma - lb - 1)) : 1;
        const double hi = ranged ? std::stod(help.substr(comma + 2, rb - comma - 2)) : 0;
        if (val.find_first_of(".eE") != std::string::npos)
          k = config::key_real(key, std::stod(val), lo, hi, help);
        else
          k = config::key_int(key, std::stoll(val), static_cast<std::int64_t>(lo), static_cast<std::int64_t>(hi), help);
      }
      if (const auto lp = help.find(" ("); lp != std::string::npos && help.find('|', lp) != std::string::npos) {
        std::vector<std::string> choices;
        std::string cur;
        for (std::size_t i = lp + 2; i < help.size() && help[i] != ')'; ++i) {
          if (help[i] == '|') { choices.push_back(cur); cur.clear(); } else cur += help[i];
        }
        choices.push_back(cur);
        k.one_of(choices);
      }
      if (help.size() >= 6 && help.compare(help.size() - 6, 6, "(live)") == 0) k.is_live();
      out[section].push_back(k);
    }
    return out;
  }();
  return keys;
}

inline std::vector<config::key_spec> section_keys(const char* s) {
  auto it = rendered_keys().find(s);
  return it == rendered_keys().end() ? std::vector<config::key_spec>{} : it->second;
}

}  // namespace aikid::fuzz

namespace aikid {
std::vector<config::key_spec> perception_config_keys() { return fuzz::section_keys("perception"); }
std::vector<config::key_spec> memory_config_keys() { return fuzz::section_keys("memory"); }
std::vector<config::key_spec> embedding_config_keys() { return fuzz::section_keys("embedding"); }
std::vector<config::key_spec> synthesis_config_keys() { return fuzz::section_keys("synthesis"); }
std::vector<config::key_spec> inference_config_keys() { return fuzz::section_keys("inference"); }
std::vector<config::key_spec> proactive_config_keys() { return fuzz::section_keys("proactive"); }
}  // namespace aikid
