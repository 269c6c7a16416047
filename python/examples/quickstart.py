"""The BitNet b1.58 quick start, section by section, on a small GPT-2.

    python python/examples/quickstart.py [output directory]

1. convert every Linear to BitLinear; 2. check that gradients flow through the quantizers;
3. report the memory footprint; 4. save and reload a layer's quantized state; 5. a short
quantization-aware training (QAT) loop; 6. save and reload a Phase 4 directory.
"""

import sys
import tempfile

import numpy as np

import tern
from tern.quant import (
    BitLinear,
    BitNetQuantizer,
    CompressedModel,
    Phase4Config,
    load_phase4_model,
    replace_linear_with_bitlinear,
    save_phase4_model,
)


def main(out_dir: str) -> None:
    gen = tern.Generator(0)
    config = tern.nn.GPT2Config(n_layer=2, n_head=2, n_embd=64, n_positions=32, vocab_size=128)
    model = tern.nn.GPT2(config, generator=gen)
    idx = (tern.rand(4, 32, generator=gen) * 128).to(tern.int64)  # random token ids in [0, 128)
    inputs, targets = idx[:, :-1], idx[:, 1:]
    _, loss_fp32 = model(inputs, targets)

    # 1. Convert: every Linear outside the excluded names becomes a BitLinear sharing its weights.
    phase4 = Phase4Config(weight_sparsity_threshold=0.1, exclude_patterns=["lm_head", "wte", "wpe"])
    quantizer = BitNetQuantizer(phase4)
    compressed = CompressedModel(model, quantizer, phase4)
    bitlinear = [n for n, m in model.named_modules() if isinstance(m, BitLinear)]
    print(f"1. converted {len(bitlinear)} layers to BitLinear, e.g. {bitlinear[0]}")

    # 2. Gradients flow to the latent weights through the straight-through estimators.
    _, loss = model(inputs, targets)
    loss.backward()
    layer = model.get_submodule("h.0.mlp.c_fc")
    grad_norm = tern.norm(layer.weight.grad).item()
    assert grad_norm > 0
    print(f"2. loss fp32 {loss_fp32.item():.4f} -> BitNet {loss.item():.4f}; |grad c_fc| = {grad_norm:.4g}")

    # 3. Memory footprint, per layer and for the whole model.
    fp = layer.get_memory_footprint()
    stats = compressed.get_compression_stats()
    print(f"3. h.0.mlp.c_fc: {fp['full_precision_bytes']} B fp32 -> {fp['quantized_bytes']} B packed "
          f"({fp['compression_ratio']:.2f}x); model {stats['ratio']:.2f}x, sparsity {stats['mean_sparsity']:.3f}")

    # 4. Save and reload a layer's quantized state: the reloaded layer computes the same output.
    state = layer.get_quantized_state()
    twin = BitLinear(layer.in_features, layer.out_features, weight_sparsity_threshold=0.1)
    twin.load_quantized_state(state)
    x = tern.randn(3, layer.in_features, generator=gen)
    with tern.no_grad():
        same = np.array_equal(np.asarray(layer(x)), np.asarray(twin(x)))
    assert same
    print(f"4. quantized state: {len(state['packed_weight'])} packed bytes, scale {state['weight_scale']:.4g}; "
          "reloaded layer matches")

    # 5. A short QAT loop with AdamW.
    opt = tern.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    losses = []
    for _ in range(15):
        opt.zero_grad()
        _, loss = model(inputs, targets)
        loss.backward()
        tern.optim.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    print(f"5. QAT: loss {losses[0]:.4f} -> {losses[-1]:.4f} in {len(losses)} steps")

    # 6. A Phase 4 directory (the layout `tern quantize` writes), reloaded.
    save_phase4_model(model, out_dir, phase4, compressed)
    reloaded = load_phase4_model(out_dir)
    model.eval()
    reloaded.eval()
    with tern.no_grad():
        a = np.asarray(model(inputs))
        b = np.asarray(reloaded(inputs))
    diff = float(np.abs(a - b).max())
    assert diff < 5e-2 * float(np.abs(a).max()), diff
    print(f"6. Phase 4 directory {out_dir}: reloaded, max |logits difference| {diff:.2e} (fp16 storage)")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(sys.argv[1])
    else:
        with tempfile.TemporaryDirectory() as d:
            main(d + "/phase4")
