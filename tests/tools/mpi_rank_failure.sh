#!/usr/bin/env bash
# When one rank of `mpirun -np 2 tern train` dies or raises, the other stops within seconds with an error that
# names the rank, and the last checkpoint stays whole (a 1-process --resume continues from it). Ctrl-C on
# mpiexec stops both ranks at one step with a checkpoint, as in one process.
#   tests/tools/mpi_rank_failure.sh path/to/tern path/to/mpiexec
set -uo pipefail
TERN=${1:?usage: mpi_rank_failure.sh path/to/tern path/to/mpiexec}
MPIEXEC=${2:?usage: mpi_rank_failure.sh path/to/tern path/to/mpiexec}
TERN=$(realpath "$TERN")  # the ranks below start in other directories
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tern_mpi_failure.XXXXXX")
MPI_PID=
cleanup() {
  [[ -n $MPI_PID ]] && kill -9 "$MPI_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
export TERN_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
head -c 200000 "$ROOT/data/tinyshakespeare/input.txt" >"$WORK/text.txt"
ARGS=(--data "$WORK/text.txt" --batch 4 --block 32 --n-layer 2 --n-embd 64 --n-head 2 --eval-interval 0
      --log-interval 1000 --warmup-steps 2)

# Waits up to $2 seconds for process $1 to end; its exit status in $rc.
wait_for() {
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    kill -0 "$1" 2>/dev/null || { wait "$1"; rc=$?; return 0; }
    sleep 0.1
  done
  return 1
}

# 1. SIGKILL rank 1 in the middle of training (checkpoints every 5 steps).
"$MPIEXEC" -n 2 --oversubscribe "$TERN" train "${ARGS[@]}" --steps 100000 --checkpoint-interval 5 \
  --out "$WORK/killed" >"$WORK/killed.log" 2>&1 &
MPI_PID=$!
for ((i = 0; i < 600; i++)); do
  [[ -f $WORK/killed/checkpoint/tern_state.json ]] &&
    (($(wc -l <"$WORK/killed/metrics.csv") > 12)) && break
  sleep 0.1
done
victim=
for stat in /proc/[0-9]*/stat; do  # mpiexec's children (no procps needed)
  read -r p _ _ ppid _ <"$stat" 2>/dev/null || continue
  [[ $ppid == "$MPI_PID" ]] || continue
  tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=1" && victim=$p
done
if [[ -z $victim ]]; then
  fail "no rank 1 process under mpiexec (pid $MPI_PID)"
else
  kill -9 "$victim"
  start=$SECONDS
  if wait_for "$MPI_PID" 20; then
    MPI_PID=
    echo "rank 1 killed: mpiexec exited $rc after $((SECONDS - start)) s"
    ((rc != 0)) || fail "mpiexec exited 0 after rank 1 was killed"
    grep -q "rank 1" "$WORK/killed.log" || fail "the error does not name rank 1: $(cat "$WORK/killed.log")"
    step=$(awk -F, 'END { print $1 }' "$WORK/killed/metrics.csv")
    "$TERN" train --out "$WORK/killed" --resume --steps $((step + 3)) >"$WORK/resume.log" 2>&1 ||
      fail "1-process --resume after the kill failed: $(cat "$WORK/resume.log")"
  else
    fail "mpiexec still running 20 s after rank 1 was killed"
  fi
fi

# 2. Rank 1 raises: it runs in a directory without the (relative) data file, so its setup fails.
mkdir -p "$WORK/a" "$WORK/b"
cp "$WORK/text.txt" "$WORK/a/text.txt"
REL=("${ARGS[@]}")
REL[1]=text.txt
start=$SECONDS
timeout 60 "$MPIEXEC" --oversubscribe -n 1 -wdir "$WORK/a" "$TERN" train "${REL[@]}" --steps 100000 --out "$WORK/raised" : \
  -n 1 -wdir "$WORK/b" "$TERN" train "${REL[@]}" --steps 100000 --out "$WORK/raised" >"$WORK/raised.log" 2>&1
rc=$?
echo "rank 1 raised: mpiexec exited $rc after $((SECONDS - start)) s"
((rc != 0 && rc != 124)) || fail "mpiexec exited $rc when rank 1 raised"
grep -q "tern train: rank 1 of 2: \[train\].*text.txt" "$WORK/raised.log" ||
  fail "no error naming rank 1 and its cause: $(cat "$WORK/raised.log")"

# 3. Ctrl-C on mpiexec: the ranks agree to stop at the same step and rank 0 saves the checkpoint.
"$MPIEXEC" -n 2 --oversubscribe "$TERN" train "${ARGS[@]}" --steps 100000 --checkpoint-interval 0 \
  --out "$WORK/interrupted" >"$WORK/interrupted.log" 2>&1 &
MPI_PID=$!
for ((i = 0; i < 600; i++)); do
  [[ -f $WORK/interrupted/metrics.csv ]] && (($(wc -l <"$WORK/interrupted/metrics.csv") > 5)) && break
  sleep 0.1
done
kill -INT "$MPI_PID"
if wait_for "$MPI_PID" 20; then
  MPI_PID=
  grep -q "interrupted at step" "$WORK/interrupted.log" || fail "no 'interrupted' line after Ctrl-C"
  [[ -f $WORK/interrupted/checkpoint/tern_state.json ]] || fail "no checkpoint after Ctrl-C"
else
  fail "mpiexec still running 20 s after Ctrl-C"
fi

((fails == 0)) || { echo "---- killed.log"; cat "$WORK/killed.log"; echo "---- interrupted.log"; cat "$WORK/interrupted.log"; }
exit $((fails > 0))
