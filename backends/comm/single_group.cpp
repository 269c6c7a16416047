// The group of one process: what a run outside mpirun/srun uses, so that a trainer has one code path.

#include <tern/backends/comm/process_group.h>

namespace tern::dist {

namespace {

class Done final : public Work {
 public:
  void wait() override {}
  bool test() override { return true; }
};

void check(const Tensor& t, const char* op) {
  TERN_CHECK(t.defined(), op, "undefined tensor");
  TERN_CHECK(t.is_contiguous(), op, "the tensor must be contiguous");
}

class SingleProcessGroup final : public ProcessGroup {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  int local_rank() const override { return 0; }
  std::string backend() const override { return "single"; }
  void all_reduce(Tensor& t, ReduceOp) override { check(t, "all_reduce"); }
  std::unique_ptr<Work> all_reduce_async(Tensor& t, ReduceOp) override {
    check(t, "all_reduce");
    return std::make_unique<Done>();
  }
  void broadcast(Tensor& t, int root) override {
    check(t, "broadcast");
    TERN_CHECK(root == 0, "broadcast", "root ", root, " is not a rank of a group of one");
  }
  Tensor all_gather(const Tensor& t) override {
    check(t, "all_gather");
    return t.detach().clone();
  }
  Tensor reduce_scatter(const Tensor& t, ReduceOp) override {
    check(t, "reduce_scatter");
    TERN_CHECK(t.dim() >= 1, "reduce_scatter", "needs at least one dimension");
    return t.detach().clone();
  }
  void barrier() override {}
};

}  // namespace

std::shared_ptr<ProcessGroup> make_single_process_group() { return std::make_shared<SingleProcessGroup>(); }

}  // namespace tern::dist
