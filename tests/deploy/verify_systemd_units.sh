#!/usr/bin/env bash
# systemd-analyze verify on deploy/systemd/*.service, and systemd-sysusers on the sysusers file.
# The units name /usr/local/bin/tributary-server; the copies checked here name the built binary
# instead (verify refuses an ExecStart whose program does not exist). Any output on standard error
# counts as a failure: systemd-analyze reports unknown keys and bad values there and still exits 0.
# Usage: verify_systemd_units.sh DEPLOY_DIR SERVER_BINARY
set -euo pipefail
deploy="$1"
server="$2"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

units=("$deploy"/systemd/*.service)
[ -e "${units[0]}" ] || { echo "no units in $deploy/systemd" >&2; exit 1; }
[ -x "$server" ] || { echo "no server binary at $server" >&2; exit 1; }
mkdir "$work/units"
for unit in "${units[@]}"; do
  grep -q '^ExecStart=/usr/local/bin/tributary-server ' "$unit" ||
    { echo "$unit: ExecStart does not run /usr/local/bin/tributary-server" >&2; exit 1; }
  sed "s#/usr/local/bin/tributary-server#$server#g" "$unit" > "$work/units/$(basename "$unit")"
done

status=0
if ! systemd-analyze verify --man=no --generators=no "$work"/units/*.service \
    > "$work/verify.out" 2> "$work/verify.err"; then
  echo "systemd-analyze verify failed" >&2
  status=1
fi
cat "$work/verify.out"
if [ -s "$work/verify.err" ]; then
  echo "systemd-analyze verify wrote to standard error:" >&2
  status=1
fi
cat "$work/verify.err" >&2

mkdir "$work/root"
if ! systemd-sysusers --dry-run --root="$work/root" "$deploy/systemd/tributary.sysusers.conf" \
    > "$work/sysusers.out" 2> "$work/sysusers.err"; then
  echo "systemd-sysusers failed" >&2
  status=1
fi
grep -q "Creating user 'tributary'" "$work/sysusers.out" "$work/sysusers.err" ||
  { echo "systemd-sysusers would not create the tributary user" >&2; status=1; }
# --dry-run reports what it would do on standard error; anything else there is a complaint.
if grep -v -e "^Would " -e "^Creating " "$work/sysusers.err" >&2; then
  echo "systemd-sysusers complained (above)" >&2
  status=1
fi
cat "$work/sysusers.out"
[ "$status" -eq 0 ] && echo "units and sysusers file verified"
exit "$status"
