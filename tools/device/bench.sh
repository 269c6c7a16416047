#!/usr/bin/env bash
# The GPU speed check, beside check.sh (same host preparation: see the top of check.sh). It builds
# build-gpu (nothing to do after check.sh), then:
#   1. the fused kernels against their composed references (attention, autocast, W2A8, packed layers);
#   2. GPT-2 124M training steps, B=16 T=1024, tern against PyTorch eager (SDPA, fused AdamW) at fp32,
#      TF32 and bf16 autocast, side by side in one run (bench/torch_gpt2_step.py --device cuda);
#   3. the W2A8 ternary GEMV against cuBLAS fp16 GEMV (build-gpu/bench/bench_w2a8_cuda);
#   4. the char model in bf16 against fp32 on the GPU (val loss within 1%);
#   5. a kernel profile of GPT-2 124M training steps (TERN_PROFILE=1);
#   6. decoding tokens/s of tern generate with GPT-2 124M on the GPU, fp32 and from a packed Phase 4 directory;
# and prints a summary table last. Logs go to $OUT (default /tmp/tern-device).
#
# Environment: OUT, TERN_JOBS, CUDA_ARCH (as check.sh), CHAR_STEPS (default 200), PYTHON (default python3).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1
CHAR_STEPS=${CHAR_STEPS:-200}
PYTHON=${PYTHON:-python3}
SUMMARY=${OUT:-/tmp/tern-device}/bench_summary.txt
# shellcheck source=tools/device/setup.sh
source tools/device/setup.sh
rc=0

# ---- 1. fused kernels against the composed ops they replace
step "fused kernels vs composed" fused.log ./build-gpu/tests/tern_tests --gtest_color=no \
  --gtest_filter='*FusedAttention*:*Autocast*:*W2A8*:*PackedBitLinear*:TernaryLinear.*' || rc=1
grep -E "^\[  (PASSED|SKIPPED|FAILED) " "$OUT/fused.log"

# ---- 2. GPT-2 124M training step against PyTorch eager
if step "GPT-2 124M step vs PyTorch" gpt2_step.log timeout 900 "$PYTHON" bench/torch_gpt2_step.py --device cuda \
  --tern build-gpu/bench/bench_gpt2_step --precision all; then
  grep -E "^\||^GPT-2" "$OUT/gpt2_step.log" | tee -a "$SUMMARY"
else
  rc=1
fi

# ---- 3. W2A8 against cuBLAS fp16 GEMV
if step "W2A8 vs cuBLAS fp16 GEMV" w2a8.log timeout 300 ./build-gpu/bench/bench_w2a8_cuda; then
  sed -n '/^W2A8 ternary GEMV/,$p' "$OUT/w2a8.log" | tee -a "$SUMMARY"
else
  rc=1
fi

# ---- 4. the char model in bf16 against fp32
char=(--steps "$CHAR_STEPS" --eval-interval "$CHAR_STEPS" --eval-iters 20 --checkpoint-interval 0 --overwrite)
val_of() { sed -n 's/^done: .*val loss \([0-9.]*\).*/\1/p' "$OUT/$1" | tail -1; }
rate_of() { grep -o '[0-9.]*[kM]* tok/s' "$OUT/$1" | tail -1; }
step "char model, cuda fp32" bench_char_fp32.log timeout 600 "$TERN" train "${char[@]}" --device cuda \
  --out "$OUT/bench_char_fp32" || rc=1
step "char model, cuda bf16" bench_char_bf16.log timeout 600 "$TERN" train "${char[@]}" --device cuda \
  --precision bf16 --out "$OUT/bench_char_bf16" || rc=1
v32=$(val_of bench_char_fp32.log) v16=$(val_of bench_char_bf16.log)
if [[ -n $v32 && -n $v16 ]] && awk -v a="$v32" -v b="$v16" 'BEGIN { d = (b - a) / a; exit !(d < 0.01) }'; then
  note ok "char model val loss: fp32 $v32, bf16 $v16 (within 1%); $(rate_of bench_char_fp32.log) vs $(rate_of bench_char_bf16.log)"
else
  note FAIL "char model val loss: fp32 ${v32:-none}, bf16 ${v16:-none} (bf16 more than 1% above)"
  rc=1
fi

# ---- 5. where a GPT-2 124M step's time goes
g124=(--model gpt2 --tokenizer bpe --batch 16 --block 1024 --eval-interval 0 --checkpoint-interval 0 --overwrite)
if step "profile, GPT-2 124M, 6 steps" profile.log env TERN_PROFILE=1 timeout 600 "$TERN" train "${g124[@]}" \
  --steps 6 --device cuda --out "$OUT/g124"; then
  sed -n '/^tern profile/,$p' "$OUT/profile.log" | head -30 | tee "$OUT/profile_table.txt"
else
  rc=1
fi

# ---- 6. decoding GPT-2 124M on the GPU, fp32 and packed ternary
if step "generate GPT-2 124M, cuda" generate_g124.log timeout 300 "$TERN" generate "$OUT/g124" --device cuda \
  --prompt "ROMEO:" -n 256 --seed 1; then
  note "" "fp32: $(grep '^\[generate\]' "$OUT/generate_g124.log")"
fi
if step "quantize GPT-2 124M (no QAT)" quantize_g124.log timeout 600 "$TERN" quantize --model "$OUT/g124" \
  --out "$OUT/g124/phase4" --qat-steps 0 --eval-iters 1 --block 64 --batch 1 --device cuda &&
  step "generate packed Phase 4, cuda" generate_packed.log timeout 300 "$TERN" generate "$OUT/g124/phase4" \
    --device cuda --prompt "ROMEO:" -n 256 --seed 1; then
  note "" "packed: $(grep '^\[generate\]' "$OUT/generate_packed.log")"
else
  rc=1
fi

echo "summary:"
cat "$SUMMARY"
exit $rc
