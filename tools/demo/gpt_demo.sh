#!/usr/bin/env bash
# The demo behind `./run demo`: train a small GPT (Config::tiny(): 4 layers, 4 heads,
# 128 wide, 64 positions; 0.8M parameters) on char-level tinyshakespeare with the
# `tern train` defaults (nanoGPT's CPU config), for fewer steps, then print a sample.
#   tools/demo/gpt_demo.sh path/to/tern OUT_DIR [extra tern train options...]
# TERN_DEMO_STEPS (default 600) sets the step count; extra options go to `tern train`.
set -euo pipefail
TERN=${1:?usage: gpt_demo.sh path/to/tern OUT_DIR [tern train options...]}
OUT=${2:?usage: gpt_demo.sh path/to/tern OUT_DIR [tern train options...]}
shift 2
STEPS=${TERN_DEMO_STEPS:-600}

train=("$TERN" train --model tiny --tokenizer char --steps "$STEPS" --lr-decay-steps "$STEPS"
       --eval-interval 100 --eval-iters 20 --out "$OUT" --overwrite "$@")
sample=("$TERN" generate "$OUT" --prompt $'ROMEO:\n' --max-new-tokens 400 --temperature 0.8 --top-k 40 --seed 1)

printf '\033[1m$ %s\033[0m\n' "${train[*]}"
"${train[@]}"
printf '\n\033[1m$ %s\033[0m\n' "${sample[*]//$'\n'/\\n}"
"${sample[@]}"
