// libFuzzer target for the TOML config loader (daemon/config): the input is
// written as a config file and loaded over the registry's defaults with
// config_load_file, validated against the full key registry (the daemon's
// keys for real, the actors' from config/aikid.toml, see fuzz_keys.hpp).
// Lines "#set section.key=value" (TOML comments, so the file still parses)
// are also handed over as --set overrides. Any input must give a complete,
// in-range set of values or a bad_request naming file:line or --set — never
// a crash, a sanitizer report or an exception.
//
// Build + run (from the repo root; tests/fuzz/fuzz.sh does both, see there):
//   tests/fuzz/fuzz.sh config /tmp/fuzz 600
// or by hand:
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -I. \
//     -DTOML_HEADER_ONLY=0 -DTOML_SHARED_LIB=1 -DAIKID_SOURCE_DIR="\"$PWD\"" tests/fuzz/config_fuzz.cpp \
//     daemon/config_keys.cpp daemon/config/config_schema.cpp daemon/config/config_load.cpp \
//     -lcaf_core -ltomlplusplus -o /tmp/config_fuzz
//   mkdir -p /tmp/config_corpus && cp tests/fuzz/corpus/config/* /tmp/config_corpus/ && \
//     /tmp/config_fuzz -max_total_time=600 -max_len=16384 /tmp/config_corpus
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "daemon/config/config.hpp"
#include "tests/fuzz/fuzz_keys.hpp"

using namespace aikid;

namespace {

const std::filesystem::path& scratch_file() {
  static const std::filesystem::path p = [] {
    auto dir = std::filesystem::temp_directory_path() / ("aikid_config_fuzz." + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    return dir / "aikid.toml";
  }();
  return p;
}

// Every key present, of its kind, inside its range and choices.
void check_values(const config::schema& s, const config::values& v) {
  for (const auto& k : s.keys()) {
    if (!v.has(k.key)) std::abort();
    const auto& x = v.at(k.key);
    switch (k.type) {
      case config::kind::boolean: if (!std::holds_alternative<bool>(x)) std::abort(); break;
      case config::kind::integer: if (!std::holds_alternative<std::int64_t>(x)) std::abort(); break;
      case config::kind::real: if (!std::holds_alternative<double>(x)) std::abort(); break;
      case config::kind::string:
      case config::kind::path: if (!std::holds_alternative<std::string>(x)) std::abort(); break;
    }
    if (k.min <= k.max) {
      double d = 0;
      if (auto* i = std::get_if<std::int64_t>(&x)) d = static_cast<double>(*i);
      if (auto* r = std::get_if<double>(&x)) d = *r;
      if (d < k.min || d > k.max) std::abort();
    }
    // what `get` shows, `set` must accept (strings: unless quoted both ends)
    const std::string text = config::config_value_text(x);
    if (k.type != config::kind::string && k.type != config::kind::path && k.type != config::kind::real &&
        !config::config_parse_value(s, k.key, text))
      std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> overrides;
  for (std::size_t at = 0; (at = text.find("#set ", at)) != std::string::npos;) {
    const auto nl = text.find('\n', at);
    overrides.push_back(text.substr(at + 5, nl == std::string::npos ? std::string::npos : nl - at - 5));
    at = nl == std::string::npos ? text.size() : nl;
  }
  {
    std::ofstream out(scratch_file(), std::ios::binary | std::ios::trunc);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
  }
  const auto& s = config::schema::get();
  auto v = config::config_load_file(scratch_file(), overrides, s);
  if (!v) {
    const auto& e = v.error();
    if (e.code != errc::bad_request || e.message.empty()) std::abort();
    if (e.message.rfind(scratch_file().string() + ":", 0) != 0 && e.message.rfind("--set: ", 0) != 0) std::abort();
    return 0;
  }
  check_values(s, *v);
  (void)config::config_diff(config::config_load_defaults(s), *v);
  return 0;
}
