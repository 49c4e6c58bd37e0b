#!/usr/bin/env bash
# GetItem (and PutItem, Query) throughput with authentication off ([auth] mode = "none"), with
# SigV4 verification of an administrator's requests, and with verification plus a policy to
# evaluate, same build, alternating runs (ABCABC...) so drift hits all three.
# Usage: bench/auth-overhead.sh [rounds] [extra tributary-bench flags, e.g. --ops get]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}; shift $(( $# > 0 ? 1 : 0 )) || true
cargo build --release --bins -q
work=$(mktemp -d /tmp/tributary-authbench.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
cat > "$work/sigv4.toml" <<'TOML'
[auth]
mode = "sigv4"
[[auth.users]]
name = "admin"
access_key_id = "AKIDBENCH"
secret_access_key = "bench-secret"
[[auth.users]]
name = "app"
access_key_id = "AKIDAPP"
secret_access_key = "app-secret"
policy = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:CreateTable", "dynamodb:DescribeTable", "dynamodb:BatchWriteItem"], "Resource": "arn:aws:dynamodb:us-east-1:000000000000:table/bench*"}, {"Effect": "Deny", "Action": "dynamodb:DeleteTable", "Resource": "*"}]}'
TOML
printf '' > "$work/none.toml"
wait_port() { for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$1/" && return; sleep 0.1; done; exit 1; }
for r in $(seq "$rounds"); do
  for auth in none sigv4 policy; do
    config=$work/sigv4.toml; key=(--access-key-id AKIDBENCH --secret-access-key bench-secret)
    [ $auth = none ] && config=$work/none.toml
    [ $auth = policy ] && key=(--access-key-id AKIDAPP --secret-access-key app-secret)
    rm -rf "$work/data"
    TRIBUTARY_WORKER_THREADS=${TRIBUTARY_WORKER_THREADS:-1} \
      target/release/tributary serve --config "$config" --listen 127.0.0.1:8000 \
      --data-dir "$work/data" --durability buffered 2>"$work/server.log" & pid=$!
    wait_port 8000
    target/release/tributary-bench "${key[@]}" --label "auth-$auth-r$r" "$@"
    kill $pid; wait $pid 2>/dev/null || true
  done
done
