"""Optimizers (AdamW, SGD, Muon, MuGrokfast), gradient clipping and the warmup-cosine schedule."""

from ._tern.optim import (  # noqa: F401
    SGD,
    AdamW,
    MuGrokfast,
    Muon,
    Optimizer,
    WarmupCosineLR,
    clip_grad_norm_,
    newton_schulz,
)
