"""BitLinear forward + backward at a GPT-2 124M MLP shape (x [256, 768] -> 3072, tau = 0.1):
the step driven from Python against the same step looped in C++ (tern._tern._module_step_seconds,
same libtern build, same process). Each step clears the gradients, runs forward and backward(gy).

    TERN_NUM_THREADS=2 python python/bench/bitlinear_overhead.py [--iters 20] [--reps 7]
"""

import argparse
import statistics
import time

import tern
from tern import _tern


def python_step_seconds(layer, x, gy, iters: int) -> float:
    t0 = time.perf_counter()
    for _ in range(iters):
        layer.zero_grad()
        x.zero_grad()
        layer(x).backward(gy)
    return (time.perf_counter() - t0) / iters


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--reps", type=int, default=7)
    args = p.parse_args()
    gen = tern.Generator(42)
    layer = tern.quant.BitLinear(768, 3072, weight_sparsity_threshold=0.1, generator=gen)
    x = tern.randn(256, 768, generator=gen, requires_grad=True)
    gy = tern.randn(256, 3072, generator=gen)
    python_step_seconds(layer, x, gy, 3)  # warm-up: thread pools, allocator, weight cache
    py, cpp = [], []
    for r in range(args.reps):  # alternate the order (ABBA) so drift in machine load cancels
        if r % 2:
            py.append(python_step_seconds(layer, x, gy, args.iters))
            cpp.append(_tern._module_step_seconds(layer, x, gy, args.iters))
        else:
            cpp.append(_tern._module_step_seconds(layer, x, gy, args.iters))
            py.append(python_step_seconds(layer, x, gy, args.iters))
    mp, mc = statistics.median(py), statistics.median(cpp)
    print(f"BitLinear 256x768->3072 fwd+bwd: Python {mp * 1e3:.2f} ms, C++ {mc * 1e3:.2f} ms per step "
          f"(medians of {args.reps} x {args.iters}); Python overhead {100 * (mp / mc - 1):+.2f}%")


if __name__ == "__main__":
    main()
