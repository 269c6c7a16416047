#!/usr/bin/env bash
# The CUDA check for a bare GPU host that has nvcc, CMake and Ninja but none of our
# Debian packages and no network (../shared/GPU_BUILD.md). On a machine with network,
# first fill .deps/debs (git-ignored):
#
#   mkdir -p .deps/debs && (cd .deps/debs && apt-get download libopenblas0-openmp \
#     libopenblas-openmp-dev libopenblas0-pthread libopenblas-pthread-dev libopenblas-dev libopenblas0 \
#     libgfortran5 libgtest-dev libgmock-dev googletest libbenchmark-dev libbenchmark1debian \
#     nlohmann-json3-dev libpcre2-dev libpcre2-8-0 libpcre2-16-0 libpcre2-32-0 libpcre2-posix3 \
#     libcli11-dev pkgconf-bin libpkgconf3 pkgconf pkg-config)
#
# then copy the checkout with .deps/ to the GPU host and run tools/device/check.sh there.
# It unpacks the packages into .deps/root, builds with -DTERN_CUDA=ON into build-gpu,
# runs the whole suite (the CUDA tests run instead of skipping), then the NCCL tests in one
# process and under mpirun when the host has it, and prints a summary.
# Full logs go to $OUT (default /tmp/tern-device).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
OUT=${OUT:-/tmp/tern-device}
mkdir -p "$OUT"
R=$PWD/.deps/root
JOBS=${TERN_JOBS:-$(nproc)}

ls .deps/debs/*.deb >/dev/null 2>&1 || { echo "check.sh: no .deps/debs/*.deb (see the comment at the top)" >&2; exit 1; }
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
    printf '  ok    %-28s %4ds  (%s)\n' "$name" $((SECONDS - t0)) "$log" | tee -a "$OUT/summary.txt"
  else
    printf '  FAIL  %-28s %4ds  (%s)\n' "$name" $((SECONDS - t0)) "$log" | tee -a "$OUT/summary.txt"
    tail -40 "$OUT/$log"
    return 1
  fi
}

: >"$OUT/summary.txt"
step configure configure.log cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DTERN_CUDA=ON \
  -DCMAKE_PREFIX_PATH="$R/usr" -DCMAKE_CUDA_ARCHITECTURES="${CUDA_ARCH:-90}" || exit 1
grep -E "OpenBLAS|CUDA|MPI|NCCL" "$OUT/configure.log" | head -6
step build build.log cmake --build build-gpu -j "$JOBS" || exit 1
step "suite (CUDA tests run)" ctest.log ctest --test-dir build-gpu -j 8 --output-on-failure
rc=$?
echo "CUDA tests:"
grep -E "Test +#[0-9]+: (Cuda|Device)\." "$OUT/ctest.log" | sed 's/\.\.\.*/ /'
grep -E "tests passed|tests failed" "$OUT/ctest.log"

# The NCCL group against the MPI group (tests/dist/test_nccl.cpp), all tests in one process: at world size 1, then
# under mpirun with one rank, and with one rank per GPU when the host has several. The group is built only when
# CMake found MPI and NCCL too; without them these tests skip and `tern info` says what is missing.
./build-gpu/tools/cli/tern info | grep -E "^(CUDA|MPI|NCCL) " | tee "$OUT/nccl_info.txt"
step "NCCL tests, 1 process" nccl_1.log timeout 300 ./build-gpu/tests/tern_nccl_tests --gtest_color=no || rc=1
if command -v mpirun >/dev/null; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  step "NCCL tests, mpirun -np 1" nccl_mpi1.log timeout 300 mpirun -np 1 ./build-gpu/tests/tern_nccl_tests --gtest_color=no || rc=1
  gpus=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU')
  if ((gpus > 1)); then
    step "NCCL tests, mpirun -np $gpus" nccl_mpin.log timeout 300 mpirun -np "$gpus" ./build-gpu/tests/tern_nccl_tests --gtest_color=no || rc=1
  fi
else
  echo "  (no mpirun on this host: the NCCL tests ran in one process only)" | tee -a "$OUT/summary.txt"
fi
for f in "$OUT"/nccl_*.log; do
  echo "  $(basename "$f"): $(grep -E '^\[  (PASSED|SKIPPED|FAILED) +\] [0-9]+ tests?' "$f" | tr -s ' \n' ' ')"
done
echo "summary:"
cat "$OUT/summary.txt"
exit $rc
