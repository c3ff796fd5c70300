#!/usr/bin/env bash
# A newcomer's first start: clones this commit, builds with an empty target folder (the crates
# already downloaded, as after `cargo fetch`) and times the README's run command until Herald
# answers its first request.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
tmp="$(mktemp -d)"
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$tmp"' EXIT
pid=
git clone -q "$root" "$tmp/herald"
cd "$tmp/herald"
cargo fetch -q
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
start="$(date +%s.%N)"
HERALD_ADDR="127.0.0.1:$port" HERALD_DATA_DIR="$tmp/data" cargo run -q --profile local --bin herald \
  >"$tmp/out" 2>"$tmp/err" &
pid=$!
until curl -s -o /dev/null "http://127.0.0.1:$port/"; do
  kill -0 "$pid" 2>/dev/null || { cat "$tmp/err" >&2; exit 1; }
  sleep 0.2
done
end="$(date +%s.%N)"
python3 -c "import sys; print(f'first start: {float(sys.argv[2]) - float(sys.argv[1]):.0f} s from \`cargo run --profile local --bin herald\` on a fresh clone to the first answer (target 150 s)')" "$start" "$end"
