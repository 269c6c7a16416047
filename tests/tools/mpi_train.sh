#!/usr/bin/env bash
# `tern train` under mpirun, against one process:
#   1. 2 ranks with global batch B give one process's losses with batch B, step by step (relative 1e-5; the
#      summation order differs, so the rows are not bit-identical);
#   2. a run checkpointed by 2 ranks resumes in 1 process, and one from 1 process in 2 ranks, with the same
#      losses (the checkpoint does not depend on the world size);
#   3. the non-writing rank leaves no files of its own and prints nothing.
#   tests/tools/mpi_train.sh path/to/tern path/to/mpiexec
set -uo pipefail
TERN=${1:?usage: mpi_train.sh path/to/tern path/to/mpiexec}
MPIEXEC=${2:?usage: mpi_train.sh path/to/tern path/to/mpiexec}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tern_mpi_train.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
export TERN_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
ARGS=(--batch 4 --block 32 --n-layer 2 --n-embd 64 --n-head 2 --eval-interval 10 --eval-iters 2
      --log-interval 10 --checkpoint-interval 0 --warmup-steps 2 --lr-decay-steps 20)
run1() { "$TERN" train "${ARGS[@]}" "$@" >>"$WORK/log" 2>&1 || fail "1 process: tern train $* (see below)"; }
run2() { "$MPIEXEC" -n 2 --oversubscribe "$TERN" train "${ARGS[@]}" "$@" >>"$WORK/log" 2>&1 ||
           fail "2 ranks: tern train $* (see below)"; }

# Compares the train_loss (and val_loss) columns of two metrics.csv files from step $3 on.
compare() {
  awk -F, -v from="$3" -v what="$4" '
    FNR == 1 { next }
    NR == FNR { if ($1 >= from) { loss[$1] = $3; val[$1] = $4 }; next }
    $1 >= from {
      n++
      if (!($1 in loss)) { print "step " $1 " missing"; bad = 1; next }
      split(loss[$1] " " $3 " " val[$1] " " $4, v, " ")
      for (i = 1; i <= 3; i += 2) if (v[i] != "" || v[i + 1] != "") {
        d = v[i] - v[i + 1]; if (d < 0) d = -d
        r = d / (v[i] < 0 ? -v[i] : v[i])
        if (r > worst) worst = r
      }
    }
    END {
      printf "%s: %d steps compared, max relative difference %.3g\n", what, n, worst
      exit (bad || n == 0 || worst > 1e-5)
    }' "$1" "$2" || fail "$4"
}

run1 --steps 20 --out "$WORK/one"
run2 --steps 20 --out "$WORK/two"
compare "$WORK/one/metrics.csv" "$WORK/two/metrics.csv" 1 "2 ranks vs 1 process"
grep -q "2 ranks (mpi) x 2 sequences" "$WORK/log" || fail "the run does not say it has 2 ranks"
[[ $(grep -c "^done: 20 steps" "$WORK/log") == 2 ]] || fail "expected one 'done' line per run (rank 1 prints nothing)"

run2 --steps 10 --out "$WORK/two_then_one"
run1 --steps 20 --out "$WORK/two_then_one" --resume
compare "$WORK/one/metrics.csv" "$WORK/two_then_one/metrics.csv" 11 "2 ranks, resumed in 1 process"
run1 --steps 10 --out "$WORK/one_then_two"
run2 --steps 20 --out "$WORK/one_then_two" --resume
compare "$WORK/one/metrics.csv" "$WORK/one_then_two/metrics.csv" 11 "1 process, resumed in 2 ranks"

odd=$("$MPIEXEC" -n 2 --oversubscribe "$TERN" train --batch 3 --steps 2 --out "$WORK/odd" 2>&1) &&
  fail "--batch 3 on 2 ranks was accepted"
[[ $odd == *"--batch 3 (the global batch) must divide among the 2 ranks"* ]] ||
  fail "no clear error for --batch 3 on 2 ranks: $odd"

((fails == 0)) || { echo "---- log"; cat "$WORK/log"; }
exit $((fails > 0))
