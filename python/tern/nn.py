"""Modules and layers: Module (subclass it), Linear, Embedding, LayerNorm, Dropout, GELU,
Sequential, ModuleList, GPT2 and GPT2Config."""

from ._tern import Tensor as _Tensor
from ._tern.nn import (  # noqa: F401
    GELU,
    GPT2,
    Dropout,
    Embedding,
    GPT2Config,
    LayerNorm,
    Linear,
    Module,
    ModuleList,
    Sequential,
)


def Parameter(t: _Tensor, requires_grad: bool = True) -> _Tensor:
    """A leaf tensor that requires grad: assigned to a Module attribute, it becomes a parameter."""
    return t.detach().requires_grad_(requires_grad)
