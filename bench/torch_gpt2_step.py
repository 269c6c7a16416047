#!/usr/bin/env python3
"""The PyTorch baseline for bench_gpt2_step: one GPT-2 124M training step (B=4, T=64,
forward + backward + grad clipping + AdamW), fp32 on the CPU, on this machine.

    python3 bench/torch_gpt2_step.py [--tern build/bench/bench_gpt2_step] [--threads 2]

It times the step in torch (median of --steps after warm-up), then runs tern's
benchmark binary for the same step and prints tern's time over torch's. Needs torch
(pip install torch); exits with a message when torch is missing.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from torch_gpt import adamw, build_gpt


def torch_step_seconds(torch, steps, threads):
    torch.manual_seed(0)
    torch.set_num_threads(threads)
    model = build_gpt(torch, vocab=50257, n_layer=12, n_head=12, n_embd=768, n_positions=1024)
    opt = adamw(torch, model, lr=6e-4, betas=(0.9, 0.95))
    x = torch.randint(0, 50257, (4, 64))
    y = torch.randint(0, 50257, (4, 64))
    times = []
    for i in range(steps + 2):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = model(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        loss.item()
        if i >= 2:  # warm-up
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def tern_step_seconds(binary, threads):
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        env = dict(os.environ, TERN_NUM_THREADS=str(threads))
        subprocess.run([binary, "--benchmark_filter=BM_GPT2Step", f"--benchmark_out={out.name}",
                        "--benchmark_out_format=json"], check=True, env=env, stdout=subprocess.DEVNULL)
        data = json.load(open(out.name))
    times = [b["real_time"] for b in data["benchmarks"] if b.get("run_type") == "iteration"]
    unit = {"ms": 1e-3, "us": 1e-6, "ns": 1e-9, "s": 1.0}[data["benchmarks"][0]["time_unit"]]
    return statistics.median(times) * unit


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--tern", default=os.path.join(here, "..", "build", "bench", "bench_gpt2_step"))
    ap.add_argument("--threads", type=int, default=int(os.environ.get("TERN_NUM_THREADS", os.cpu_count() or 1)))
    ap.add_argument("--steps", type=int, default=5)
    args = ap.parse_args()
    try:
        import torch
    except ImportError:
        print("torch is not installed (pip install torch); no PyPI baseline measured")
        return 0
    t_torch = torch_step_seconds(torch, args.steps, args.threads)
    print(f"torch {torch.__version__}: {t_torch:.3f} s/step ({args.threads} threads)")
    if not os.path.exists(args.tern):
        print(f"{args.tern} not found; build it with ./run bench")
        return 0
    t_tern = tern_step_seconds(args.tern, args.threads)
    print(f"tern: {t_tern:.3f} s/step")
    print(f"tern / torch time: {t_tern / t_torch:.3f}  (below 1 means tern is faster)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
