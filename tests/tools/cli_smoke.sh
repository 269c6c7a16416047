#!/usr/bin/env bash
# The `tern` binary end to end: --help, clear errors, a real SIGINT during `tern train`
# (checkpoint saved, exit 130), --resume, then generate and eval on the result.
#   tests/tools/cli_smoke.sh path/to/tern
set -uo pipefail
TERN=${1:?usage: cli_smoke.sh path/to/tern}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tern_cli_smoke.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
expect_rc() {  # expect_rc <rc|nonzero> <needle or ''> <command...>
  local want=$1 needle=$2; shift 2
  local out rc
  out=$("$@" 2>&1); rc=$?
  [[ $rc == "$want" || ($want == nonzero && $rc != 0) ]] || fail "$* -> exit $rc (want $want): $out"
  [[ -z $needle || $out == *"$needle"* ]] || fail "$* -> output lacks '$needle': $out"
}

for sub in train generate eval; do expect_rc 0 "--help" "$TERN" "$sub" --help; done
expect_rc 0 "--resume" "$TERN" train --help
expect_rc 0 "--top-p" "$TERN" generate --help
expect_rc 0 "perplexity" "$TERN" eval --help
expect_rc 1 "does not exist" "$TERN" generate "$WORK/nowhere"
expect_rc 1 "does not exist" "$TERN" eval "$WORK/nowhere"
expect_rc 1 "nothing to resume" "$TERN" train --out "$WORK/none" --resume
# Usage errors exit 2; a misspelt command gets a suggestion.
expect_rc 2 "--batch" "$TERN" train --batch nope
expect_rc 2 "" "$TERN" generate
expect_rc 2 "" "$TERN" train --no-such-flag
expect_rc 2 "unknown command 'trian'; did you mean 'train'?" "$TERN" trian
expect_rc 2 "unknown command 'frobnicate'" "$TERN" frobnicate
# A FIFO is refused, not waited on.
mkfifo "$WORK/fifo"
expect_rc 1 "not a regular file (a FIFO)" timeout 20 "$TERN" inspect "$WORK/fifo"
# How many GPUs this tern sees ("CUDA      1 device(s) visible"; 0 or "not compiled in" without).
gpus=$("$TERN" info 2>/dev/null | sed -n 's/^CUDA  *\([0-9][0-9]*\) device.*/\1/p')
gpus=${gpus:-0}
# Without a usable GPU, --device cuda fails clearly.
if ((gpus == 0)); then
  expect_rc 1 "CUDA is not available" "$TERN" train --device cuda --out "$WORK/cuda" --steps 1
  expect_rc 1 "CUDA is not available" "$TERN" train --device cuda --tf32 --out "$WORK/cuda" --steps 1
fi

head -c 30000 "$ROOT/data/tinyshakespeare/input.txt" >"$WORK/small.txt"
args=(--data "$WORK/small.txt" --n-layer 2 --n-head 2 --n-embd 32 --batch 4 --block 16
      --eval-interval 50 --eval-iters 2 --checkpoint-interval 0 --lr-decay-steps 1000)

# --tf32 leaves the CPU's arithmetic alone: the same losses as without it.
expect_rc 0 "done: 3 steps" "$TERN" train "${args[@]}" --steps 3 --out "$WORK/cpu32"
expect_rc 0 "done: 3 steps" "$TERN" train "${args[@]}" --steps 3 --tf32 --out "$WORK/tf32"
cmp -s <(cut -d, -f1-4 "$WORK/cpu32/metrics.csv") <(cut -d, -f1-4 "$WORK/tf32/metrics.csv") ||
  fail "--tf32 changed the CPU's losses: $(paste -d'|' "$WORK/cpu32/metrics.csv" "$WORK/tf32/metrics.csv")"

# On a GPU host (tools/device/check.sh runs this there): train on CUDA, then sample and evaluate the checkpoint on
# both devices, and resume it on the CPU; the val losses of the two devices agree to fp32 rounding.
if ((gpus > 0)); then
  expect_rc 0 "done: 4 steps" "$TERN" train "${args[@]}" --steps 4 --device cuda --out "$WORK/cuda"
  expect_rc 0 "done: 4 steps" "$TERN" train "${args[@]}" --steps 4 --device cuda --tf32 --out "$WORK/cuda_tf32"
  for dev in cpu cuda; do
    expect_rc 0 "ROMEO:" "$TERN" generate "$WORK/cuda" --device "$dev" --prompt "ROMEO:" -n 10
    "$TERN" eval "$WORK/cuda" --device "$dev" >"$WORK/eval_$dev.txt" 2>&1 || fail "eval --device $dev: $(cat "$WORK/eval_$dev.txt")"
  done
  lc=$(sed -n 's/^val loss \([0-9.]*\).*/\1/p' "$WORK/eval_cpu.txt")
  lg=$(sed -n 's/^val loss \([0-9.]*\).*/\1/p' "$WORK/eval_cuda.txt")
  awk -v a="$lc" -v b="$lg" 'BEGIN { d = a - b; exit !(a != "" && d < 1e-3 && d > -1e-3) }' ||
    fail "eval of a CUDA checkpoint: val loss $lc on the CPU, $lg on CUDA"
  expect_rc 0 "done: 6 steps" "$TERN" train --out "$WORK/cuda" --resume --steps 6 --device cpu
  expect_rc 0 "done: 8 steps" "$TERN" train --out "$WORK/cuda" --resume --steps 8 --device cuda
  # QAT on the GPU, then the packed Phase 4 weights (written from the GPU's ternary values) on either device.
  "$TERN" quantize --model "$WORK/cuda" --out "$WORK/cuda_p4" --qat-steps 3 --batch 4 --block 16 --eval-iters 2 \
    --device cuda >"$WORK/quantize_cuda.log" 2>&1 || fail "quantize --device cuda: $(cat "$WORK/quantize_cuda.log")"
  for dev in cpu cuda; do
    expect_rc 0 "ROMEO:" "$TERN" generate "$WORK/cuda_p4" --device "$dev" --prompt "ROMEO:" -n 10
  done
fi

# SIGINT in the middle of a long run.
"$TERN" train "${args[@]}" --steps 100000 --out "$WORK/run" >"$WORK/train.log" 2>&1 &
pid=$!
for _ in $(seq 600); do
  [[ -f $WORK/run/metrics.csv ]] && (($(wc -l <"$WORK/run/metrics.csv") > 5)) && break
  sleep 0.1
done
kill -INT "$pid"
wait "$pid"; rc=$?
[[ $rc == 130 ]] || fail "train after SIGINT exited $rc (want 130): $(cat "$WORK/train.log")"
grep -q "interrupted at step" "$WORK/train.log" || fail "no 'interrupted' message: $(cat "$WORK/train.log")"
[[ -f $WORK/run/checkpoint/tern_state.json ]] || fail "no checkpoint after SIGINT"
step=$(sed -n 's/.*"step": *\([0-9]*\).*/\1/p' "$WORK/run/checkpoint/tern_state.json" | head -1)
[[ -n $step ]] || fail "no step in tern_state.json"
ls "$WORK/run" | grep -q tmp && fail "temporary checkpoint directories left: $(ls "$WORK/run")"

# Resume a few more steps, then sample and evaluate.
expect_rc 0 "done: $((step + 3)) steps" "$TERN" train --out "$WORK/run" --resume --steps $((step + 3))
lines=$(wc -l <"$WORK/run/metrics.csv")
[[ $lines == $((step + 3 + 2)) ]] || fail "metrics.csv has $lines lines, want $((step + 5)) (header, step 0, 1..$((step + 3)))"
expect_rc 0 "ROMEO:" "$TERN" generate "$WORK/run" --prompt "ROMEO:" -n 10
# A sample that cannot be written (a full disk) is an error, not lost text.
out=$("$TERN" generate "$WORK/run" -n 10 2>&1 >/dev/full); rc=$?
[[ $rc == 1 && $out == *"cannot write the sample to the output: No space left on device"* ]] ||
  fail "generate > /dev/full -> exit $rc, want 1 with 'cannot write the sample': $out"
expect_rc 0 "val loss" "$TERN" eval "$WORK/run"

((fails == 0)) && echo "cli smoke: all passed"
exit $((fails > 0))
