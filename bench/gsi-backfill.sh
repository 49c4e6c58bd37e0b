#!/usr/bin/env bash
# GSI backfill speed: loads ITEMS items (default 100,000) into a release server, adds a global
# secondary index with UpdateTable (AWS CLI) and reports the backfill rate the server logs.
# Usage: bench/gsi-backfill.sh [ITEMS]
set -euo pipefail
cd "$(dirname "$0")/.."
items=${1:-100000}
cargo build --release --bins -q
work=$(mktemp -d /tmp/tributary-gsi.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_DEFAULT_REGION=us-east-1 AWS_PAGER=
aws=${AWS_CLI:-aws}
target/release/tributary serve --listen 127.0.0.1:8000 --data-dir "$work/data" 2>"$work/server.log" &
for _ in $(seq 100); do curl -s -o /dev/null http://127.0.0.1:8000/ && break; sleep 0.1; done
# The generator's load phase writes every item once (then reads for a second).
target/release/tributary-bench --ops get --items "$items" --duration 1 --warmup 0 --label load >/dev/null
"$aws" dynamodb update-table --table-name bench --endpoint-url http://127.0.0.1:8000 \
  --attribute-definitions AttributeName=n,AttributeType=N \
  --global-secondary-index-updates \
  '[{"Create":{"IndexName":"by_n","KeySchema":[{"AttributeName":"n","KeyType":"HASH"}],"Projection":{"ProjectionType":"KEYS_ONLY"},"ProvisionedThroughput":{"ReadCapacityUnits":5,"WriteCapacityUnits":5}}}]' \
  >/dev/null
for _ in $(seq 600); do grep -q "index backfilled" "$work/server.log" && break; sleep 0.5; done
grep "index backfilled" "$work/server.log" | sed 's/\x1b\[[0-9;]*m//g'
