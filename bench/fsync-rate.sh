#!/usr/bin/env bash
# Measures how many sequential fsyncs per second the disk under DIR sustains: the ceiling of
# group commit is concurrency x this figure. Usage: bench/fsync-rate.sh [DIR] [SECONDS]
set -euo pipefail
dir=${1:-./data}
secs=${2:-5}
mkdir -p "$dir"
python3 - "$dir" "$secs" <<'PY'
import os, sys, time
path = os.path.join(sys.argv[1], ".fsync-rate")
secs = float(sys.argv[2])
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
n, start = 0, time.monotonic()
try:
    while time.monotonic() - start < secs:
        os.write(fd, b"x" * 128)
        os.fsync(fd)
        n += 1
finally:
    os.close(fd)
    os.unlink(path)
elapsed = time.monotonic() - start
print(f"fsync/s {n / elapsed:.0f} ({n} appends+fsyncs of 128 B in {elapsed:.1f}s, {1e6 * elapsed / n:.0f} us each)")
PY
