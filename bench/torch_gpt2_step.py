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
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time


def build_model(torch):
    nn = torch.nn
    F = torch.nn.functional
    L, H, C, V, P = 12, 12, 768, 50257, 1024

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1 = nn.LayerNorm(C)
            self.c_attn = nn.Linear(C, 3 * C)
            self.c_proj = nn.Linear(C, C)
            self.ln_2 = nn.LayerNorm(C)
            self.c_fc = nn.Linear(C, 4 * C)
            self.mlp_proj = nn.Linear(4 * C, C)

        def forward(self, x):
            B, T, _ = x.shape
            q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
            q, k, v = (t.view(B, T, H, C // H).transpose(1, 2) for t in (q, k, v))
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + self.c_proj(y.transpose(1, 2).reshape(B, T, C))
            return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte = nn.Embedding(V, C)
            self.wpe = nn.Embedding(P, C)
            self.h = nn.ModuleList(Block() for _ in range(L))
            self.ln_f = nn.LayerNorm(C)

        def forward(self, idx, targets):
            pos = torch.arange(idx.size(1))
            x = self.wte(idx) + self.wpe(pos)
            for b in self.h:
                x = b(x)
            logits = self.ln_f(x) @ self.wte.weight.t()
            return F.cross_entropy(logits.view(-1, V), targets.view(-1))

    return GPT()


def torch_step_seconds(torch, steps, threads):
    torch.manual_seed(0)
    torch.set_num_threads(threads)
    model = build_model(torch)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    nodecay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": nodecay, "weight_decay": 0.0}],
                            lr=6e-4, betas=(0.9, 0.95))
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
