"""The GPT-2 model and AdamW setup that the PyTorch comparison scripts in bench/ share:
pre-norm blocks, SDPA causal attention, lm_head tied to wte, GPT-2's init (normal 0.02,
residual projections 0.02/sqrt(2L), zero biases), and AdamW decaying only >= 2-D weights,
as tern and nanoGPT do. Imported by torch_gpt2_step.py and torch_char_shakespeare.py.
"""
import math


def build_gpt(torch, vocab, n_layer, n_head, n_embd, n_positions, bias=True, exact_gelu=False):
    """A GPT whose forward(idx, targets) returns the mean cross-entropy loss. bias=False
    and exact_gelu=True give nanoGPT's variant (bias=False, nn.GELU())."""
    nn, F = torch.nn, torch.nn.functional
    C, H = n_embd, n_head
    approximate = "none" if exact_gelu else "tanh"

    class Attention(nn.Module):
        def __init__(self):
            super().__init__()
            self.c_attn = nn.Linear(C, 3 * C, bias=bias)
            self.c_proj = nn.Linear(C, C, bias=bias)

        def forward(self, x):
            b, t, _ = x.shape
            q, k, v = self.c_attn(x).split(C, dim=2)
            q, k, v = (z.view(b, t, H, C // H).transpose(1, 2) for z in (q, k, v))
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            return self.c_proj(y.transpose(1, 2).reshape(b, t, C))

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1 = nn.LayerNorm(C, bias=bias)
            self.attn = Attention()
            self.ln_2 = nn.LayerNorm(C, bias=bias)
            self.c_fc = nn.Linear(C, 4 * C, bias=bias)
            self.c_proj = nn.Linear(4 * C, C, bias=bias)

        def forward(self, x):
            x = x + self.attn(self.ln_1(x))
            return x + self.c_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate=approximate))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte = nn.Embedding(vocab, C)
            self.wpe = nn.Embedding(n_positions, C)
            self.h = nn.ModuleList(Block() for _ in range(n_layer))
            self.ln_f = nn.LayerNorm(C, bias=bias)
            for name, p in self.named_parameters():
                if name.endswith("bias"):
                    nn.init.zeros_(p)
                elif "ln_" in name:
                    continue
                elif name.endswith("c_proj.weight"):  # residual projections
                    nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * n_layer))
                else:
                    nn.init.normal_(p, 0.0, 0.02)

        def forward(self, idx, targets):
            x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1], device=idx.device))
            for blk in self.h:
                x = blk(x)
            logits = self.ln_f(x) @ self.wte.weight.t()  # lm_head tied to wte
            return F.cross_entropy(logits.view(-1, vocab), targets.reshape(-1))

    return GPT()


def adamw(torch, model, lr, betas, weight_decay=0.1, fused=None):
    """AdamW with weight decay on the >= 2-D weights only (fused=True: torch's fused CUDA kernel)."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}], lr=lr, betas=betas, fused=fused)
