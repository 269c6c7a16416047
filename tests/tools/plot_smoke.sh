#!/usr/bin/env bash
# tools/plot.py end to end: a short `tern train` and `tern quantize`, then the pictures of both directories.
# Skipped (exit 77) when /usr/bin/python3 has no matplotlib (Debian: python3-matplotlib, which ./run installs).
#   tests/tools/plot_smoke.sh path/to/tern
set -uo pipefail
TERN=${1:?usage: plot_smoke.sh path/to/tern}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PLOT=$ROOT/tools/plot.py
/usr/bin/python3 -c 'import matplotlib' 2>/dev/null || { echo "no matplotlib under /usr/bin/python3: skipped"; exit 77; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tern_plot_smoke.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

head -c 30000 "$ROOT/data/tinyshakespeare/input.txt" >"$WORK/small.txt"
"$TERN" train --data "$WORK/small.txt" --n-layer 1 --n-head 2 --n-embd 32 --batch 4 --block 16 --steps 12 \
  --eval-interval 4 --eval-iters 2 --out "$WORK/run" >"$WORK/train.log" 2>&1 || fail "train: $(cat "$WORK/train.log")"
"$TERN" quantize --model "$WORK/run" --out "$WORK/p4" --qat-steps 4 --batch 4 --block 16 --eval-iters 2 \
  >"$WORK/quantize.log" 2>&1 || fail "quantize: $(cat "$WORK/quantize.log")"
[[ -f $WORK/p4/layer_stats.json ]] || fail "quantize wrote no layer_stats.json"

"$PLOT" "$WORK/run" "$WORK/p4" >"$WORK/plot.log" 2>&1 || fail "plot.py: $(cat "$WORK/plot.log")"
for f in run/plots/training.png p4/plots/qat.png p4/plots/histograms.png p4/plots/layers.png \
         p4/plots/layers/h.0.mlp.c_fc.png; do
  [[ -s $WORK/$f && $(head -c 4 "$WORK/$f" | tail -c 3) == PNG ]] || fail "no PNG at $f: $(cat "$WORK/plot.log")"
done
# A directory with nothing to draw is a clear error.
mkdir "$WORK/empty"
out=$("$PLOT" "$WORK/empty" 2>&1) && fail "plot.py on an empty directory succeeded"
[[ $out == *"no metrics.csv"* ]] || fail "plot.py on an empty directory: $out"
((fails == 0)) && echo "plot smoke: ok"
exit $((fails > 0))
