#!/usr/bin/env bash
# Black-box chaos check (Jepsen style): randomized fault schedules on real quiver processes.
#   bash scripts/chaos.sh --seed S --schedules N   # schedules with seeds S, S+1, ..., S+N-1
#   bash scripts/chaos.sh --short                  # CI: replay tests/chaos/regressions.txt + 6 schedules
#   bash scripts/chaos.sh --regressions            # replay tests/chaos/regressions.txt only
# Needs .venv (created by scripts/test.sh) and target/debug/quiver (QUIVER_BIN overrides).
# See tests/chaos/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
    echo "chaos: .venv is missing; run 'bash scripts/test.sh' first (or: python3 -m venv .venv &&" \
         ".venv/bin/pip install -r tests/python/requirements.txt)" >&2
    exit 2
fi
export QUIVER_BIN="${QUIVER_BIN:-$PWD/target/debug/quiver}"
if [ ! -x "$QUIVER_BIN" ]; then
    echo "== build ($QUIVER_BIN missing)" >&2
    cargo build --locked --bin quiver
fi

# The checker's own tests (no server needed, about a second).
.venv/bin/python -m pytest -q -p no:cacheprovider tests/chaos/test_checker.py >&2

exec .venv/bin/python tests/chaos/runner.py "$@"
