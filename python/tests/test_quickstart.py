import os
import subprocess
import sys

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "examples", "quickstart.py")


def test_quickstart_runs(tmp_path):
    out = subprocess.run([sys.executable, EXAMPLE, str(tmp_path / "phase4")], capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    for section in ("1.", "2.", "3.", "4.", "5.", "6."):
        assert f"\n{section} " in "\n" + out.stdout
    assert os.path.exists(tmp_path / "phase4" / "model.ternary.safetensors")
