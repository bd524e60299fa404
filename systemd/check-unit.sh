#!/bin/sh
# Proves aikid's systemd files offline (systemd need not be PID 1):
#   1. systemd-analyze verify on the unit (ExecStart pointed at /bin/true, as the
#      daemon may not be installed yet); any warning fails the check;
#   2. systemd-analyze security --offline=true: overall exposure <= MAX (2.0);
#   3. systemd-sysusers and systemd-tmpfiles applied to a scratch root: the
#      aikid user/group exist and the folders get their owners and modes;
#   4. the unit's ceilings and families: MemoryMax= at least 1G and finite,
#      TasksMax= at least 64 and finite, RestrictAddressFamilies= holding
#      AF_UNIX AF_INET AF_INET6 AF_NETLINK (libzmq's tcp:// needs netlink) and
#      nothing else; then the same check on copies of the unit with each of
#      these lines dropped or weakened, each of which must fail;
#   5. RestartPreventExitStatus=2 (a refused configuration exits 2: no restart
#      loop) and no OPENBLAS_NUM_THREADS (the BLAS is BLIS; it was a leftover).
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

# 4. ceilings and address families (the last assignment of a key wins, as in systemd)
unit_value() { awk -F= -v k="$1" '$1 == k { v = substr($0, length(k) + 2) } END { print v }' "$2"; }
to_bytes() {  # 4G, 512M, 1024K, 12345 -> bytes; anything else (infinity, %) -> empty
  echo "$1" | awk '/^[0-9]+[KMGT]?$/ { n = $0 + 0; u = substr($0, length($0));
    m = (u == "K") ? 2^10 : (u == "M") ? 2^20 : (u == "G") ? 2^30 : (u == "T") ? 2^40 : 1; printf "%.0f\n", n * m }'
}
check_limits() {  # unit -> 0, or 1 with the reason on stderr
  mem=$(unit_value MemoryMax "$1"); bytes=$(to_bytes "$mem")
  [ -n "$bytes" ] || { echo "MemoryMax='$mem': want a finite size" >&2; return 1; }
  [ "$bytes" -ge 1073741824 ] || { echo "MemoryMax=$mem: below 1G (models + index)" >&2; return 1; }
  tasks=$(unit_value TasksMax "$1")
  case "$tasks" in ''|*[!0-9]*) echo "TasksMax='$tasks': want a finite number" >&2; return 1 ;; esac
  [ "$tasks" -ge 64 ] || { echo "TasksMax=$tasks: below 64 threads" >&2; return 1; }
  fam=$(unit_value RestrictAddressFamilies "$1" | tr ' ' '\n' | grep . | sort | tr '\n' ' ')
  [ "$fam" = "AF_INET AF_INET6 AF_NETLINK AF_UNIX " ] || {
    echo "RestrictAddressFamilies='$fam': want AF_UNIX AF_INET AF_INET6 AF_NETLINK" >&2; return 1; }
}
check_limits "$unit" || fail "$name: ceilings or address families"
echo "check-unit: MemoryMax=$(unit_value MemoryMax "$unit") TasksMax=$(unit_value TasksMax "$unit") families OK"
# The check itself: each weakened copy must fail it.
n=0
for edit in '/^MemoryMax=/d' 's/^MemoryMax=.*/MemoryMax=infinity/' 's/^MemoryMax=.*/MemoryMax=100M/' \
            '/^TasksMax=/d' 's/^TasksMax=.*/TasksMax=infinity/' \
            's/^RestrictAddressFamilies=.*/RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6/' \
            's/^RestrictAddressFamilies=.*/& AF_PACKET/'; do
  sed "$edit" "$unit" > "$tmp/weak.service"
  if check_limits "$tmp/weak.service" 2>/dev/null; then fail "check_limits passed a unit edited with '$edit'"; fi
  n=$((n + 1))
done
echo "check-unit: $n weakened copies of the unit fail the ceilings check OK"

# 5. a bad configuration is not restarted over and over; no leftovers
[ "$(unit_value RestartPreventExitStatus "$unit")" = "2" ] ||
  fail "$name: want RestartPreventExitStatus=2 (aikid exits 2 on a configuration it refuses)"
if grep -q 'OPENBLAS_NUM_THREADS' "$unit"; then fail "$name: sets OPENBLAS_NUM_THREADS (the BLAS is BLIS)"; fi
echo "check-unit: RestartPreventExitStatus=2, no OPENBLAS_NUM_THREADS OK"
