import numpy as np
import pytest

import tern


def test_tern_error_is_runtime_error_with_the_message():
    assert issubclass(tern.Error, RuntimeError)
    with pytest.raises(tern.Error, match=r"^\[matmul\] inner dimensions differ: \(2,3\) @ \(4,5\)"):
        tern.matmul(tern.zeros(2, 3), tern.zeros(4, 5))


def test_every_error_kind():
    t = tern.zeros(2, 3)
    with pytest.raises(IndexError):
        t[5]
    with pytest.raises(IndexError):
        t[0, 0, 0]
    with pytest.raises(TypeError):
        tern.add(t, "x")
    with pytest.raises(TypeError):
        t["a"] = 1.0
    with pytest.raises(ValueError):
        t[::-1]
    with pytest.raises(AttributeError):
        tern.nn.Linear(2, 2).nothing
    with pytest.raises(TypeError):
        tern.quant.Phase4Config(no_such_field=1)
    with pytest.raises(tern.Error, match=r"\[Phase4Config\]"):
        tern.quant.Phase4Config(weight_sparsity_threshold=1.5)
    with pytest.raises(tern.Error, match="unknown device"):
        tern.Device("tpu")
    with pytest.raises(TypeError):  # the implicit str -> Device conversion fails as an argument mismatch
        tern.zeros(2, device="tpu")
    with pytest.raises(tern.Error):
        tern.from_numpy(np.broadcast_to(np.ones(3, dtype=np.float32), (2, 3)))
    with pytest.raises(tern.Error):
        tern.io.load("/nonexistent/file.safetensors")
    with pytest.raises(tern.Error, match="load_state_dict"):
        tern.nn.Linear(2, 3).load_state_dict({"weight": tern.zeros(4, 4)})
    with pytest.raises(tern.Error, match="replace_linear_with_bitlinear"):
        tern.quant.replace_linear_with_bitlinear(tern.nn.LayerNorm(4))
    with pytest.raises(tern.Error, match="has no single-tensor forward"):
        tern.nn.Module()(t)
    with pytest.raises(KeyError):
        tern.quant.BitLinear(4, 4).load_quantized_state({})
