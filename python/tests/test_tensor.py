import numpy as np
import pytest

import tern


def test_metadata_and_views_share_storage():
    t = tern.arange(12, dtype=tern.float32).view(3, 4)
    assert t.shape == (3, 4) and t.strides == (4, 1) and t.dtype == tern.float32
    assert str(t.device) == "cpu" and t.device == tern.Device("cpu")
    col = t[:, 1]
    assert col.shape == (3,) and col.strides == (4,)
    col[0] = 100.0
    assert t[0, 1].item() == 100.0
    assert t[1:, ::2].shape == (2, 2)
    assert t[None, ..., -1].shape == (1, 3)
    assert t.T.shape == (4, 3) and not t.T.is_contiguous()
    assert t[tern.tensor([2, 0])].shape == (2, 4)


def test_arithmetic_operators():
    a = tern.tensor([1.0, 2.0, 3.0])
    b = tern.tensor([4.0, 5.0, 6.0])
    np.testing.assert_allclose(np.asarray(a + b), [5, 7, 9])
    np.testing.assert_allclose(np.asarray(2 - a), [1, 0, -1])
    np.testing.assert_allclose(np.asarray(a * b / 2), [2, 5, 9])
    np.testing.assert_allclose(np.asarray(1 / a), [1, 0.5, 1 / 3], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(-a ** 2), [-1, -4, -9])
    assert (a @ b).item() == 32.0
    assert np.asarray(a < 2.5).tolist() == [True, True, False]
    a += 1
    np.testing.assert_allclose(np.asarray(a), [2, 3, 4])


def test_numpy_round_trip_shares_memory():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = tern.from_numpy(a)
    a[0, 0] = 42
    assert t[0, 0].item() == 42
    back = np.asarray(t)
    assert np.shares_memory(a, back)
    back[1, 2] = -1
    assert t[1, 2].item() == -1
    # a strided numpy view comes in as a strided tensor, not a copy
    s = tern.from_numpy(a[:, ::2])
    assert s.shape == (2, 2) and s.strides == (3, 2)
    # and a transposed tensor goes out as a strided array
    tt = np.asarray(t.T)
    assert tt.shape == (3, 2) and np.shares_memory(tt, a)
    for dt in (np.float64, np.int64, np.int32, np.int8, np.uint8, np.bool_, np.float16):
        x = np.ones(3, dtype=dt)
        assert np.asarray(tern.from_numpy(x)).dtype == dt


def test_numpy_memory_outlives_the_array():
    t = tern.from_numpy(np.full(4, 7.0, dtype=np.float32))
    assert t.sum().item() == 28.0
    arr = np.asarray(tern.ones(5) * 3)
    assert arr.sum() == 15.0


def test_dlpack_both_ways():
    t = tern.arange(6, dtype=tern.float64).view(2, 3)
    a = np.from_dlpack(t)
    assert a.shape == (2, 3) and a.dtype == np.float64
    a[0, 0] = 9
    assert t[0, 0].item() == 9
    assert t.__dlpack_device__() == (1, 0)
    back = tern.from_dlpack(a)
    back[1, 1] = -5
    assert t[1, 1].item() == -5


def test_autograd_basics():
    x = tern.tensor([[1.0, -2.0], [3.0, 0.5]], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    np.testing.assert_allclose(np.asarray(x.grad), 2 * np.asarray(x.detach()))
    x.grad = None
    assert x.grad is None
    with tern.no_grad():
        z = x * 2
    assert not z.requires_grad and tern.is_grad_enabled()


def _numeric_grad(f, x, eps=1e-6):
    base = np.asarray(x.detach()).copy()
    g = np.zeros_like(base)
    for i in np.ndindex(base.shape):
        for sign in (1, -1):
            p = base.copy()
            p[i] += sign * eps
            g[i] += sign * f(tern.from_numpy(p)).item() / (2 * eps)
    return g


@pytest.mark.parametrize(
    "name,f",
    [
        ("matmul", lambda x: tern.matmul(x, x.T).sum()),
        ("softmax", lambda x: (tern.softmax(x, 1) * tern.arange(4, dtype=tern.float64)).sum()),
        ("gelu", lambda x: x.gelu().sum()),
        ("layer_norm", lambda x: (tern.layer_norm(x, [4]) ** 3).sum()),
        ("tanh_mean", lambda x: x.tanh().mean()),
    ],
)
def test_autograd_matches_finite_differences(name, f):
    x = tern.randn(3, 4, generator=tern.Generator(7), dtype=tern.float64, requires_grad=True)
    f(x).backward()
    np.testing.assert_allclose(np.asarray(x.grad), _numeric_grad(f, x), rtol=1e-5, atol=1e-7)
