#!/usr/bin/env bash
# Build Quiver (release), set up bench/.venv if missing, run the digest-stall benchmark
# (single-point writes while two replicas compare digests every 5 s; design record 052).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
source "$REPO/bench/common.sh" numpy orjson requests
exec "$VENV/bin/python" "$REPO/bench/digest_stall.py" --bin "$BIN" "$@"
