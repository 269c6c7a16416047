#include <tern/nn/layers.h>

#include <cmath>

#include <tern/core/ops.h>
#include <tern/nn/init.h>

namespace tern::nn {

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  Tensor y = matmul(x, weight.t());
  return bias.defined() ? add(y, bias) : y;
}

Linear::Linear(int64_t in_features, int64_t out_features, LinearOptions opts)
    : Linear("Linear", in_features, out_features, opts) {}

Linear::Linear(std::string type_name, int64_t in_features, int64_t out_features, LinearOptions opts)
    : Module(std::move(type_name)), in_(in_features), out_(out_features) {
  TERN_CHECK(in_features > 0 && out_features > 0, "Linear", "features must be positive, got in=", in_features,
             " out=", out_features);
  const double bound = 1.0 / std::sqrt(static_cast<double>(in_features));
  Tensor w = empty({out_features, in_features});
  init::uniform_(w, -bound, bound, opts.gen);
  weight = register_parameter("weight", w);
  if (opts.bias) {
    Tensor b = empty({out_features});
    init::uniform_(b, -bound, bound, opts.gen);
    bias = register_parameter("bias", b);
  }
}

Tensor Linear::forward(const Tensor& x) {
  TERN_CHECK(x.dim() >= 1 && x.size(-1) == in_, type_name(), "expected input with last dim ", in_, ", got shape ",
             shape_str(x.shape()));
  return linear(x, weight, bias);
}

Embedding::Embedding(int64_t num_embeddings, int64_t dim, Generator* gen) : Module("Embedding") {
  TERN_CHECK(num_embeddings > 0 && dim > 0, "Embedding", "sizes must be positive, got ", num_embeddings, "x", dim);
  Tensor w = empty({num_embeddings, dim});
  init::normal_(w, 0.0, 1.0, gen);
  weight = register_parameter("weight", w);
}

Tensor Embedding::forward(const Tensor& indices) { return embedding(weight, indices); }

Tensor Embedding::project(const Tensor& x) { return matmul(x, weight.t()); }

LayerNorm::LayerNorm(Shape normalized_shape, double eps_, bool affine, bool with_bias)
    : Module("LayerNorm"), eps(eps_), shape_(std::move(normalized_shape)) {
  if (affine) {
    weight = register_parameter("weight", ones(shape_));
    if (with_bias) bias = register_parameter("bias", zeros(shape_));
  }
}

Tensor LayerNorm::forward(const Tensor& x) { return layer_norm(x, shape_, weight, bias, eps); }

Dropout::Dropout(double p_, Generator* gen) : Module("Dropout"), p(p_), gen_(gen) {
  TERN_CHECK(p >= 0.0 && p <= 1.0, "Dropout", "probability must be in [0, 1], got ", p);
}

Tensor Dropout::forward(const Tensor& x) { return dropout(x, p, is_training(), gen_); }

Tensor GELU::forward(const Tensor& x) { return gelu(x, approximate); }

Sequential::Sequential(std::vector<ModulePtr> modules) : Module("Sequential") {
  for (auto& m : modules) push_back(std::move(m));
}

void Sequential::push_back(ModulePtr m) { register_module(std::to_string(size()), std::move(m)); }

Tensor Sequential::forward(const Tensor& x) {
  Tensor h = x;
  for (auto& [n, m] : named_children()) h = m->forward(h);
  return h;
}

void ModuleList::push_back(ModulePtr m) { register_module(std::to_string(size()), std::move(m)); }

ModulePtr ModuleList::operator[](size_t i) const {
  TERN_CHECK(i < size(), "ModuleList", "index ", i, " is out of range for ", size(), " modules");
  return named_children()[i].second;
}

}  // namespace tern::nn
