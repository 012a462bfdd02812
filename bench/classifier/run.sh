#!/usr/bin/env bash
# Classifier benchmark: downloads the public prompt sets (shipped inside PyPI packages) into the
# git-ignored bench/.data/, converts them to labelled chat requests, and runs the evaluation.
#
#   bash bench/classifier/run.sh            # accuracy, confusion matrix, difficulty AUC, timings
#   SPLIT=tune bash bench/classifier/run.sh # the same figures on the split the rules were tuned on
#
# Nothing here is committed: packages land in bench/.data/pkgs/, the JSONL and the report in
# bench/.data/classifier/. Copy figures into bench/classifier/RESULTS.md by hand.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$HOME/.cargo/bin:$PATH"

DATA=bench/.data
PKGS=$DATA/pkgs
OUT=$DATA/classifier
mkdir -p "$PKGS" "$OUT"

# Pinned versions (checked by hash below).
fetch() { # name==version glob [pip options...]
  local spec=$1 pattern=$2; shift 2
  if ! compgen -G "$PKGS/$pattern" >/dev/null; then
    echo "downloading $spec" >&2
    python3 -m pip download --quiet --no-deps --dest "$PKGS" "$@" "$spec"
  fi
}
# BIG-bench publishes only an sdist (~360 MB; its task JSON files are read from the archive in place).
fetch "bigbench==1.0.0" "bigbench-1.0.0.tar.gz" --no-binary :all:
fetch "bfcl-eval==2026.3.23" "bfcl_eval-2026.3.23-*.whl" --only-binary :all:
fetch "inspect-evals==0.26.0" "inspect_evals-0.26.0-*.whl" --only-binary :all:

# The exact files the figures in RESULTS.md came from.
sha256sum --check --quiet <<SUMS
1bb398a5512c6d798cdebe0dfa0ac03f67f6033fa6b39c6ef71df978c7cbc5c2  $PKGS/bigbench-1.0.0.tar.gz
3bb6dfa5f0c68ad403c9ec50b00db2bb3b4cc9b38ab1ff33f48fe30d853d3a0a  $PKGS/bfcl_eval-2026.3.23-py3-none-any.whl
b76d15813182807da141a0f06bb6f18a5f82d1f06291ec2633bb84cdf661f8d0  $PKGS/inspect_evals-0.26.0-py3-none-any.whl
SUMS

if [ ! -s "$OUT/labelled.jsonl" ] || [ bench/classifier/convert.py -nt "$OUT/labelled.jsonl" ]; then
  python3 bench/classifier/convert.py "$PKGS" "$OUT/labelled.jsonl"
fi

cargo run --quiet --release --example classifier_eval -- \
  --data "$OUT/labelled.jsonl" --split "${SPLIT:-heldout}" --timing --misses "$OUT/misses.txt" | tee "$OUT/report.md"
echo "report: $OUT/report.md, misclassified prompts: $OUT/misses.txt" >&2
