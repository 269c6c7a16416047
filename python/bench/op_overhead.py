"""Per-op overhead from Python: 10,000 adds of two 8-element f32 tensors, tern against torch
eager (when torch is importable) in the same process.

    python python/bench/op_overhead.py [--reps 7]

Prints the median over repetitions of the time per add, in microseconds.
"""

import argparse
import statistics
import time

import tern

N_OPS = 10_000


def per_op_us(add, a, b) -> float:
    t0 = time.perf_counter()
    for _ in range(N_OPS):
        add(a, b)
    return (time.perf_counter() - t0) / N_OPS * 1e6


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--reps", type=int, default=7)
    args = p.parse_args()
    sides = {"tern": (lambda x, y: x + y, tern.ones(8), tern.ones(8))}
    try:
        import torch

        torch.set_num_threads(1)
        sides["torch"] = (lambda x, y: x + y, torch.ones(8), torch.ones(8))
    except ImportError:
        pass
    results = {name: [] for name in sides}
    for _ in range(args.reps):  # interleaved, so both see the same machine load
        for name, (add, a, b) in sides.items():
            results[name].append(per_op_us(add, a, b))
    for name, r in results.items():
        print(f"{name:6s} a + b, 8 elements: {statistics.median(r):.3f} us per op "
              f"(median of {args.reps} x {N_OPS} ops; min {min(r):.3f})")
    if "torch" in results:
        ratio = statistics.median(results["tern"]) / statistics.median(results["torch"])
        print(f"tern / torch: {ratio:.2f}")


if __name__ == "__main__":
    main()
