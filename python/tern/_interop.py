"""numpy in: tern.from_numpy shares memory, tern.tensor copies."""

import numpy as np

from . import _tern


def from_numpy(array: np.ndarray) -> _tern.Tensor:
    """A tensor sharing `array`'s memory: writes through either show in both.

    Read-only arrays and arrays with negative strides cannot be shared; they raise tern.Error.
    """
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy takes a numpy.ndarray, not {type(array).__name__}")
    if not array.flags.writeable:
        raise _tern.Error("[from_numpy] the array is read-only; pass array.copy()")
    return _tern._from_numpy(array)


_DEFAULT_FLOAT = np.float32


def tensor(data, dtype=None, requires_grad: bool = False) -> _tern.Tensor:
    """A new tensor holding a copy of `data` (nested lists, numbers or an array).

    Python floats become float32 and ints int64, as in torch.
    """
    if isinstance(data, _tern.Tensor):
        t = data.clone()
    else:
        a = np.array(data)
        if a.dtype == np.float64 and not isinstance(data, np.ndarray):
            a = a.astype(_DEFAULT_FLOAT)
        t = _tern._from_numpy(np.ascontiguousarray(a)).clone()
    if dtype is not None:
        t = t.to(dtype)
    if requires_grad:
        t.requires_grad_(True)
    return t
