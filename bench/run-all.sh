#!/usr/bin/env bash
# Runs the load generator, in one go, against an nginx fixed response (the HTTP ceiling),
# dynalite, and tributary with fsync and buffered durability. Needs nginx and npm.
# Usage: bench/run-all.sh [extra tributary-bench flags, e.g. --duration 20]
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d /tmp/tributary-bench.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true' EXIT

cargo build --release --bins -q
bench=target/release/tributary-bench
threads=${TRIBUTARY_WORKER_THREADS:-1}

wait_port() { for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$1/" && return; sleep 0.1; done; echo "port $1 never answered" >&2; exit 1; }

echo "== disk"; bench/fsync-rate.sh "$work" 5

echo "== nginx (fixed 200 response)"
mkdir -p "$work/nginx"
nginx -c "$PWD/bench/nginx.conf" -p "$work/nginx" & pid=$!
wait_port 8002
$bench --endpoint http://127.0.0.1:8002 --ops get,query --no-load --label nginx "$@"
kill $pid; wait $pid 2>/dev/null || true

echo "== dynalite (no fsync)"
if [ ! -x "$work/../tributary-dynalite/node_modules/.bin/dynalite" ]; then
  mkdir -p "$work/../tributary-dynalite"
  (cd "$work/../tributary-dynalite" && npm install --silent dynalite >/dev/null)
fi
"$work/../tributary-dynalite/node_modules/.bin/dynalite" --port 8001 --path "$work/dynalite" & pid=$!
wait_port 8001
$bench --endpoint http://127.0.0.1:8001 --label dynalite "$@"
kill $pid; wait $pid 2>/dev/null || true

for mode in fsync buffered; do
  echo "== tributary ($mode, worker_threads=$threads)"
  TRIBUTARY_WORKER_THREADS=$threads target/release/tributary serve --listen 127.0.0.1:8000 \
    --data-dir "$work/tributary-$mode" --durability $mode 2>"$work/tributary-$mode.log" & pid=$!
  wait_port 8000
  $bench --endpoint http://127.0.0.1:8000 --label "tributary-$mode" "$@"
  kill $pid; wait $pid 2>/dev/null || true
done
rm -rf "$work"
