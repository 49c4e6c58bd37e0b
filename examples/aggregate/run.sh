#!/usr/bin/env bash
# The aggregate scenario end to end, on a fresh server: builds tributary and the JavaScript
# handler (examples/handlers/aggregate-js), starts a server on a free port with a temporary
# data directory, creates Orders (with a NEW_AND_OLD_IMAGES stream) and CustomerTotals,
# deploys the handler and maps it to the stream with the AWS CLI, writes, updates and deletes
# a few orders, waits until CustomerTotals is right, and prints it.
#
# Needs cargo, node + npm and the AWS CLI (`aws` on PATH, or AWS_CLI=/path/to/aws).
# TRIBUTARY_BIN=/path/to/tributary uses that binary instead of `cargo build --release`.
# Exits 0 when the aggregate came out right, non-zero otherwise.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HANDLER_DIR=$ROOT/examples/handlers/aggregate-js
TIMEOUT_SECS=${TIMEOUT_SECS:-60}

export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_DEFAULT_REGION=us-east-1
export AWS_PAGER=""

step() { printf '\n==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# --- tools -----------------------------------------------------------------------------
if [ -n "${AWS_CLI:-}" ]; then
    AWS=$AWS_CLI
elif command -v aws >/dev/null 2>&1; then
    AWS=$(command -v aws)
elif [ -x "$ROOT/.venv-awscli/bin/aws" ]; then
    AWS=$ROOT/.venv-awscli/bin/aws
else
    die "the AWS CLI was not found: put \`aws\` on PATH or set AWS_CLI (e.g. python3 -m venv .venv-awscli && .venv-awscli/bin/pip install awscli)"
fi
"$AWS" --version >/dev/null 2>&1 || die "\`$AWS --version\` failed"
command -v npm >/dev/null 2>&1 && command -v node >/dev/null 2>&1 ||
    die "node and npm are needed to build the handler (Debian/Ubuntu: apt-get install nodejs npm)"

# --- build -----------------------------------------------------------------------------
if [ -n "${TRIBUTARY_BIN:-}" ]; then
    BIN=$TRIBUTARY_BIN
else
    command -v cargo >/dev/null 2>&1 || die "cargo is needed to build the server (https://rustup.rs)"
    step "building the server (cargo build --release)"
    (cd "$ROOT" && cargo build --release)
    BIN=$ROOT/target/release/tributary
fi
[ -x "$BIN" ] || die "no server binary at $BIN"

step "building the handler (npm run build)"
(
    cd "$HANDLER_DIR"
    [ -d node_modules ] || npm install --no-audit --no-fund
    npm run build
)
WASM=$HANDLER_DIR/aggregate.wasm
printf 'aggregate.wasm: %s bytes\n' "$(wc -c <"$WASM")"

WORK=$(mktemp -d)
SERVER_PID=
cleanup() {
    status=$?
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if [ "$status" -ne 0 ] && [ -f "$WORK/server.log" ]; then
        printf '\n--- server log (last 40 lines) ---\n' >&2
        tail -n 40 "$WORK/server.log" >&2
    fi
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The AWS CLI accepts only zip files for --zip-file ("--zip-file must be a zip file"); the
# server takes the one .wasm inside (SDKs may upload the .wasm itself).
ZIP=$WORK/aggregate.zip
if command -v zip >/dev/null 2>&1; then
    zip -qj "$ZIP" "$WASM"
else
    (cd "$HANDLER_DIR" && python3 -m zipfile -c "$ZIP" aggregate.wasm)
fi
printf 'aggregate.zip: %s bytes\n' "$(wc -c <"$ZIP")"

# --- server ----------------------------------------------------------------------------
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
PORT=
for _ in $(seq 1 50); do
    candidate=$((20000 + RANDOM % 40000))
    if ! port_in_use "$candidate"; then PORT=$candidate; break; fi
done
[ -n "$PORT" ] || die "no free port found"
ENDPOINT=http://127.0.0.1:$PORT

step "starting tributary on $ENDPOINT"
"$BIN" serve --listen "127.0.0.1:$PORT" --data-dir "$WORK/data" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
# GET / answers "healthy: <addr>" (plain bash, no curl needed).
healthy() {
    (
        exec 3<>"/dev/tcp/127.0.0.1/$PORT" || exit 1
        printf 'GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
        grep -q "healthy: " <&3
    ) 2>/dev/null
}
for _ in $(seq 1 300); do
    kill -0 "$SERVER_PID" 2>/dev/null || die "the server exited"
    healthy && break
    sleep 0.1
done
healthy || die "the server did not become healthy in 30 s"

aws_() { "$AWS" --endpoint-url "$ENDPOINT" "$@"; }

# --- tables, function, mapping ------------------------------------------------------------
step "creating Orders (stream NEW_AND_OLD_IMAGES) and CustomerTotals"
STREAM_ARN=$(aws_ dynamodb create-table --table-name Orders \
    --attribute-definitions AttributeName=OrderId,AttributeType=S \
    --key-schema AttributeName=OrderId,KeyType=HASH \
    --billing-mode PAY_PER_REQUEST \
    --stream-specification StreamEnabled=true,StreamViewType=NEW_AND_OLD_IMAGES \
    --query TableDescription.LatestStreamArn --output text)
aws_ dynamodb create-table --table-name CustomerTotals \
    --attribute-definitions AttributeName=Customer,AttributeType=S \
    --key-schema AttributeName=Customer,KeyType=HASH \
    --billing-mode PAY_PER_REQUEST >/dev/null
aws_ dynamodb wait table-exists --table-name Orders
aws_ dynamodb wait table-exists --table-name CustomerTotals
echo "Orders stream: $STREAM_ARN"

step "deploying the handler and mapping it to the stream"
aws_ --cli-read-timeout 300 lambda create-function --function-name aggregate \
    --zip-file "fileb://$ZIP" \
    --role arn:aws:iam::000000000000:role/any --runtime provided --handler x --timeout 30 \
    --query '[FunctionName, CodeSize]' --output text
aws_ lambda create-event-source-mapping --function-name aggregate \
    --event-source-arn "$STREAM_ARN" --starting-position TRIM_HORIZON --batch-size 100 \
    --query '[UUID, State]' --output text

# --- orders --------------------------------------------------------------------------------
step "writing, updating and deleting orders"
put_order() {
    aws_ dynamodb put-item --table-name Orders --item \
        "{\"OrderId\": {\"S\": \"$1\"}, \"Customer\": {\"S\": \"$2\"}, \"Amount\": {\"N\": \"$3\"}}"
    echo "put $1: $2 $3"
}
put_order o1 alice 25.50
put_order o2 bob 10
put_order o3 alice 4.50
put_order o4 carol 99.99
put_order o5 bob 5.25
aws_ dynamodb update-item --table-name Orders --key '{"OrderId": {"S": "o3"}}' \
    --update-expression 'SET Amount = :a' --expression-attribute-values '{":a": {"N": "14.50"}}'
echo "o3: amount 4.50 -> 14.50"
aws_ dynamodb update-item --table-name Orders --key '{"OrderId": {"S": "o5"}}' \
    --update-expression 'SET Customer = :c' --expression-attribute-values '{":c": {"S": "carol"}}'
echo "o5: customer bob -> carol"
aws_ dynamodb delete-item --table-name Orders --key '{"OrderId": {"S": "o2"}}'
echo "o2: deleted (bob has no orders left)"

# customer, number of orders, total
EXPECTED=$'alice 2 40.00\ncarol 2 105.24'

step "waiting for CustomerTotals (up to ${TIMEOUT_SECS} s)"
current() {
    aws_ dynamodb scan --table-name CustomerTotals --consistent-read \
        --query 'Items[].[Customer.S, Orders.N, Total.N]' --output text |
        awk 'NF { printf "%s %d %.2f\n", $1, $2, $3 }' | sort
}
deadline=$((SECONDS + TIMEOUT_SECS))
while :; do
    got=$(current)
    [ "$got" = "$EXPECTED" ] && break
    if [ "$SECONDS" -ge "$deadline" ]; then
        printf 'CustomerTotals is not right after %s s.\nexpected:\n%s\ngot:\n%s\n' \
            "$TIMEOUT_SECS" "$EXPECTED" "$got" >&2
        exit 1
    fi
    sleep 0.5
done

aws_ dynamodb scan --table-name CustomerTotals --consistent-read \
    --query 'sort_by(Items, &Customer.S)[].{Customer: Customer.S, Orders: Orders.N, Total: Total.N}' \
    --output table
echo "OK: CustomerTotals matches the orders"
