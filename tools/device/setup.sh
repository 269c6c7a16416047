#!/usr/bin/env bash
# Shared by check.sh and bench.sh (sourced, not run): unpacks the Debian packages from
# .deps/debs into .deps/root, points the build at them, defines the step/note helpers that
# write $OUT/summary.txt, and configures and builds build-gpu (Release, CUDA on).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1
OUT=${OUT:-/tmp/tern-device}
mkdir -p "$OUT"
R=$PWD/.deps/root
JOBS=${TERN_JOBS:-$(nproc)}
# shellcheck disable=SC2034  # used by the scripts that source this one
TERN=$PWD/build-gpu/tools/cli/tern
SUMMARY=${SUMMARY:-$OUT/summary.txt}  # each script keeps its own

ls .deps/debs/*.deb >/dev/null 2>&1 || { echo "tools/device: no .deps/debs/*.deb (see the comment at the top of tools/device/check.sh)" >&2; exit 1; }
mkdir -p "$R"
for f in .deps/debs/*.deb; do
  if command -v dpkg >/dev/null; then
    dpkg -x "$f" "$R"
  else  # a .deb is an ar archive holding data.tar.*
    tmp=$(mktemp -d) && (cd "$tmp" && ar x "$OLDPWD/$f") && tar -xf "$tmp"/data.tar.* -C "$R" && rm -rf "$tmp"
  fi
done
export PATH=$R/usr/bin:$PATH
export LD_LIBRARY_PATH=$R/usr/lib/x86_64-linux-gnu/openblas-openmp:$R/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}
export PKG_CONFIG_PATH=$R/usr/lib/x86_64-linux-gnu/pkgconfig:$R/usr/share/pkgconfig
export PKG_CONFIG_SYSROOT_DIR=$R

{ nvidia-smi -L; nvcc --version | tail -2; cmake --version | head -1; } 2>&1 | tee "$OUT/host.txt"

step() {  # step NAME LOG COMMAND...: run, keep the log, say ok/FAIL with the time
  local name=$1 log=$2 t0=$SECONDS
  shift 2
  if "$@" >"$OUT/$log" 2>&1; then
    printf '  ok    %-34s %4ds  (%s)\n' "$name" $((SECONDS - t0)) "$log" | tee -a "$SUMMARY"
  else
    printf '  FAIL  %-34s %4ds  (%s)\n' "$name" $((SECONDS - t0)) "$log" | tee -a "$SUMMARY"
    tail -40 "$OUT/$log"
    return 1
  fi
}
note() {  # note OK|FAIL TEXT: a summary line for a result measured here
  printf '  %-5s %s\n' "$1" "$2" | tee -a "$SUMMARY"
}

: >"$SUMMARY"
step configure configure.log cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DTERN_CUDA=ON \
  -DCMAKE_PREFIX_PATH="$R/usr" -DCMAKE_CUDA_ARCHITECTURES="${CUDA_ARCH:-90}" || exit 1
grep -E "OpenBLAS|CUDA|MPI|NCCL" "$OUT/configure.log" | head -6
step build build.log cmake --build build-gpu -j "$JOBS" || exit 1
