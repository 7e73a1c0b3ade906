#!/usr/bin/env bash
# Build Quiver (release), set up bench/.venv if missing, run the placement benchmark
# (peer gone for good, drain under load, rolling restart under load; design record 012).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
source "$REPO/bench/common.sh" numpy orjson requests
exec "$VENV/bin/python" "$REPO/bench/placement.py" --bin "$BIN" "$@"
