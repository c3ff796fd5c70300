#!/usr/bin/env bash
# The peer benchmark: the same workload (single-recipient delayed jobs with a key, 50 in flight,
# then half of them cancelled, then the wake-ups; a 20 s delay, so that nothing falls due while a
# client is measuring, which a 3 s delay cannot promise at the Node client's rate) on BullMQ — Redis with
# `appendfsync always`, and in memory for reference — through its own client, and on Herald's
# local server through wrk (a native load generator) and through @knocklabs/node, in one run.
# Prints each figure, the correctness checks and the ratios. Installs redis-server and wrk
# (Debian) and the Node clients on first use.
# Usage: tests/peers/peers.sh [jobs per client run, default 5000] [wrk trigger seconds, default 10]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
n="${1:-5000}"
seconds="${2:-10}"
# The runs' delay is 20 s: every trigger and cancel must be answered before the first falls due.
[ "$seconds" -le 15 ] || { echo "wrk trigger seconds: at most 15 (the delay is 20 s)" >&2; exit 2; }

need=()
command -v redis-server >/dev/null || need+=(redis-server)
command -v wrk >/dev/null || need+=(wrk)
if [ "${#need[@]}" -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq >/dev/null
  $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi
(cd "$here" && { [ -d node_modules/bullmq ] && [ -d node_modules/ioredis ] && [ -d node_modules/@knocklabs/node ] || npm install --silent --no-package-lock --no-audit --no-fund >/dev/null; })
(cd "$root" && cargo build -q --profile local -p herald-local)

tmp="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
summary="$tmp/summary"

bullmq() { # label, redis-server options…
  local label="$1"; shift
  local port; port="$(free_port)"
  mkdir -p "$tmp/redis-$label"
  redis-server --port "$port" --dir "$tmp/redis-$label" --save '' "$@" >/dev/null &
  local pid=$!; pids+=("$pid")
  until redis-cli -p "$port" ping >/dev/null 2>&1; do sleep 0.1; done
  (cd "$here" && node bullmq.mjs "$port" "$label" "$n") | tee -a "$summary" | grep -v '^SUMMARY'
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

printf '==> BullMQ %s on Redis %s, %s jobs\n' "$(node -p "require('$here/node_modules/bullmq/package.json').version")" \
  "$(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/')" "$n"
bullmq always --appendonly yes --appendfsync always
bullmq memory --appendonly no

# Herald, each client on a fresh server, so that one client's wake-ups never overlap the next
# one's measurements (BullMQ's adds and removes end before its first job falls due, too).
export HERALD_BENCH_KEY="sk_bench_$(python3 -c 'import secrets; print(secrets.token_hex(8))')"
herald_pid=
start_herald() {
  local port; port="$(free_port)"
  rm -rf "$tmp/herald"
  HERALD_ADDR="127.0.0.1:$port" HERALD_DATA_DIR="$tmp/herald" HERALD_API_KEY="$HERALD_BENCH_KEY" \
    HERALD_WORKFLOWS_DIR="$here/workflows" RUST_LOG=warn "$root/target/local/herald" >/dev/null &
  herald_pid=$!; pids+=("$herald_pid")
  export KNOCK_BASE_URL="http://127.0.0.1:$port" KNOCK_API_KEY="$HERALD_BENCH_KEY"
  until curl -s -o /dev/null "$KNOCK_BASE_URL/"; do
    kill -0 "$herald_pid" 2>/dev/null || { echo "herald exited at start" >&2; exit 1; }
    sleep 0.1
  done
}
stop_herald() { kill "$herald_pid"; wait "$herald_pid" 2>/dev/null || true; }

printf '\n==> Herald through wrk (local server, file-backed store, every commit synced; a 20 s delay)\n'
start_herald
wrk_line() { grep '^WRK ' | sed 's/^WRK //'; }
trigger_json="$(wrk -t2 -c50 -d"${seconds}s" -s "$here/trigger.lua" "$KNOCK_BASE_URL" -- w | wrk_line)"
sent="$(python3 -c 'import json,sys; print(",".join(map(str, json.loads(sys.argv[1])["sent"])))' "$trigger_json")"
# One second of cancels: fewer than the even keys the triggers sent, unless cancels run at more
# than half the trigger rate times the trigger seconds (then "exhausted" says so).
cancel_json="$(HERALD_BENCH_SENT="$sent" wrk -t2 -c50 -d1s -s "$here/cancel.lua" "$KNOCK_BASE_URL" -- w | wrk_line)"
python3 - "$trigger_json" "$cancel_json" <<'PY' | tee -a "$summary" | grep -v '^SUMMARY'
import json, sys
for name, raw in (("trigger", sys.argv[1]), ("cancel", sys.argv[2])):
    w = json.loads(raw)
    rate = w["requests"] / (w["duration_us"] / 1e6)
    print(f"herald wrk: {name} ({w['requests']}, 50 connections)".ljust(44),
          f"{rate:7.0f}/s  p50={w['p50_us']/1e3:7.2f} ms  p99={w['p99_us']/1e3:7.2f} ms  max={w['max_us']/1e3:7.2f} ms",
          f"(non-2xx {w['non2xx']}, errors {w['errors']}{', exhausted %d' % w['exhausted'] if 'exhausted' in w else ''})")
    key = "add" if name == "trigger" else "remove"
    print("SUMMARY " + json.dumps({"system": "herald-wrk", "op": key, "rate": rate, "p99": w["p99_us"] / 1e3,
                                   "ok": w["non2xx"] == 0 and w["errors"] == 0 and w.get("exhausted", 0) == 0}))
PY
cancels_sent="$(python3 -c 'import json,sys; print(",".join(map(str, json.loads(sys.argv[1])["sent"])))' "$cancel_json")"
sleep 22
(cd "$here" && node check-wrk.mjs w "$sent" "$cancels_sent")
stop_herald

printf '\n==> Herald through @knocklabs/node (a fresh server)\n'
start_herald
(cd "$here" && node herald.mjs "$n") | tee -a "$summary" | grep -v '^SUMMARY'
stop_herald

printf '\n==> ratios (Herald ÷ BullMQ with appendfsync always; targets: trigger ≥ 2×, cancel ≥ 2×, trigger p99 ≤ 10 ms)\n'
python3 - "$summary" <<'PY'
import json, sys
rows = [json.loads(l[8:]) for l in open(sys.argv[1]) if l.startswith("SUMMARY ")]
by = {}
for r in rows:
    if r["system"] == "herald-wrk":
        by.setdefault("herald-wrk", {})[r["op"]] = {"rate": r["rate"], "p99": r["p99"]}
    else:
        by[r["system"]] = r
base = by["bullmq-always"]
for system, label in (("herald-wrk", "Herald through wrk"), ("herald-node", "Herald through @knocklabs/node"), ("bullmq-memory", "BullMQ on in-memory Redis")):
    s = by[system]
    add, rem = s["add"]["rate"] / base["add"]["rate"], s["remove"]["rate"] / base["remove"]["rate"]
    print(f"{label:<32} trigger {s['add']['rate']:7.0f}/s = {add:4.2f}× BullMQ's add ({base['add']['rate']:.0f}/s);"
          f" cancel {s['remove']['rate']:7.0f}/s = {rem:4.2f}× its remove ({base['remove']['rate']:.0f}/s);"
          f" p99 {s['add']['p99']:.2f} ms")
for system in ("bullmq-always", "bullmq-memory", "herald-node"):
    l = by[system]["lateness"]
    print(f"wake-up lateness {system:<15} p50={l['p50']:7.2f} ms  p99={l['p99']:7.2f} ms  max={l['max']:7.2f} ms")
PY
