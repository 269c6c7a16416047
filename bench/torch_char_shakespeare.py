#!/usr/bin/env python3
"""The PyTorch reference for tern's char-level run (docs/training.md): nanoGPT's CPU config on char-level
tinyshakespeare (4 layers, 4 heads, 128 wide, block 64, batch 12, 2000 steps, AdamW
lr 1e-3 warmup 100 cosine to 1e-4, betas 0.9/0.99, weight decay 0.1 on >= 2-D
weights, grad clip 1, dropout 0), trained in torch on this machine, and evaluated the
way tern reports it:

  - val20:  nanoGPT's own estimate, the mean loss of 20 random val batches;
  - val200: 200 random val batches;
  - full:   the whole val split in consecutive block-64 windows (what `tern eval` prints).

    python3 bench/torch_char_shakespeare.py --seed 1337 [--bias] [--gelu tanh] [--threads 2]

By default the model is nanoGPT's (no biases, exact GELU); --bias and --gelu tanh give
GPT-2's architecture, which is what `tern train --model tiny` builds without
--no-bias --activation gelu. Needs torch; exits with a message when it is missing.
"""
import argparse
import json
import math
import os
import sys
import time

from torch_gpt import adamw, build_gpt


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", "data", "tinyshakespeare",
                                                   "input.txt"))
    ap.add_argument("--seed", type=int, default=1337)
    ap.add_argument("--bias", action="store_true", help="biases in linears and LayerNorms (GPT-2)")
    ap.add_argument("--gelu", choices=["exact", "tanh"], default="exact")
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args()
    try:
        import torch
    except ImportError:
        sys.exit("torch is not installed (pip install torch); nothing to compare against")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    text = open(args.data, encoding="utf-8").read()
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    ids = torch.tensor([stoi[c] for c in text], dtype=torch.long)
    n_train = int(0.9 * len(ids))
    train_ids, val_ids = ids[:n_train], ids[n_train:]
    V, L, H, C, T, B = len(chars), 4, 4, 128, 64, 12

    model = build_gpt(torch, V, L, H, C, T, bias=args.bias, exact_gelu=args.gelu == "exact")
    opt = adamw(torch, model, lr=1e-3, betas=(0.9, 0.99))

    def lr_at(step, warmup=100, decay_steps=args.steps, lr=1e-3, min_lr=1e-4):
        if step < warmup:
            return lr * (step + 1) / (warmup + 1)
        if step >= decay_steps:
            return min_lr
        ratio = (step - warmup) / (decay_steps - warmup)
        return min_lr + 0.5 * (1 + math.cos(math.pi * ratio)) * (lr - min_lr)

    def batch(data, gen):
        ix = torch.randint(len(data) - T, (B,), generator=gen)
        return torch.stack([data[i:i + T] for i in ix]), torch.stack([data[i + 1:i + 1 + T] for i in ix])

    @torch.no_grad()
    def estimate(n, seed):
        gen = torch.Generator().manual_seed(seed)
        return sum(model(*batch(val_ids, gen)).item() for _ in range(n)) / n

    @torch.no_grad()
    def full_split():
        total, count = 0.0, 0
        for s in range(0, len(val_ids) - 1, T):
            x = val_ids[s:s + T]
            y = val_ids[s + 1:s + 1 + T]
            x = x[:len(y)]
            total += model(x[None], y[None]).item() * len(y)
            count += len(y)
        return total / count

    gen = torch.Generator().manual_seed(args.seed)
    t0 = time.time()
    model.train()
    for step in range(args.steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        loss = model(*batch(train_ids, gen))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if (step + 1) % 250 == 0:
            print(f"step {step + 1}: loss {loss.item():.4f} ({time.time() - t0:.0f} s)", flush=True)
    wall = time.time() - t0
    model.eval()
    res = {"seed": args.seed, "bias": args.bias, "gelu": args.gelu, "steps": args.steps,
           "parameters": sum(p.numel() for p in model.parameters()), "train_wall_s": round(wall, 1),
           "val20": round(estimate(20, args.seed + 1), 4), "val200": round(estimate(200, args.seed + 2), 4),
           "full": round(full_split(), 4)}
    print(json.dumps(res))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f)


if __name__ == "__main__":
    main()
