#!/usr/bin/env bash
# Three regions and NATS on this machine, in one command:
#
#   bash examples/multi-region/run.sh           # start, demonstrate, keep running (Ctrl-C stops)
#   bash examples/multi-region/run.sh --check   # start, demonstrate, stop; exit 0 on success
#
# starts `nats-server -js` on a free port and one `tributary serve --config config/<region>.toml`
# per region (us-east-1 on 8001, eu-west-1 on 8002, ap-south-1 on 8003; data in a throw-away
# directory), prints the endpoints, then shows replication: the global table `Orders`
# (declared in the configs) gets an item in each region and every region shows all three;
# then `Customers` is created in us-east-1 and made global with UpdateTable ReplicaUpdates,
# and appears, with its items, in the other two.
#
# Needs: cargo, curl, python3 and nats-server (Debian: apt-get install nats-server; or
# NATS_SERVER=/path/to/nats-server). TRIBUTARY_BIN=/path/to/tributary skips the release build.
set -euo pipefail
cd "$(dirname "$0")/../.."

say() { printf '\n==> %s\n' "$*"; }
die() { printf 'run.sh: %s\n' "$*" >&2; exit 1; }

CHECK=0
[ "${1:-}" = "--check" ] && CHECK=1
for tool in cargo curl python3; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is missing"
done
NATS=${NATS_SERVER:-$(command -v nats-server || echo /usr/sbin/nats-server)}
[ -x "$NATS" ] || die "nats-server is missing: apt-get install nats-server (or set NATS_SERVER)"

REGIONS=(us-east-1 eu-west-1 ap-south-1)
declare -A PORT=([us-east-1]=8001 [eu-west-1]=8002 [ap-south-1]=8003)
TMP=$(mktemp -d)
PIDS=()
cleanup() {
    status=$?
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [ "$status" -ne 0 ]; then
        for f in "$TMP"/*.log; do
            [ -f "$f" ] || continue
            echo "--- last lines of $f ---" >&2
            tail -n 20 "$f" >&2 || true
        done
    fi
    rm -rf "$TMP"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -n "${TRIBUTARY_BIN:-}" ]; then
    BIN=$TRIBUTARY_BIN
else
    say "cargo build --release"
    cargo build --release --bin tributary
    BIN=target/release/tributary
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for r in "${REGIONS[@]}"; do
    port_free "${PORT[$r]}" || PORT[$r]=$(free_port)
done

NATS_PORT=$(free_port)
say "nats-server -js on 127.0.0.1:$NATS_PORT"
"$NATS" -js -a 127.0.0.1 -p "$NATS_PORT" -sd "$TMP/nats" >"$TMP/nats.log" 2>&1 &
PIDS+=($!)

for r in "${REGIONS[@]}"; do
    "$BIN" serve --config "config/$r.toml" --nats "nats://127.0.0.1:$NATS_PORT" \
        --listen "127.0.0.1:${PORT[$r]}" --data-dir "$TMP/data/$r" >"$TMP/$r.log" 2>&1 &
    PIDS+=($!)
done
for r in "${REGIONS[@]}"; do
    for _ in $(seq 1 100); do
        curl -sf "http://127.0.0.1:${PORT[$r]}/" >/dev/null && break
        sleep 0.1
    done
    curl -sf "http://127.0.0.1:${PORT[$r]}/" >/dev/null || die "$r did not start"
done

# One DynamoDB call with curl (the server accepts unsigned requests): call REGION OP JSON.
call() {
    curl -sf "http://127.0.0.1:${PORT[$1]}/" -H "X-Amz-Target: DynamoDB_20120810.$2" \
        -H 'Content-Type: application/x-amz-json-1.0' -d "$3"
}
# Waits until `call REGION OP JSON` prints something matching PATTERN.
wait_for() {
    local region=$1 op=$2 body=$3 pattern=$4
    for _ in $(seq 1 300); do
        call "$region" "$op" "$body" 2>/dev/null | grep -q "$pattern" && return 0
        sleep 0.1
    done
    die "$region: no $pattern in $op $body: $(call "$region" "$op" "$body" || true)"
}

say "regions"
for r in "${REGIONS[@]}"; do
    printf '  %-11s http://127.0.0.1:%s   (aws dynamodb --endpoint-url http://127.0.0.1:%s --region %s ...)\n' \
        "$r" "${PORT[$r]}" "${PORT[$r]}" "$r"
done
echo "  NATS        nats://127.0.0.1:$NATS_PORT"

say "writing one order in each region"
for r in "${REGIONS[@]}"; do
    call "$r" PutItem "{\"TableName\":\"Orders\",\"Item\":{\"pk\":{\"S\":\"order-from-$r\"},\"total\":{\"N\":\"42\"}}}" >/dev/null
done
for r in "${REGIONS[@]}"; do
    for from in "${REGIONS[@]}"; do
        wait_for "$r" GetItem "{\"TableName\":\"Orders\",\"Key\":{\"pk\":{\"S\":\"order-from-$from\"}}}" "order-from-$from"
    done
    echo "  $r holds: $(call "$r" Scan '{"TableName":"Orders","Select":"COUNT"}')"
done

say "making Customers (created in us-east-1 with 3 items) global with UpdateTable ReplicaUpdates"
call us-east-1 CreateTable '{"TableName":"Customers","KeySchema":[{"AttributeName":"id","KeyType":"HASH"}],"AttributeDefinitions":[{"AttributeName":"id","AttributeType":"S"}],"BillingMode":"PAY_PER_REQUEST"}' >/dev/null
for i in 1 2 3; do
    call us-east-1 PutItem "{\"TableName\":\"Customers\",\"Item\":{\"id\":{\"S\":\"c$i\"}}}" >/dev/null
done
call us-east-1 UpdateTable '{"TableName":"Customers","ReplicaUpdates":[{"Create":{"RegionName":"eu-west-1"}},{"Create":{"RegionName":"ap-south-1"}}]}' >/dev/null
all_active() {
    call us-east-1 DescribeTable '{"TableName":"Customers"}' | python3 -c '
import json, sys
r = json.load(sys.stdin)["Table"].get("Replicas", [])
sys.exit(0 if len(r) == 2 and all(x["ReplicaStatus"] == "ACTIVE" for x in r) else 1)'
}
for _ in $(seq 1 300); do all_active && break; sleep 0.1; done
all_active || die "the Customers replicas did not become ACTIVE"
for r in eu-west-1 ap-south-1; do
    wait_for "$r" Scan '{"TableName":"Customers","Select":"COUNT"}' '"Count":3'
done
call us-east-1 DescribeTable '{"TableName":"Customers"}' | python3 -c '
import json, sys
t = json.load(sys.stdin)["Table"]
print("  us-east-1 DescribeTable: GlobalTableVersion", t["GlobalTableVersion"], "Replicas", [(r["RegionName"], r["ReplicaStatus"]) for r in t["Replicas"]])'
echo "  replication latency per origin, from eu-west-1's metrics:"
curl -sf "http://127.0.0.1:${PORT[eu-west-1]}/metrics" | grep -E '^tributary_replication_lag_seconds' | sed 's/^/    /'

if [ "$CHECK" = 1 ]; then
    say "ok: every region holds every change"
    exit 0
fi
say "running; logs in $TMP (Ctrl-C stops everything and removes them)"
wait
