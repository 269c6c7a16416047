import os

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIXTURES = os.path.join(REPO, "tests", "fixtures")


@pytest.fixture
def tiny_gpt2_dir():
    return os.path.join(FIXTURES, "tiny_gpt2")
