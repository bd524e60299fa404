#!/usr/bin/env bash
# Builds and runs one of aikid's libFuzzer targets.
#
# Usage:
#   tests/fuzz/fuzz.sh NAME BUILD_DIR [SECONDS] [libFuzzer options…]
#   tests/fuzz/fuzz.sh --list
#
#   NAME       gguf | safetensors | wire | admin | config | templates | understand
#              (the target is tests/fuzz/NAME_fuzz.cpp, its seeds tests/fuzz/corpus/NAME/)
#   BUILD_DIR  where the objects, the binary (NAME_fuzz), the working corpus
#              (NAME_corpus/) and crash files (NAME_artifacts/) go; created if absent
#   SECONDS    how long to fuzz (default 30); 0 = only build, then run each
#              seed once (a regression check of the corpus)
#
# Examples (from anywhere; run as long as you like by raising SECONDS):
#   tests/fuzz/fuzz.sh wire /tmp/fuzz 3600            # an hour on the wire parser
#   tests/fuzz/fuzz.sh config /tmp/fuzz 600 -jobs=2   # extra libFuzzer options pass through
#   tests/fuzz/fuzz.sh admin /tmp/fuzz 0              # build, replay the seeds only
#   /tmp/fuzz/wire_fuzz /tmp/fuzz/wire_artifacts/crash-…   # replay one crash
#
# Objects are rebuilt only when a source or a header they include (or this
# script) is newer than them; the binary is relinked when an object is newer.
# Every run starts from a fresh copy of the seed corpus in BUILD_DIR/NAME_corpus
# (new interesting inputs land there; copy the good ones into
# tests/fuzz/corpus/NAME/ by hand, and keep every crasher there as a regression
# file). Exit status: 0 if nothing was found, non-zero on a crash, a leak, a
# sanitizer report, a timeout or an out-of-memory input (the file is written to
# BUILD_DIR/NAME_artifacts/).
#
# Environment: CXX (default clang++), FUZZ_JOBS (parallel compiles, default 1),
# FUZZ_RSS_MB (default 2048).
set -euo pipefail

# Everything runs inside main(), which bash reads whole before running it:
# editing this file while a run is under way does not disturb that run.
main() {
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
targets="gguf safetensors wire admin config templates understand"

if [ "${1:-}" = "--list" ]; then echo "$targets"; exit 0; fi
if [ $# -lt 2 ]; then sed -n '2,31p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 2; fi
name=$1
out=$(mkdir -p "$2" && cd "$2" && pwd)
secs=${3:-30}
shift $(( $# >= 3 ? 3 : 2 ))

CXX=${CXX:-clang++}
FLAGS=(-std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
  -D_GLIBCXX_ASSERTIONS -I"$root")
# toml++: Debian's compiled library (built by g++), as the daemon links it.
# Its header-only mode under clang is not the code that ships: toml++ 3.3.0
# asserts a precondition that table headers like "[>" break (fixed upstream,
# marzer/tomlplusplus#301) and reaches __builtin_unreachable() for a table
# header with a character in U+00A1..U+0499 (is_non_ascii_horizontal_whitespace);
# Debian's build answers both with an ordinary parse error (seeds
# corpus/config/toml-key-start*, toml-unreachable).
TOML=(-DTOML_HEADER_ONLY=0 -DTOML_SHARED_LIB=1)
SPDLOG=(-DSPDLOG_SHARED_LIB -DSPDLOG_COMPILED_LIB -DSPDLOG_FMT_EXTERNAL)
max_len=65536
defs=()
libs=()
case "$name" in
  gguf)
    srcs=(tests/fuzz/gguf_fuzz.cpp actors/inference/gguf.cpp actors/inference/quants.cpp
      actors/inference/vocab.cpp actors/inference/unicode.cpp)
    libs=(-lutf8proc) ;;
  safetensors)
    srcs=(tests/fuzz/safetensors_fuzz.cpp actors/embedding/safetensors.cpp) ;;
  wire)
    srcs=(tests/fuzz/wire_fuzz.cpp ipc/protocol.cpp ipc/ops.cpp)
    libs=(-lsimdjson)
    max_len=1048576 ;;  # the frame limit (ipc.max_message_bytes): deep nesting needs the room
  admin)
    srcs=(tests/fuzz/admin_fuzz.cpp daemon/admin_commands.cpp daemon/allocator.cpp daemon/config_keys.cpp
      daemon/config/config_schema.cpp daemon/config/config_load.cpp
      ipc/ingress.cpp ipc/publisher.cpp ipc/endpoint.cpp ipc/protocol.cpp ipc/ops.cpp)
    defs=("${TOML[@]}" "${SPDLOG[@]}" -DAIKID_VERSION='"fuzz"' -DAIKID_SOURCE_DIR="\"$root\"")
    libs=(-lcaf_core -lspdlog -lfmt -lzmq -ltomlplusplus -lsimdjson -pthread)
    max_len=4096 ;;
  config)
    srcs=(tests/fuzz/config_fuzz.cpp daemon/config_keys.cpp daemon/config/config_schema.cpp
      daemon/config/config_load.cpp ipc/ops.cpp)
    defs=("${TOML[@]}" -DAIKID_SOURCE_DIR="\"$root\"")
    libs=(-lcaf_core -ltomlplusplus)
    max_len=16384 ;;
  templates)
    srcs=(tests/fuzz/templates_fuzz.cpp actors/synthesis/templates_load.cpp
      actors/synthesis/templates_match.cpp actors/synthesis/mustache_check.cpp actors/synthesis/render.cpp actors/synthesis/time.cpp
      actors/synthesis/text.cpp actors/synthesis/ac.cpp)
    defs=("${TOML[@]}" -DONLY_C_LOCALE=1 -DHAS_STRING_VIEW=1 -DUSE_OS_TZDB=1)  # as date::date-tz
    libs=(-lfaiss -lgomp -lblas -llapack -lutf8proc -lmstch -ldate-tz -ltomlplusplus -pthread)
    max_len=16384 ;;
  understand)
    srcs=(tests/fuzz/understand_fuzz.cpp actors/synthesis/understand.cpp actors/synthesis/understand_load.cpp
      actors/synthesis/when.cpp actors/synthesis/kg.cpp actors/synthesis/reminders.cpp actors/synthesis/time.cpp
      actors/synthesis/text.cpp actors/synthesis/turns.cpp)
    defs=("${TOML[@]}" -DONLY_C_LOCALE=1 -DHAS_STRING_VIEW=1 -DUSE_OS_TZDB=1 -DAIKID_SOURCE_DIR="\"$root\"")
    libs=(-lSQLiteCpp -lsqlite3 -lutf8proc -ldate-tz -ltomlplusplus -pthread)
    max_len=2048 ;;  # six percepts of a sentence or a few
  *) echo "fuzz.sh: unknown target '$name' (one of: $targets)" >&2; exit 2 ;;
esac

command -v "$CXX" >/dev/null || { echo "fuzz.sh: $CXX not found (apt-get install clang libclang-rt-14-dev)" >&2; exit 2; }
mkdir -p "$out/${name}_obj" "$out/${name}_artifacts"
bin="$out/${name}_fuzz"

# newer_than OBJ DEPFILE: true if a dependency listed in DEPFILE (or this script) is newer than OBJ
stale() {
  local obj=$1 dep=$2 f
  [ -f "$obj" ] && [ -f "$dep" ] || return 0
  [ "${BASH_SOURCE[0]}" -nt "$obj" ] && return 0
  while read -r f; do
    [ -n "$f" ] || continue
    case $f in /*) ;; *) f="$root/$f" ;; esac  # the sources are compiled from $root: relative in the depfile
    [ "$f" -nt "$obj" ] && return 0
  done < <(sed -e 's/\\$//' -e 's/^[^:]*://' "$dep" | tr ' ' '\n')
  return 1
}

objs=()
relink=0
pids=()
for s in "${srcs[@]}"; do
  o="$out/${name}_obj/$(echo "$s" | tr '/' '_').o"
  objs+=("$o")
  if stale "$o" "$o.d"; then
    echo "[fuzz.sh] compiling $s" >&2
    ( cd "$root" && "$CXX" "${FLAGS[@]}" "${defs[@]}" -MMD -MF "$o.d" -c "$s" -o "$o" ) &
    pids+=($!)
    relink=1
    if [ ${#pids[@]} -ge "${FUZZ_JOBS:-1}" ]; then wait "${pids[0]}"; pids=("${pids[@]:1}"); fi
  fi
done
for p in "${pids[@]}"; do wait "$p"; done
for o in "${objs[@]}"; do [ "$o" -nt "$bin" ] && relink=1; done
if [ ! -x "$bin" ] || [ $relink = 1 ]; then
  echo "[fuzz.sh] linking $bin" >&2
  "$CXX" "${FLAGS[@]}" "${objs[@]}" "${libs[@]}" -o "$bin"
fi

seeds="$root/tests/fuzz/corpus/$name"
work="$out/${name}_corpus"
rm -rf "$work"
mkdir -p "$work"
cp -r "$seeds/." "$work/"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
cd "$out"
common=(-rss_limit_mb="${FUZZ_RSS_MB:-2048}" -max_len="$max_len" -timeout=25
  -artifact_prefix="$out/${name}_artifacts/" -print_final_stats=1)
if [ "$secs" = 0 ]; then
  echo "[fuzz.sh] $name: replaying $(ls "$seeds" | wc -l) seeds" >&2
  exec "$bin" "${common[@]}" -runs=0 "$@" "$work"
fi
echo "[fuzz.sh] $name: fuzzing for ${secs} s from $(ls "$seeds" | wc -l) seeds" >&2
exec "$bin" "${common[@]}" -max_total_time="$secs" "$@" "$work"
}

main "$@"
