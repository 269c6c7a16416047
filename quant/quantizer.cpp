#include <tern/autograd/grad_mode.h>
#include <tern/core/error.h>
#include <tern/core/ops.h>
#include <tern/quant/quantizer.h>

#include <cmath>

namespace tern::quant {

BitNetQuantizer::BitNetQuantizer(Phase4Config config) : config_(std::move(config)) { config_.validate(); }

TernaryWeight BitNetQuantizer::quantize(const Tensor& w) const {
  NoGradGuard ng;
  return ternarize(w.detach(), config_.weight_sparsity_threshold);
}

std::vector<uint8_t> BitNetQuantizer::pack(const TernaryWeight& t) const {
  // Packing is host code; values from a model trained on a GPU come over first.
  return pack_ternary(t.values.to(kCPU), config_.packing);
}

TernaryWeight BitNetQuantizer::unpack(const uint8_t* data, size_t nbytes, const Shape& shape, float scale) const {
  TERN_CHECK(std::isfinite(scale) && scale >= 0.0f, "BitNetQuantizer", "invalid scale ", scale);
  return TernaryWeight{unpack_ternary(data, nbytes, shape, config_.packing), scale};
}

namespace {
int64_t fp32_bytes(const Tensor& w, const Tensor& bias) {
  return 4 * (w.numel() + (bias.defined() ? bias.numel() : 0));
}

// The fields every layer has: name, shape, counts and fp32 bytes.
LayerStats base_stats(const std::string& name, const Tensor& w, const Tensor& bias, bool quantized) {
  LayerStats s;
  s.name = name;
  s.quantized = quantized;
  s.shape = w.shape();
  s.num_weights = w.numel();
  s.original_bytes = fp32_bytes(w, bias);
  return s;
}

double zero_fraction(const Tensor& values, int64_t n) {
  const int64_t zeros = sum(eq(values, 0.0).to(kInt64)).item<int64_t>();
  return static_cast<double>(zeros) / static_cast<double>(std::max<int64_t>(1, n));
}

}  // namespace

LayerStats BitNetQuantizer::layer_stats(const std::string& name, const Tensor& w, const Tensor& bias) const {
  return layer_stats(name, w, bias, quantize(w));
}

LayerStats BitNetQuantizer::layer_stats(const std::string& name, const Tensor& w, const Tensor& bias,
                                        const TernaryWeight& t) const {
  NoGradGuard ng;
  TERN_CHECK(t.values.defined() && t.values.shape() == w.shape(), "layer_stats", name,
             ": ternary values do not match the weight's shape ", shape_str(w.shape()));
  LayerStats s = base_stats(name, w, bias, true);
  s.packed_bytes =
      static_cast<int64_t>(packed_size(w.numel(), config_.packing)) + 4 + (bias.defined() ? 4 * bias.numel() : 0);
  s.ratio = static_cast<double>(s.original_bytes) / static_cast<double>(s.packed_bytes);
  const Tensor wd = w.detach().to(kFloat64);
  s.sparsity = zero_fraction(t.values, s.num_weights);
  const double wn = std::sqrt(sum(mul(wd, wd)).item<double>());
  Tensor diff = sub(wd, mul(t.values.to(kFloat64), static_cast<double>(t.scale)));
  const double dn = std::sqrt(sum(mul(diff, diff)).item<double>());
  s.rel_error = wn > 0 ? dn / wn : (dn > 0 ? INFINITY : 0.0);
  s.scale = t.scale;
  return s;
}

LayerStats BitNetQuantizer::unquantized_stats(const std::string& name, const Tensor& w, const Tensor& bias) {
  NoGradGuard ng;
  LayerStats s = base_stats(name, w, bias, false);
  s.packed_bytes = s.original_bytes;
  s.ratio = 1.0;
  s.sparsity = zero_fraction(w.detach(), s.num_weights);
  return s;
}

}  // namespace tern::quant
