#pragma once
// layer_stats.json in a Phase 4 directory: for each BitLinear layer, what ternarization did to its weight. The
// latent weight (the one QAT trained, before ternarization) as a histogram, the cut below which |w| became 0, the
// fraction of zeros and the scale. tools/plot.py draws it.
//
//   {"format": "tern-layer-stats", "format_version": 1,
//    "layers": [{"name": "h.0.attn.c_attn", "shape": [384, 128], "weight_sparsity_threshold": 0.1 (null: absmean),
//                "mean_abs": ..., "max_abs": ..., "rms": ...,
//                "scale": ..., "cut": ..., "sparsity": ..., "negative": n, "zero": n, "positive": n,
//                "histogram": {"lo": ..., "hi": ..., "counts": [...], "below": n, "above": n}}, ...]}
//
// cut lies midway between the largest |w| that became 0 and the smallest that did not (0 when nothing became 0).
// The histogram spans [-hi, hi] with hi = min(max|w|, 6·rms); "below" and "above" count the weights outside it.

#include <string>

#include <tern/nn/module.h>

namespace tern::cli {

// The JSON text for every BitLinear of `model`, in module order.
std::string layer_stats_json(const nn::Module& model);

// Writes layer_stats_json(model) to `path` atomically.
void write_layer_stats(const std::string& path, const nn::Module& model);

}  // namespace tern::cli
