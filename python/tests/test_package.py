import os
import threading
import time

import tern


def test_type_stubs_ship_under_the_import_name():
    stubs = os.path.join(os.path.dirname(tern.__file__), "_tern")
    for name in ("__init__", "nn", "optim", "io", "tokenizers", "quant"):
        assert os.path.exists(os.path.join(stubs, name + ".pyi")), name
    with open(os.path.join(stubs, "quant.pyi")) as f:
        text = f.read()
    assert "class BitLinear(tern._tern.nn.Linear)" in text
    assert "weight_sparsity_threshold: float | None = 0.1" in text


def test_matmul_releases_the_gil():
    a = tern.randn(1024, 1024)
    ticks = []
    stop = threading.Event()

    def counter():
        while not stop.is_set():
            ticks.append(1)
            time.sleep(0.0005)

    t = threading.Thread(target=counter)
    t.start()
    time.sleep(0.01)
    before = len(ticks)
    a @ a  # ~2 GFLOP: tens of milliseconds at least
    during = len(ticks) - before
    stop.set()
    t.join()
    # Holding the GIL, the counter could tick at most once or twice around the call.
    assert during > 3
