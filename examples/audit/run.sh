#!/usr/bin/env bash
# The audit example end to end, in one command:
#
#   bash examples/audit/run.sh
#
# builds tributary and the WAT audit handler (examples/handlers/audit-wat), starts a server on
# a free port with a throw-away data directory, creates the table `Things` (with a stream) and
# the table `Audit`, deploys the handler and maps it to the stream with the AWS CLI, changes a
# few items, waits until `Audit` holds one item per change and prints them. Exits 0 when every
# change was audited, non-zero otherwise. The server is stopped and the temporary directory
# removed on exit.
#
# Needs: cargo, curl, python3 (for the free port and the summary) and the AWS CLI (`aws` on
# PATH, or its path in $AWS_CLI). TRIBUTARY_BIN=/path/to/tributary skips the release build.
set -euo pipefail
cd "$(dirname "$0")/../.."

say() { printf '\n==> %s\n' "$*"; }
die() { printf 'run.sh: %s\n' "$*" >&2; exit 1; }

# --- prerequisites -------------------------------------------------------------------------
if [ -n "${AWS_CLI:-}" ]; then
    [ -x "$AWS_CLI" ] || die "AWS_CLI=$AWS_CLI is not an executable"
elif command -v aws >/dev/null 2>&1; then
    AWS_CLI=$(command -v aws)
elif [ -x .venv-awscli/bin/aws ]; then
    AWS_CLI=$PWD/.venv-awscli/bin/aws
else
    die "the AWS CLI is missing: pip install awscli (or set AWS_CLI=/path/to/aws)"
fi
for tool in cargo curl python3; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is missing"
done
export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_DEFAULT_REGION=us-east-1
export AWS_PAGER="" AWS_EC2_METADATA_DISABLED=true

TMP=$(mktemp -d)
SERVER_PID=""
cleanup() {
    status=$?
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if [ "$status" -ne 0 ] && [ -f "$TMP/server.log" ]; then
        echo "--- last lines of the server log ---" >&2
        tail -n 40 "$TMP/server.log" >&2 || true
    fi
    rm -rf "$TMP"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- build ---------------------------------------------------------------------------------
# TRIBUTARY_BIN=/path/to/tributary uses that binary instead of `cargo build --release`.
if [ -n "${TRIBUTARY_BIN:-}" ]; then
    BIN=$TRIBUTARY_BIN
else
    say "cargo build --release"
    cargo build --release
    BIN=target/release/tributary
fi

say "tributary function build examples/handlers/audit-wat/audit.wat"
"$BIN" function build examples/handlers/audit-wat/audit.wat -o "$TMP/audit.wasm"
# The AWS CLI uploads only zip files with --zip-file ("--zip-file must be a zip file"); the
# server takes the one .wasm file inside the zip (SDKs may send the bare component).
if command -v zip >/dev/null 2>&1; then
    zip -qj "$TMP/audit.zip" "$TMP/audit.wasm"
else
    python3 -m zipfile -c "$TMP/audit.zip" "$TMP/audit.wasm"
fi

# --- server --------------------------------------------------------------------------------
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
ENDPOINT=http://127.0.0.1:$PORT
say "tributary serve --listen 127.0.0.1:$PORT"
"$BIN" serve --listen "127.0.0.1:$PORT" --data-dir "$TMP/data" \
    >"$TMP/server.log" 2>&1 &
SERVER_PID=$!
deadline=$((SECONDS + 30))
until curl -fsS "$ENDPOINT/" >/dev/null 2>&1; do
    kill -0 "$SERVER_PID" 2>/dev/null || die "the server exited"
    [ "$SECONDS" -lt "$deadline" ] || die "the server did not answer within 30 s"
    sleep 0.2
done

aws() { timeout 120 "$AWS_CLI" --endpoint-url "$ENDPOINT" "$@"; }

# --- tables --------------------------------------------------------------------------------
say "tables Things (with a stream) and Audit"
aws dynamodb create-table --table-name Things \
    --attribute-definitions AttributeName=id,AttributeType=S \
    --key-schema AttributeName=id,KeyType=HASH \
    --billing-mode PAY_PER_REQUEST \
    --stream-specification StreamEnabled=true,StreamViewType=NEW_AND_OLD_IMAGES >/dev/null
aws dynamodb create-table --table-name Audit \
    --attribute-definitions AttributeName=EventId,AttributeType=S \
    --key-schema AttributeName=EventId,KeyType=HASH \
    --billing-mode PAY_PER_REQUEST >/dev/null
aws dynamodb wait table-exists --table-name Things
aws dynamodb wait table-exists --table-name Audit
STREAM_ARN=$(aws dynamodb describe-table --table-name Things \
    --query Table.LatestStreamArn --output text)
echo "stream: $STREAM_ARN"

# --- function and mapping ------------------------------------------------------------------
say "aws lambda create-function audit; create-event-source-mapping"
aws lambda create-function --function-name audit \
    --zip-file "fileb://$TMP/audit.zip" \
    --role arn:aws:iam::000000000000:role/any --runtime provided --handler x \
    --timeout 30 \
    --query '[FunctionName, CodeSize, CodeSha256]' --output text
aws lambda create-event-source-mapping --function-name audit \
    --event-source-arn "$STREAM_ARN" --starting-position TRIM_HORIZON --batch-size 100 \
    --query '[UUID, State]' --output text

# --- changes -------------------------------------------------------------------------------
say "changes to Things"
CHANGES=0
change() { aws dynamodb "$@" >/dev/null; CHANGES=$((CHANGES + 1)); }
change put-item --table-name Things \
    --item '{"id": {"S": "apple"}, "colour": {"S": "red"}, "stock": {"N": "3"}}'
change put-item --table-name Things \
    --item '{"id": {"S": "pear"}, "colour": {"S": "green"}, "stock": {"N": "5"}}'
change put-item --table-name Things \
    --item '{"id": {"S": "quote"}, "text": {"S": "She said \"hi\" and left a \\ behind {]"}}'
change update-item --table-name Things --key '{"id": {"S": "apple"}}' \
    --update-expression 'SET stock = stock - :one' \
    --expression-attribute-values '{":one": {"N": "1"}}'
change put-item --table-name Things \
    --item '{"id": {"S": "pear"}, "colour": {"S": "yellow"}, "stock": {"N": "5"}}'
change delete-item --table-name Things --key '{"id": {"S": "quote"}}'
echo "$CHANGES changes"

# --- wait for the audit trail --------------------------------------------------------------
say "waiting for $CHANGES Audit items"
deadline=$((SECONDS + 60))
while :; do
    count=$(aws dynamodb scan --table-name Audit --consistent-read --select COUNT \
        --query Count --output text)
    echo "Audit items: $count"
    [ "$count" -ge "$CHANGES" ] && break
    [ "$SECONDS" -lt "$deadline" ] || die "only $count of $CHANGES Audit items after 60 s"
    sleep 0.5
done
[ "$count" -eq "$CHANGES" ] || die "$count Audit items for $CHANGES changes"

say "Audit"
aws dynamodb scan --table-name Audit --consistent-read --output json >"$TMP/audit.json"
python3 - "$TMP/audit.json" <<'EOF'
import json, sys

items = json.load(open(sys.argv[1]))["Items"]
records = sorted(
    ((item["EventId"]["S"], json.loads(item["Record"]["S"])) for item in items),
    key=lambda r: int(r[1]["dynamodb"]["SequenceNumber"]),
)
for event_id, rec in records:
    d = rec["dynamodb"]
    assert rec["eventID"] == event_id, (event_id, rec)
    print(f'{event_id}  {rec["eventName"]:<6}  seq {d["SequenceNumber"]}  keys {json.dumps(d["Keys"])}')
    for image in ("OldImage", "NewImage"):
        if image in d:
            print(f"    {image}: {json.dumps(d[image], ensure_ascii=False)}")
# The item of the change with quotes and a backslash in its value, as stored.
shown = next(
    (item for item in items
     if json.loads(item["Record"]["S"])["dynamodb"]["Keys"] == {"id": {"S": "quote"}}),
    items[0],
)
print()
print("one Audit item, as stored:")
print(json.dumps(shown, indent=2, ensure_ascii=False))
EOF

say "ok: $CHANGES changes, $count Audit items"
