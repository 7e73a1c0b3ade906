#!/usr/bin/env bash
# The project's test command: installs what the tests need, builds, runs the Rust tests and the
# Python end-to-end suite (real qdrant-client against a real quiver process).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== headless browser for the dashboard tests (Debian's chromium + chromium-driver)"
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    as_root=()
    if [ "$(id -u)" != 0 ]; then
        command -v sudo >/dev/null 2>&1 || { echo "error: chromium and chromium-driver are missing and there is no sudo to install them" >&2; exit 1; }
        as_root=(sudo)
    fi
    "${as_root[@]}" apt-get update -q >/dev/null
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >/dev/null
fi

echo "== python environment"
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/pip install -q --disable-pip-version-check -r tests/python/requirements.txt

echo "== checks: formatting, layering (DESIGN.md §2), lints"
for tool in fmt clippy; do
    if ! cargo "$tool" --version >/dev/null 2>&1; then
        rustup component add rustfmt clippy >/dev/null 2>&1 || true
    fi
done
.venv/bin/python scripts/check_arch.py
if cargo fmt --version >/dev/null 2>&1; then
    cargo fmt --all -- --check
else
    echo "warning: rustfmt is not installed and could not be added; formatting not checked"
fi
if cargo clippy --version >/dev/null 2>&1; then
    cargo clippy --workspace --all-targets --locked -- -D warnings
else
    echo "warning: clippy is not installed and could not be added; lints not checked"
fi

echo "== build"
cargo build --workspace --all-targets --locked

echo "== rust tests"
if command -v cargo-nextest >/dev/null 2>&1; then
    cargo nextest run --workspace --locked --no-fail-fast
else
    cargo test --workspace --locked --no-fail-fast
fi

echo "== python end-to-end tests"
QUIVER_BIN="$PWD/target/debug/quiver" .venv/bin/pytest -q -m "not long" tests/python

echo "== chaos (short mode: replayed regressions + a few random fault schedules)"
bash scripts/chaos.sh --short
