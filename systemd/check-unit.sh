#!/bin/sh
# Proves aikid's systemd files offline (systemd need not be PID 1):
#   1. systemd-analyze verify on the unit (ExecStart pointed at /bin/true, as the
#      daemon may not be installed yet); any warning fails the check;
#   2. systemd-analyze security --offline=true: overall exposure <= MAX (2.0);
#   3. systemd-sysusers and systemd-tmpfiles applied to a scratch root: the
#      aikid user/group exist and the folders get their owners and modes.
# usage: check-unit.sh UNIT [MAX_EXPOSURE]
#   UNIT: the generated aikid.service; aikid.sysusers and aikid.tmpfiles are
#   taken from the same folder (CMake generates all three in the build tree).
set -eu
unit=${1:?usage: check-unit.sh UNIT [MAX_EXPOSURE]}
max=${2:-2.0}
dir=$(cd "$(dirname "$unit")" && pwd)
sysusers=$dir/aikid.sysusers
tmpfiles=$dir/aikid.tmpfiles
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "check-unit: FAIL: $*" >&2; exit 1; }
command -v systemd-analyze >/dev/null || fail "systemd-analyze not found (apt-get install systemd)"
[ -f "$unit" ] || fail "$unit: no such file"
[ -f "$sysusers" ] || fail "$sysusers: no such file"
[ -f "$tmpfiles" ] || fail "$tmpfiles: no such file"
name=$(basename "$unit")

# 1. verify
sed -E 's|^ExecStart=[^ ]+|ExecStart=/bin/true|' "$unit" > "$tmp/$name"
if ! (cd "$tmp" && systemd-analyze verify "$tmp/$name") > "$tmp/verify.log" 2>&1; then
  cat "$tmp/verify.log" >&2; fail "systemd-analyze verify $name"
fi
if [ -s "$tmp/verify.log" ]; then
  cat "$tmp/verify.log" >&2; fail "systemd-analyze verify $name printed warnings"
fi
echo "check-unit: verify: $name OK"

# 2. security exposure
systemd-analyze security --offline=true "$unit" > "$tmp/security.log" 2>&1 || {
  cat "$tmp/security.log" >&2; fail "systemd-analyze security $name"; }
score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' "$tmp/security.log")
[ -n "$score" ] || { cat "$tmp/security.log" >&2; fail "no exposure score in the output"; }
grep '✗' "$tmp/security.log" | sed 's/  */ /g; s/^/check-unit:   /' || true
if awk -v s="$score" -v m="$max" 'BEGIN { exit !(s > m) }'; then
  fail "exposure $score > $max"
fi
echo "check-unit: security: exposure $score <= $max OK"

# 3. sysusers + tmpfiles on a scratch root
root=$tmp/root
conf=$(awk '$2 ~ /\/aikid\.toml$/ { print $2 }' "$tmpfiles")  # the installed config
[ -n "$conf" ] || fail "$tmpfiles has no line for aikid.toml"
mkdir -p "$root/etc" "$root$(dirname "$conf")"
: > "$root$conf"
systemd-sysusers --root="$root" "$sysusers" > "$tmp/sysusers.log" 2>&1 || {
  cat "$tmp/sysusers.log" >&2; fail "systemd-sysusers $sysusers"; }
grep -q '^aikid:' "$root/etc/passwd" || fail "sysusers made no aikid user"
grep -q '^aikid:' "$root/etc/group" || fail "sysusers made no aikid group"
systemd-tmpfiles --root="$root" --create "$tmpfiles" > "$tmp/tmpfiles.log" 2>&1 || {
  cat "$tmp/tmpfiles.log" >&2; fail "systemd-tmpfiles $tmpfiles"; }
uid=$(awk -F: '$1 == "aikid" { print $3 }' "$root/etc/passwd")
gid=$(awk -F: '$1 == "aikid" { print $3 }' "$root/etc/group")
check_stat() {  # path mode uid gid
  got=$(stat -c '%a %u %g' "$root$1") || fail "tmpfiles did not create $1"
  [ "$got" = "$2 $3 $4" ] || fail "$1 is '$got', want '$2 $3 $4'"
}
check_stat /var/lib/aikid 750 "$uid" "$gid"
check_stat "$(dirname "$conf")" 750 0 "$gid"
check_stat "$conf" 640 0 "$gid"
echo "check-unit: sysusers + tmpfiles OK (aikid uid $uid gid $gid)"
