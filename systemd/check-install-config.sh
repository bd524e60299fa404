#!/bin/sh
# Checks install-config.cmake: on a sample config shaped like
# `aikid --print-default-config` (and on config/aikid.toml when present), the
# installed file gets absolute model/data/socket paths, keeps every other line,
# and an edited /etc file is never overwritten.
# usage: check-install-config.sh CMAKE INSTALL_CONFIG_SCRIPT
set -eu
cmake=${1:?usage: check-install-config.sh CMAKE SCRIPT}
script=${2:?usage: check-install-config.sh CMAKE SCRIPT}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "check-install-config: FAIL: $*" >&2; exit 1; }

cat > "$tmp/in.toml" <<'TOML'
# aikid configuration (sample; a comment with ; and [brackets])

[daemon]
# Where the data lives
data_dir = ""
grace_ms = 5000

[ipc]
requests = ""
max_message_bytes = 1048576

[embedding]
# The sentence encoder folder (relative: against this file)
model = "../models/all-MiniLM-L6-v2"
batch = 32

[inference]
model = "../models/SmolLM2-135M-Instruct.Q4_1.gguf"
threads = 1

[memory]
model = "must/not/change"
TOML
run() {  # dest_dir [src]
  "$cmake" -DAIKID_CONFIG_SRC="${2:-$tmp/in.toml}" -DAIKID_CONFIG_DEST_DIR="$1" \
    -DAIKID_MODELS_INSTALL_DIR=/usr/share/aikid/models -P "$script" > "$tmp/log" 2>&1 || {
    cat "$tmp/log" >&2; fail "cmake -P $script"; }
}
want() {  # file line
  grep -qxF "$2" "$1" || { cat "$1" >&2; fail "$1 lacks the line: $2"; }
}
run "$tmp/etc"
out=$tmp/etc/aikid.toml
want "$out" 'model = "/usr/share/aikid/models/all-MiniLM-L6-v2"'
want "$out" 'model = "/usr/share/aikid/models/SmolLM2-135M-Instruct.Q4_1.gguf"'
want "$out" 'model = "must/not/change"'
want "$out" 'data_dir = "/var/lib/aikid"'
want "$out" 'requests = "ipc:///run/aikid/requests.sock"'
want "$out" 'thoughts = "ipc:///run/aikid/thoughts.sock"'
want "$out" 'socket = "/run/aikid/admin.sock"'
want "$out" '# aikid configuration (sample; a comment with ; and [brackets])'
want "$out" 'grace_ms = 5000'
want "$out" 'max_message_bytes = 1048576'
want "$out" 'threads = 1'
want "$out" '[admin]'
# every line of the input that was not rewritten is still there
grep -v -e '^model = "\.\./' -e '^data_dir' -e '^requests' "$tmp/in.toml" | while IFS= read -r l; do
  grep -qxF -- "$l" "$out" || fail "line lost: $l"
done
# sections stay unique
[ "$(grep -c '^\[ipc\]$' "$out")" = 1 ] || fail "[ipc] duplicated"
# an edited installed file is kept; the new default goes beside it
echo "# edited" >> "$out"
cp "$out" "$tmp/edited"
run "$tmp/etc"
cmp -s "$out" "$tmp/edited" || fail "an edited $out was overwritten"
[ -f "$out.new" ] || fail "no $out.new written beside an edited file"
# the real default config, when the daemon has rendered it
real=$here/../config/aikid.toml
if [ -f "$real" ]; then
  run "$tmp/real" "$real"
  grep -q '^model = "/' "$tmp/real/aikid.toml" || fail "config/aikid.toml: no absolute model path"
  grep -qxF 'socket = "/run/aikid/admin.sock"' "$tmp/real/aikid.toml" || fail "config/aikid.toml: admin.socket"
  echo "check-install-config: config/aikid.toml rewritten OK"
fi
echo "check-install-config: OK"
