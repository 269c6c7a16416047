#pragma once
// Basic layers. Parameter names and shapes follow PyTorch, so state dicts map
// one to one (Linear.weight is [out, in]).

#include <tern/core/generator.h>
#include <tern/core/ops.h>
#include <tern/nn/module.h>

namespace tern::nn {

// y = x @ weight^T + bias, with weight passed to BLAS transposed (no copy).
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = {});

struct LinearOptions {
  bool bias = true;
  Generator* gen = nullptr;  // torch's init: U(-1/sqrt(in), 1/sqrt(in))
};

class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, LinearOptions opts = {});
  Tensor forward(const Tensor& x) override;
  int64_t in_features() const { return in_; }
  int64_t out_features() const { return out_; }
  Tensor weight, bias;  // bias undefined when disabled

 protected:
  Linear(std::string type_name, int64_t in_features, int64_t out_features, LinearOptions opts);

 private:
  int64_t in_, out_;
};

// A token embedding whose table also serves as the tied output projection, logits = x · tableᵀ
// (GPT-2's lm_head). Embedding projects through matmul; quantized tables (quant::Int8Embedding)
// through their own kernels.
class TiedEmbedding {
 public:
  virtual ~TiedEmbedding() = default;
  virtual Tensor project(const Tensor& x) = 0;
};

class Embedding : public Module, public TiedEmbedding {
 public:
  Embedding(int64_t num_embeddings, int64_t dim, Generator* gen = nullptr);  // N(0, 1) as torch
  Tensor forward(const Tensor& indices) override;
  Tensor project(const Tensor& x) override;
  Tensor weight;
};

class LayerNorm : public Module {
 public:
  // bias = false keeps the weight only (torch's LayerNorm(bias=False), nanoGPT's bias=False).
  explicit LayerNorm(Shape normalized_shape, double eps = 1e-5, bool elementwise_affine = true, bool bias = true);
  explicit LayerNorm(int64_t dim, double eps = 1e-5, bool elementwise_affine = true, bool bias = true)
      : LayerNorm(Shape{dim}, eps, elementwise_affine, bias) {}
  Tensor forward(const Tensor& x) override;
  Tensor weight, bias;
  double eps;

 private:
  Shape shape_;
};

class Dropout : public Module {
 public:
  explicit Dropout(double p = 0.5, Generator* gen = nullptr);
  Tensor forward(const Tensor& x) override;
  double p;

 private:
  Generator* gen_;
};

// GELU; by default GPT-2's tanh approximation, GeluApproximation::none for the exact one.
class GELU : public Module {
 public:
  explicit GELU(GeluApproximation approximate = GeluApproximation::tanh) : Module("GELU"), approximate(approximate) {}
  Tensor forward(const Tensor& x) override;
  GeluApproximation approximate;
};

class Sequential : public Module {
 public:
  Sequential() : Module("Sequential") {}
  explicit Sequential(std::vector<ModulePtr> modules);
  void push_back(ModulePtr m);
  Tensor forward(const Tensor& x) override;
  size_t size() const { return named_children().size(); }
};

class ModuleList : public Module {
 public:
  ModuleList() : Module("ModuleList") {}
  void push_back(ModulePtr m);
  size_t size() const { return named_children().size(); }
  ModulePtr operator[](size_t i) const;
  template <typename M>
  M& at(size_t i) const {
    return child_as<M>(std::to_string(i));
  }
};

}  // namespace tern::nn
