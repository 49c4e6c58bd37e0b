#!/usr/bin/env bash
# PutItem throughput with the change log on (the normal path) and off (the bench-only switch
# change_log.bench_disable), same build, alternating runs (ABAB...) so drift hits both.
# Usage: bench/log-overhead.sh [fsync|buffered] [rounds] [extra tributary-bench flags]
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-fsync}; rounds=${2:-3}; shift $(( $# > 2 ? 2 : $# )) || true
cargo build --release --bins -q
work=$(mktemp -d /tmp/tributary-logbench.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
wait_port() { for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$1/" && return; sleep 0.1; done; exit 1; }
for r in $(seq "$rounds"); do
  for log in on off; do
    disable=false; [ $log = off ] && disable=true
    rm -rf "$work/data"
    TRIBUTARY_WORKER_THREADS=${TRIBUTARY_WORKER_THREADS:-1} TRIBUTARY_CHANGE_LOG__BENCH_DISABLE=$disable \
      target/release/tributary serve --listen 127.0.0.1:8000 --data-dir "$work/data" \
      --durability "$mode" 2>"$work/server.log" & pid=$!
    wait_port 8000
    target/release/tributary-bench --ops put --label "log-$log-$mode-r$r" "$@"
    kill $pid; wait $pid 2>/dev/null || true
  done
done
