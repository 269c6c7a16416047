import pytest

import tern


def test_cuda_reports_what_this_machine_has():
    n = tern.cuda.device_count()
    assert tern.cuda.is_available() == (n > 0)
    if n == 0:
        with pytest.raises(tern.Error, match="CUDA"):
            tern.cuda.memory_stats()
    else:
        stats = tern.cuda.memory_stats()
        assert set(stats) == {"allocated_bytes", "reserved_bytes", "peak_allocated_bytes"}
        tern.cuda.synchronize()


def test_matmul_precision_switch():
    assert tern.get_float32_matmul_precision() == "highest"
    tern.set_float32_matmul_precision("high")
    try:
        assert tern.get_float32_matmul_precision() == "high"
    finally:
        tern.set_float32_matmul_precision("highest")
    with pytest.raises(tern.Error, match="set_matmul_precision"):
        tern.set_float32_matmul_precision("medium")


def test_autocast_changes_nothing_on_the_cpu():
    a, b = tern.randn(5, 7), tern.randn(7, 3)
    plain = tern.matmul(a, b)
    with tern.autocast(tern.bfloat16):
        cast = tern.matmul(a, b)
    assert cast.dtype == tern.float32
    assert (cast - plain).abs().max().item() == 0.0
    with pytest.raises(tern.Error, match="autocast"):
        with tern.autocast(tern.int8):
            pass
