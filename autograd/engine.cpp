// Backward: count each node's dependants, then run nodes in topological order,
// summing the gradients that meet at a node before it runs.

#include <unordered_map>
#include <vector>

#include <tern/autograd/node.h>
#include <tern/core/ops.h>

namespace tern::autograd {

namespace {

void accumulate(Tensor& slot, const Tensor& g) {
  if (!g.defined()) return;
  slot = slot.defined() ? add(slot, g) : g;
}

}  // namespace

void run_backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grads,
                  bool retain_graph) {
  TERN_CHECK(roots.size() == grads.size(), "backward", roots.size(), " roots but ", grads.size(),
             " gradients");
  NoGradGuard no_grad;  // backward rules are built from ops; they must not record

  std::unordered_map<Node*, int> deps;
  std::unordered_map<Node*, std::vector<Tensor>> buffers;
  std::vector<Node*> stack;
  std::vector<std::shared_ptr<Node>> root_nodes;

  for (size_t i = 0; i < roots.size(); ++i) {
    Edge e = gradient_edge(roots[i]);
    TERN_CHECK(e.fn, "backward", "root ", i, " does not require grad");
    TERN_CHECK(grads[i].shape() == roots[i].shape(), "backward", "gradient shape ",
               shape_str(grads[i].shape()), " differs from root shape ", shape_str(roots[i].shape()));
    auto& buf = buffers[e.fn.get()];
    buf.resize(e.fn->num_outputs());
    accumulate(buf[e.input_nr], grads[i]);
    root_nodes.push_back(e.fn);
  }

  // Dependency counts over the reachable graph.
  std::vector<Node*> todo;
  std::unordered_map<Node*, bool> seen;
  for (auto& r : root_nodes)
    if (!seen[r.get()]) {
      seen[r.get()] = true;
      todo.push_back(r.get());
    }
  while (!todo.empty()) {
    Node* n = todo.back();
    todo.pop_back();
    for (auto& e : n->next_edges()) {
      if (!e.fn) continue;
      ++deps[e.fn.get()];
      if (!seen[e.fn.get()]) {
        seen[e.fn.get()] = true;
        todo.push_back(e.fn.get());
      }
    }
  }

  for (auto& r : root_nodes)
    if (deps[r.get()] == 0 && std::find(stack.begin(), stack.end(), r.get()) == stack.end())
      stack.push_back(r.get());

  while (!stack.empty()) {
    Node* node = stack.back();
    stack.pop_back();
    std::vector<Tensor> in = std::move(buffers[node]);
    buffers.erase(node);
    in.resize(node->num_outputs());

    auto& retained = node->retained();
    for (size_t i = 0; i < retained.size() && i < in.size(); ++i) {
      if (auto impl = retained[i].lock(); impl && in[i].defined()) {
        auto& slot = impl->autograd().grad;
        slot = slot ? add(Tensor(slot), in[i]).impl_ptr() : in[i].clone().impl_ptr();
      }
    }

    bool any = false;
    for (auto& g : in) any = any || g.defined();
    std::vector<Tensor> out;
    if (any) out = node->apply(std::move(in));
    if (!retain_graph) node->release();
    out.resize(node->next_edges().size());

    auto& edges = node->next_edges();
    for (size_t i = 0; i < edges.size(); ++i) {
      Node* next = edges[i].fn.get();
      if (!next) continue;
      if (out[i].defined()) {
        auto& buf = buffers[next];
        buf.resize(next->num_outputs());
        accumulate(buf[edges[i].input_nr], out[i]);
      }
      if (--deps[next] == 0) stack.push_back(next);
    }
  }
}

}  // namespace tern::autograd
