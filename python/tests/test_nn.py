import json
import os

import numpy as np
import pytest

import tern
from tern.quant import BitLinear, replace_linear_with_bitlinear


class MLP(tern.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = tern.nn.Linear(8, 16, generator=tern.Generator(0))
        self.head = tern.nn.Linear(16, 4, generator=tern.Generator(1))
        self.scale = tern.nn.Parameter(tern.ones(4))
        self.note = "plain attribute"

    def forward(self, x):
        return self.head(self.fc(x).gelu()) * self.scale


def test_python_module_joins_the_tree():
    m = MLP()
    names = [n for n, _ in m.named_parameters()]
    assert names == ["scale", "fc.weight", "fc.bias", "head.weight", "head.bias"]
    assert m.note == "plain attribute"
    assert set(m.state_dict()) == set(names)
    assert m.eval() is m and not m.training and not m.fc.training


def test_replace_linear_with_bitlinear_reaches_python_children():
    m = MLP()
    x = tern.randn(5, 8, generator=tern.Generator(2))
    w = m.fc.weight
    replace_linear_with_bitlinear(m, weight_sparsity_threshold=0.1, exclude_patterns=["head"])
    assert isinstance(m.fc, BitLinear) and not isinstance(m.head, BitLinear)
    assert m.fc.weight.data_ptr() == w.data_ptr()  # the trained weight is kept, not copied
    # A Module inside a C++ container still runs its Python forward
    seq = tern.nn.Sequential(m)
    seq(x).sum().backward()
    assert m.fc.weight.grad is not None and m.scale.grad is not None
    t, _ = m.fc.ternary_weight()
    assert (np.asarray(t) == 0).mean() == pytest.approx(0.1, abs=1 / t.numel())


def test_bitlinear_seed_api(tmp_path):
    layer = BitLinear(512, 1024, weight_sparsity_threshold=0.1)
    fp = layer.get_memory_footprint()
    assert fp["full_precision_bytes"] == (512 * 1024 + 1024) * 4
    assert fp["compression_ratio"] == fp["full_precision_bytes"] / fp["quantized_bytes"] > 10
    state = layer.get_quantized_state()
    other = BitLinear(512, 1024, weight_sparsity_threshold=0.1)
    other.load_quantized_state(state)
    x = tern.randn(3, 512)
    np.testing.assert_array_equal(np.asarray(layer(x)), np.asarray(other(x)))


def test_state_dict_round_trip_through_safetensors(tmp_path):
    a, b = MLP(), MLP()
    b.fc.weight.requires_grad = False
    with tern.no_grad():
        b.fc.weight.fill_(0.0)
    path = str(tmp_path / "mlp.safetensors")
    tern.io.save(path, a.state_dict(), {"note": "x"})
    assert tern.io.load_metadata(path) == {"note": "x"}
    b.load_state_dict(tern.io.load(path))
    x = tern.randn(2, 8)
    np.testing.assert_array_equal(np.asarray(a(x)), np.asarray(b(x)))


def test_optimizers_reduce_a_loss():
    for make in (
        lambda m: tern.optim.AdamW(m.parameters(), lr=1e-2),
        lambda m: tern.optim.SGD(m.parameters(), lr=1e-1, momentum=0.9),
        lambda m: tern.optim.MuGrokfast(m, lr=1e-2, muon_lr=0.02),
    ):
        m = MLP()
        opt = make(m)
        x = tern.randn(16, 8, generator=tern.Generator(3))
        target = tern.zeros(16, 4)
        losses = []
        for _ in range(20):
            opt.zero_grad()
            loss = ((m(x) - target) ** 2).mean()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        assert min(losses) < 0.5 * losses[0], (type(opt).__name__, losses)


def test_hf_tiny_gpt2_logits_and_loss(tiny_gpt2_dir):
    model = tern.nn.GPT2.from_pretrained(tiny_gpt2_dir)
    ref = tern.io.load(os.path.join(tiny_gpt2_dir, "fwd_bwd.safetensors"))
    logits, loss = model(ref["idx"], ref["targets"])
    want = np.asarray(ref["logits"])
    got = np.asarray(logits)
    assert got.shape == want.shape
    assert np.abs(got - want).max() < 1e-5 * np.abs(want).max()
    assert loss.item() == pytest.approx(ref["loss"].item(), rel=1e-5)
    loss.backward()
    grad = np.asarray(model.wte.weight.grad)
    want_grad = np.asarray(ref["grad.transformer.wte.weight"])
    assert np.abs(grad - want_grad).max() < 1e-4 * np.abs(want_grad).max()
    greedy = json.load(open(os.path.join(tiny_gpt2_dir, "greedy.json")))
    prompt = greedy["prompt"]
    out = model.generate(prompt, max_new_tokens=5, temperature=0.0)
    assert out == greedy["greedy"][: len(prompt) + 5]


def test_tokenizers():
    tok = tern.tokenizers.GPT2Tokenizer()
    ids = tok.encode("Hello world<|endoftext|>")
    assert ids == [15496, 995, 50256]
    assert tok.decode(ids) == "Hello world<|endoftext|>"
    ch = tern.tokenizers.CharTokenizer.from_text("abcab")
    assert ch.vocab_size == 3 and ch.decode(ch.encode("cab")) == "cab"
