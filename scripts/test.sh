#!/usr/bin/env bash
# The project's test command: installs what the tests need, builds, runs the Rust tests and the
# Python end-to-end suite (real qdrant-client against a real quiver process).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== python environment"
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/pip install -q --disable-pip-version-check -r tests/python/requirements.txt

echo "== build"
cargo build --workspace --all-targets --locked

echo "== rust tests"
if command -v cargo-nextest >/dev/null 2>&1; then
    cargo nextest run --workspace --locked --no-fail-fast
else
    cargo test --workspace --locked --no-fail-fast
fi

echo "== python end-to-end tests"
QUIVER_BIN="$PWD/target/debug/quiver" .venv/bin/pytest -q tests/python
