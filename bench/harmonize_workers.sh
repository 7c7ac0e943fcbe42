#!/bin/bash
# The service's harmonization workers on the reference CT (docs/BENCHMARKS.md, "Harmonization").
#   bench/harmonize_workers.sh throughput COPIES WORKERS  # COPIES distinct studies, then jobs wait
#   bench/harmonize_workers.sh latency ROUNDS             # offline harmonize, then upload + wait
# Copies get a new Study/Series Instance UID and new SOP Instance UIDs (dcmodify, file by file).
# Prints figures; decides nothing. BIN (default build/bin) and SRC (the CT folder) may be set.
set -eu
MODE=$1
B=${BIN:-build/bin}
SRC=${SRC:-../shared/data/dicom/dcm_qa_ct_subset/In}
if [ "$MODE" = throughput ]; then N=$2; W=$3; else N=$2; W=1; fi
T=$(mktemp -d /var/tmp/harmonize_workers.XXXXXX)
chmod 755 "$T"  # the embedded PostgreSQL runs as the postgres user
for i in $(seq 1 "$N"); do
  d=$T/copies/c$i; mkdir -p "$d"; cp -r "$SRC"/. "$d"/
  find "$d" -type f -exec dcmodify -nb -q -m "(0020,000D)=1.2.826.0.1.3680043.8.498.77.$i.1" \
    -m "(0020,000E)=1.2.826.0.1.3680043.8.498.77.$i.2" -gin {} \; 2>/dev/null || true
done
PORT=$((52000 + RANDOM % 1000))
"$B"/tributary-server --data-dir "$T"/data --listen 127.0.0.1:$PORT --harmonization-workers "$W" \
  > "$T"/server.log 2>&1 &
SPID=$!
C=("$B"/tributary-client)
for _ in $(seq 1 300); do
  [ -f "$T"/data/operator.token ] && "${C[@]}" centres list --server 127.0.0.1:$PORT \
    --token "$(cat "$T"/data/operator.token)" > /dev/null 2>&1 && break
  sleep 0.2
done
OP=$(cat "$T"/data/operator.token)
CT=$("${C[@]}" centres add site --server 127.0.0.1:$PORT --token "$OP" | tail -1)
upload() { "${C[@]}" upload "$T/copies/c$1" --complete --server 127.0.0.1:$PORT --token "$CT" > /dev/null; }
wait_jobs() { "${C[@]}" jobs wait --server 127.0.0.1:$PORT --token "$OP" --timeout 600 > /dev/null; }
if [ "$MODE" = throughput ]; then
  for i in $(seq 1 "$N"); do upload "$i"; done
  wait_jobs
else
  for i in $(seq 1 "$N"); do
    rm -rf "$T"/off; s=$(date +%s.%N)
    "$B"/tributary harmonize "$T/copies/c$i" --recipe ct-default --out "$T"/off -q > /dev/null
    echo "offline round $i: $(echo "$(date +%s.%N) - $s" | bc) s"
    upload "$i"; wait_jobs
  done
fi
"${C[@]}" jobs list --json --server 127.0.0.1:$PORT --token "$OP" > "$T"/jobs.json
echo "server peak $(grep VmHWM /proc/$SPID/status)"
kill $SPID; wait $SPID || true
/usr/bin/python3 - "$T"/jobs.json <<'PY'
import datetime, json, sys
def t(s): return datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))
jobs = json.load(open(sys.argv[1]))
span = (max(t(j["finished_at"]) for j in jobs) - min(t(j["created_at"]) for j in jobs)).total_seconds()
print(f"{len(jobs)} jobs {sorted(set(j['state'] for j in jobs))}: first queued -> last done "
      f"{span:.2f} s, {len(jobs) * 60 / span:.1f} series/min")
for j in jobs:
    q, s, f = t(j["created_at"]), t(j["started_at"]), t(j["finished_at"])
    print(f"  job {j['id']}: queued -> started {(s - q).total_seconds():.2f} s, run "
          f"{(f - s).total_seconds():.2f} s, CompleteStudy -> derivation {(f - q).total_seconds():.2f} s")
PY
rm -rf "$T"
