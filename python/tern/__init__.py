"""tern from Python: tensors with autograd, GPT-2 and BitNet b1.58 on tern's C++ core.

    import tern
    x = tern.randn(4, 768, requires_grad=True)
    layer = tern.quant.BitLinear(768, 3072, weight_sparsity_threshold=0.1)
    layer(x).sum().backward()
"""

import os as _os

# The GPT-2 vocabulary ships inside the package; tern's C++ looks there unless told otherwise.
_data = _os.path.join(_os.path.dirname(__file__), "data")
if _os.path.isdir(_os.path.join(_data, "gpt2")):
    _os.environ.setdefault("TERN_DATA_DIR", _data)

from . import _tern
from ._tern import (  # noqa: F401  (the public API)
    Device,
    Error,
    Generator,
    Tensor,
    dtype,
    float16,
    float32,
    float64,
    bfloat16,
    int8,
    uint8,
    int32,
    int64,
    enable_grad,
    from_dlpack,
    is_grad_enabled,
    manual_seed,
    no_grad,
    set_grad_enabled,
    autocast,
    set_float32_matmul_precision,
    get_float32_matmul_precision,
    # ---- ops
    zeros, ones, empty, full, arange, rand, randn, zeros_like, ones_like, full_like, empty_like, scalar_tensor,
    add, sub, mul, div, neg, exp, log, sqrt, rsqrt, pow, abs, sign, tanh, relu, gelu, sigmoid, round, clamp,
    where, masked_fill, eq, ne, lt, le, gt, ge, logical_not,
    sum, mean, amax, norm, var, max, argmax, sum_to,
    matmul,
    cat, stack, split, chunk, index_select,
    softmax, log_softmax, layer_norm, cross_entropy, embedding, dropout, causal_mask,
    scaled_dot_product_attention,
)
from . import nn, optim, io, tokenizers, quant, cuda  # noqa: E402,F401
from ._interop import from_numpy, tensor  # noqa: E402,F401

bool_ = _tern.dtype.bool
__version__ = "0.1.0"
