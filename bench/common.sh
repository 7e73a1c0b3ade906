# Shared by the bench/run*.sh scripts (sourced): checks the data set and creates bench/.venv.
# Expects REPO to be set; installs the Python packages given as arguments into the venv.

export QUIVER_BENCH_DATA="${QUIVER_BENCH_DATA:-$REPO/../shared/data}"
for f in base.npy query.npy gt_ids.npy; do
  [[ -f "$QUIVER_BENCH_DATA/$f" ]] || { echo "missing $QUIVER_BENCH_DATA/$f (set QUIVER_BENCH_DATA)" >&2; exit 2; }
done

echo "== cargo build --release" >&2
cargo build --release

VENV="$REPO/bench/.venv"
if [[ ! -x "$VENV/bin/python" ]]; then
  echo "== creating $VENV" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --upgrade pip
fi
"$VENV/bin/pip" install --quiet "$@"
BIN="${CARGO_TARGET_DIR:-$REPO/target}/release/quiver"
