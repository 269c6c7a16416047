#!/usr/bin/env bash
# The demo behind `./run demo`: the whole Phase 3 -> 4 -> 5 pipeline on the built-in defaults.
#   1. train a small GPT (Config::tiny(): 4 layers, 4 heads, 128 wide, 64 positions; 0.8M
#      parameters) on char-level tinyshakespeare, nanoGPT's CPU config for fewer steps;
#   2. quantize it to BitNet b1.58 with the thinking tokens <think> and </think>;
#   3. fine-tune through the quantization (QAT);
#   4. save the Phase 4 directory, then reload it;
#   5. evaluate the reloaded model;
#   6. generate from it;
#   7. draw the pictures (tools/plot.py, matplotlib): OUT_DIR/plots/training.png (loss, learning rate,
#      tokens/s) and OUT_DIR/phase4/plots/ (the QAT loss, each BitLinear layer's weight histogram with its
#      ternarization cut, sparsity and scale per layer).
#   tools/demo/gpt_demo.sh path/to/tern OUT_DIR [extra tern train options...]
# TERN_DEMO_STEPS (default 600) and TERN_DEMO_QAT_STEPS (default 200) set the step counts.
set -euo pipefail
TERN=${1:?usage: gpt_demo.sh path/to/tern OUT_DIR [tern train options...]}
OUT=${2:?usage: gpt_demo.sh path/to/tern OUT_DIR [tern train options...]}
shift 2
STEPS=${TERN_DEMO_STEPS:-600}
QAT_STEPS=${TERN_DEMO_QAT_STEPS:-200}
PLOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/plot.py

run() {
  printf '\n\033[1m$ %s\033[0m\n' "$(printf '%q ' "$@")"
  "$@"
}

run "$TERN" train --model tiny --tokenizer char --steps "$STEPS" --lr-decay-steps "$STEPS" \
  --eval-interval 100 --eval-iters 20 --out "$OUT" --overwrite "$@"
run "$TERN" generate "$OUT" --prompt $'ROMEO:\n' --max-new-tokens 200 --temperature 0.8 --top-k 40 --seed 1
run "$TERN" quantize --model "$OUT" --out "$OUT/phase4" --overwrite --add-tokens '<think>,</think>' \
  --qat-steps "$QAT_STEPS" --lr 1e-3 --min-lr 1e-4 --warmup-steps 20 --batch 12 --block 64 --eval-iters 0
run "$TERN" eval "$OUT/phase4"
run "$TERN" generate "$OUT/phase4" --prompt $'<think>ROMEO:\n' --max-new-tokens 200 --temperature 0.8 --top-k 40 \
  --seed 1
run "$PLOT" "$OUT" "$OUT/phase4"
