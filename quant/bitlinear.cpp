#include <tern/autograd/grad_mode.h>
#include <tern/core/error.h>
#include <tern/core/ops.h>
#include <tern/core/storage.h>
#include <tern/quant/bitlinear.h>

#include <cmath>
#include <cstring>

namespace tern::quant {

BitLinear::BitLinear(int64_t in_features, int64_t out_features, BitLinearOptions opts)
    : BitLinear(in_features, out_features, opts, opts.gen) {}

BitLinear::BitLinear(int64_t in_features, int64_t out_features, BitLinearOptions opts, Generator* init_gen)
    : nn::Linear("BitLinear", in_features, out_features, nn::LinearOptions{.bias = opts.bias, .gen = init_gen}),
      opts_(opts) {
  if (opts_.weight_sparsity_threshold) sparsity_zero_count(1, *opts_.weight_sparsity_threshold, "BitLinear");
  TERN_CHECK(opts_.rmsnorm_eps >= 0 && std::isfinite(opts_.rmsnorm_eps), "BitLinear",
             "rmsnorm_eps must be finite and >= 0, got ", opts_.rmsnorm_eps);
}

std::shared_ptr<BitLinear> BitLinear::from_linear(const nn::Linear& linear, BitLinearOptions opts) {
  opts.bias = linear.bias.defined();
  // The fresh parameters are replaced at once; a private generator keeps their throwaway
  // initialisation from consuming the caller's random stream.
  Generator scratch(0);
  auto m = std::shared_ptr<BitLinear>(new BitLinear(linear.in_features(), linear.out_features(), opts, &scratch));
  for (auto& [name, t] : m->own_parameters()) {
    if (name == "weight") t = linear.weight;
    if (name == "bias") t = linear.bias;
  }
  m->weight = linear.weight;
  m->bias = linear.bias;
  m->train(linear.is_training());
  return m;
}

bool BitLinear::cache_valid() const {
  if (!cache_.storage || !weight.defined()) return false;
  return cache_.storage == weight.storage() && cache_.version == weight.storage()->version() &&
         cache_.offset == weight.offset() && cache_.shape == weight.shape() && cache_.dtype == weight.dtype() &&
         weight.is_contiguous();
}

const BitLinear::Cache& BitLinear::quantize_cached() const {
  if (cache_valid()) return cache_;
  Tensor values, scale;
  Tensor deq = ternary_dequantized(weight.detach(), opts_.weight_sparsity_threshold, &values, &scale);
  remember(std::move(deq), std::move(values), std::move(scale));
  return cache_;
}

void BitLinear::remember(Tensor dequantized, Tensor values, Tensor scale) const {
  Cache c;
  c.dequantized = std::move(dequantized);
  c.values = std::move(values);
  c.scale = std::move(scale);
  c.storage = weight.storage();
  c.version = weight.storage()->version();
  c.offset = weight.offset();
  c.shape = weight.shape();
  c.dtype = weight.dtype();
  cache_ = std::move(c);
}

Tensor BitLinear::forward(const Tensor& x) {
  TERN_CHECK(x.defined() && x.dim() >= 1 && x.size(-1) == in_features(), "BitLinear", "expected input with last dim ",
             in_features(), ", got shape ", x.defined() ? shape_str(x.shape()) : std::string("undefined"));
  Tensor h = opts_.input_rmsnorm ? rms_norm(x, opts_.rmsnorm_eps) : x;
  Tensor xq = activation_quant(h);
  Tensor wq;
  if (cache_valid() || opts_.cache_quantized_weight)
    wq = apply_ste(weight, quantize_cached().dequantized);
  else
    wq = weight_quant(weight, opts_.weight_sparsity_threshold);
  return nn::linear(xq, wq, bias);
}

TernaryWeight BitLinear::ternary_weight() const {
  if (cache_valid()) return TernaryWeight{cache_.values, static_cast<float>(cache_.scale.item<double>())};
  return ternarize(weight.detach(), opts_.weight_sparsity_threshold);
}

Tensor BitLinear::dequantized_weight() const {
  if (cache_valid()) return cache_.dequantized.clone();
  return ternary_dequantized(weight.detach(), opts_.weight_sparsity_threshold);
}

MemoryFootprint BitLinear::memory_footprint(Packing packing) const {
  MemoryFootprint f;
  f.num_weights = weight.numel();
  const int64_t bias_bytes = bias.defined() ? 4 * bias.numel() : 0;
  const int64_t scale_bytes = 4;
  f.fp32_bytes = 4 * f.num_weights + bias_bytes;
  f.theoretical_bytes = static_cast<int64_t>(std::ceil(static_cast<double>(f.num_weights) * std::log2(3.0) / 8.0)) +
                        scale_bytes + bias_bytes;
  f.int8_bytes = f.num_weights + scale_bytes + bias_bytes;
  f.packed_bytes = static_cast<int64_t>(packed_size(f.num_weights, packing)) + scale_bytes + bias_bytes;
  const double fp = static_cast<double>(f.fp32_bytes);
  f.theoretical_ratio = fp / static_cast<double>(f.theoretical_bytes);
  f.int8_ratio = fp / static_cast<double>(f.int8_bytes);
  f.packed_ratio = fp / static_cast<double>(f.packed_bytes);
  return f;
}

QuantizedState BitLinear::quantized_state(Packing packing) const {
  TernaryWeight t = ternary_weight();
  QuantizedState s;
  s.packing = packing;
  s.shape = weight.shape();
  // The state is host data (bytes, a float scale); a layer on a GPU hands its values over first.
  s.packed = pack_ternary(t.values.to(kCPU), packing);
  s.scale = t.scale;
  if (bias.defined()) s.bias = bias.detach().to(kCPU).to(kFloat32).clone();
  s.weight_sparsity_threshold = opts_.weight_sparsity_threshold;
  return s;
}

void BitLinear::load_quantized_state(const QuantizedState& state) {
  TERN_CHECK(state.shape == weight.shape(), "BitLinear", "quantized state has shape ", shape_str(state.shape),
             ", the layer's weight is ", shape_str(weight.shape()));
  TERN_CHECK(state.bias.defined() == bias.defined(), "BitLinear", "quantized state ",
             state.bias.defined() ? "has" : "lacks", " a bias but the layer ", bias.defined() ? "has" : "lacks",
             " one");
  if (bias.defined())
    TERN_CHECK(state.bias.shape() == bias.shape(), "BitLinear", "quantized state's bias has shape ",
               shape_str(state.bias.shape()), ", the layer's is ", shape_str(bias.shape()));
  Tensor values = unpack_ternary(state.packed.data(), state.packed.size(), state.shape, state.packing);
  load_ternary(TernaryWeight{values, state.scale});
  if (bias.defined()) {
    NoGradGuard ng;
    bias.copy_(state.bias.to(bias.dtype()).clone());
  }
}

void BitLinear::load_ternary(const TernaryWeight& t) {
  TERN_CHECK(t.values.defined() && t.values.dtype() == kInt8 && t.values.shape() == weight.shape(), "BitLinear",
             "ternary values must be i8 of the weight's shape ", shape_str(weight.shape()));
  TERN_CHECK(std::isfinite(t.scale) && t.scale >= 0.0f, "BitLinear", "invalid scale ", t.scale);
  Tensor deq = t.dequantize(weight.dtype());
  {
    NoGradGuard ng;
    weight.copy_(deq);
  }
  if (weight.is_contiguous())
    remember(deq, t.values.contiguous(), scalar_tensor(t.scale, kFloat32, weight.device()));  // exact, any weight dtype
}

}  // namespace tern::quant
