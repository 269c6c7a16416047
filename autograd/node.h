#pragma once
// The graph: each Node is the backward of one op application. Its next edges
// point at the nodes that produced its inputs (or at a leaf's AccumulateGrad).

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <tern/autograd/grad_mode.h>
#include <tern/core/tensor.h>

namespace tern::autograd {

class Node;

struct Edge {
  std::shared_ptr<Node> fn;  // null: the input needs no gradient
  uint32_t input_nr = 0;     // which gradient slot of fn this edge feeds
};

class Node : public std::enable_shared_from_this<Node> {
 public:
  Node(std::string name, uint32_t num_outputs) : name_(std::move(name)), num_outputs_(num_outputs) {}
  virtual ~Node() = default;

  const std::string& name() const { return name_; }
  uint32_t num_outputs() const { return num_outputs_; }
  std::vector<Edge>& next_edges() { return next_edges_; }
  const std::vector<Edge>& next_edges() const { return next_edges_; }
  bool needs_input_grad(size_t i) const { return i < next_edges_.size() && next_edges_[i].fn; }

  // grads: one per forward output (undefined means zero). Returns one per next edge.
  virtual std::vector<Tensor> apply(std::vector<Tensor> grads) = 0;
  // Frees what the backward kept alive; a later apply() must then fail clearly.
  virtual void release() {}

  void set_num_outputs(uint32_t n) { num_outputs_ = n; }

  // Non-leaf outputs that asked for retain_grad(), indexed by output number.
  std::vector<std::weak_ptr<TensorImpl>>& retained() { return retained_; }

 protected:
  std::string name_;
  uint32_t num_outputs_;
  std::vector<Edge> next_edges_;
  std::vector<std::weak_ptr<TensorImpl>> retained_;
};

// Sink for a leaf: adds the incoming gradient into leaf.grad.
class AccumulateGrad final : public Node {
 public:
  explicit AccumulateGrad(std::shared_ptr<TensorImpl> leaf)
      : Node("AccumulateGrad", 1), leaf_(std::move(leaf)) {}
  std::vector<Tensor> apply(std::vector<Tensor> grads) override;

 private:
  std::shared_ptr<TensorImpl> leaf_;
};

// A tensor kept for backward, with the storage version it had when saved, so that
// an in-place change before backward is reported instead of giving wrong gradients.
class SavedTensor {
 public:
  SavedTensor() = default;
  explicit SavedTensor(const Tensor& t);
  Tensor get(const std::string& op) const;

 private:
  Tensor tensor_;
  uint64_t version_ = 0;
};

using BackwardFn = std::function<std::vector<Tensor>(const std::vector<Tensor>& grads, const Node&)>;

// The node every built-in op records: a closure holding its saved tensors.
class FunctionNode final : public Node {
 public:
  FunctionNode(std::string name, uint32_t num_outputs, BackwardFn fn)
      : Node(std::move(name), num_outputs), fn_(std::move(fn)) {}
  std::vector<Tensor> apply(std::vector<Tensor> grads) override;
  void release() override { fn_ = nullptr; }

 private:
  BackwardFn fn_;
};

// True when grad mode is on and any input requires grad.
bool needs_grad(const std::vector<Tensor>& inputs);

// The edge through which a gradient for `t` flows (null edge if none needed).
Edge gradient_edge(const Tensor& t);

// Connects `node` to `inputs` and makes it the grad_fn of every output.
void connect(const std::shared_ptr<Node>& node, const std::vector<Tensor>& inputs,
             const std::vector<Tensor>& outputs);

// Records a single-output op: backward(g, node) returns one gradient per input
// (undefined where !node.needs_input_grad(i)). Does nothing when no input needs grad.
void record(const char* op, const std::vector<Tensor>& inputs, const Tensor& output,
            std::function<std::vector<Tensor>(const Tensor& g, const Node&)> backward);

// Reverse-mode backward from `roots` seeded with `grads`.
void run_backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grads,
                  bool retain_graph);

}  // namespace tern::autograd
