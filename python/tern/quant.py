"""BitNet b1.58 under the BitNet quick-start guide's names:

    layer = BitLinear(512, 1024, weight_sparsity_threshold=0.1)
    layer.get_memory_footprint(); layer.get_quantized_state(); layer.load_quantized_state(state)
    replace_linear_with_bitlinear(model, exclude_patterns=["lm_head"])
    CompressedModel(model, BitNetQuantizer(config), config).get_compression_stats()
    save_phase4_model(model, "phase4", config, compressed); load_phase4_model("phase4")
"""

from ._tern.quant import (  # noqa: F401
    BitLinear,
    BitNetQuantizer,
    CompressedModel,
    Phase4Config,
    activation_quant,
    apply_ste,
    find_linear_layers,
    load_phase4_config,
    load_phase4_model,
    pack_ternary,
    replace_linear_with_bitlinear,
    rms_norm,
    save_phase4_model,
    ternarize,
    unpack_ternary,
    weight_quant,
)
