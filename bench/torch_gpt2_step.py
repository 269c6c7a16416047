#!/usr/bin/env python3
"""The PyTorch baseline for bench_gpt2_step: one GPT-2 124M training step (forward +
backward + grad clipping + AdamW).

    python3 bench/torch_gpt2_step.py [--tern build/bench/bench_gpt2_step] [--threads 2]
    python3 bench/torch_gpt2_step.py --device cuda [--precision fp32|tf32|bf16|all]

On the CPU: B=4, T=64, fp32; it prints tern's time over torch's. With --device cuda: B=16,
T=1024 on cuda:0, PyTorch eager with SDPA attention and fused AdamW against
bench_gpt2_step's BM_GPT2StepCuda, tokens/s at each precision, side by side, in the same run.
It times the step in torch (median of --steps after warm-up), then runs tern's benchmark
binary. Needs torch (pip install torch); exits with a message when torch is missing.
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


def torch_cuda_tokens_per_second(torch, steps, batch, seq, precision):
    tf32 = precision == "tf32"
    torch.manual_seed(0)
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    dev = torch.device("cuda")
    model = build_gpt(torch, vocab=50257, n_layer=12, n_head=12, n_embd=768, n_positions=1024).to(dev)
    opt = adamw(torch, model, lr=6e-4, betas=(0.9, 0.95), fused=True)
    x = torch.randint(0, 50257, (batch, seq), device=dev)
    y = torch.randint(0, 50257, (batch, seq), device=dev)
    times = []
    for i in range(steps + 3):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=precision == "bf16"):
            loss = model(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        loss.item()
        if i >= 3:  # warm-up
            times.append(time.perf_counter() - t0)
    del model, opt
    torch.cuda.empty_cache()
    return batch * seq / statistics.median(times)


def tern_step_seconds(binary, threads, name="BM_GPT2Step", env_extra=None):
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        env = dict(os.environ, TERN_NUM_THREADS=str(threads), **(env_extra or {}))
        subprocess.run([binary, f"--benchmark_filter={name}$", f"--benchmark_out={out.name}",
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
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--precision", choices=["fp32", "tf32", "bf16", "all"], default="all", help="with --device cuda")
    ap.add_argument("--batch", type=int, default=16, help="with --device cuda")
    ap.add_argument("--seq", type=int, default=1024, help="with --device cuda")
    args = ap.parse_args()
    try:
        import torch
    except ImportError:
        print("torch is not installed (pip install torch); no PyPI baseline measured")
        return 0
    if args.device == "cuda":
        return cuda_main(torch, args)
    t_torch = torch_step_seconds(torch, args.steps, args.threads)
    print(f"torch {torch.__version__}: {t_torch:.3f} s/step ({args.threads} threads)")
    if not os.path.exists(args.tern):
        print(f"{args.tern} not found; build it with ./run bench")
        return 0
    t_tern = tern_step_seconds(args.tern, args.threads)
    print(f"tern: {t_tern:.3f} s/step")
    print(f"tern / torch time: {t_tern / t_torch:.3f}  (below 1 means tern is faster)")
    return 0


def cuda_main(torch, args):
    if not torch.cuda.is_available():
        print("torch sees no CUDA device; nothing measured")
        return 0
    precisions = ["fp32", "tf32", "bf16"] if args.precision == "all" else [args.precision]
    print(f"GPT-2 124M training step on {torch.cuda.get_device_name(0)}, B={args.batch} T={args.seq}")
    print("| precision | PyTorch eager tok/s | tern tok/s | tern / PyTorch |")
    print("|---|---|---|---|")
    for p in precisions:
        t = torch_cuda_tokens_per_second(torch, args.steps, args.batch, args.seq, p)
        tern = float("nan")
        if os.path.exists(args.tern):
            env = {"TERN_BENCH_PRECISION": p, "TERN_BENCH_BATCH": str(args.batch), "TERN_BENCH_SEQ": str(args.seq)}
            tern = args.batch * args.seq / tern_step_seconds(args.tern, args.threads, "BM_GPT2StepCuda", env)
        print(f"| {p} | {t:,.0f} | {tern:,.0f} | {tern / t:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
