#include <tern/nn/parallel/ddp.h>

#include <algorithm>
#include <chrono>
#include <set>

#include <tern/autograd/grad_mode.h>
#include <tern/core/ops.h>

namespace tern::nn {

namespace {

constexpr const char* kWhere = "DistributedDataParallel";

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

}  // namespace

DistributedDataParallel::DistributedDataParallel(std::shared_ptr<Module> module,
                                                 std::shared_ptr<dist::ProcessGroup> group, DDPOptions opts)
    : module_(std::move(module)), group_(std::move(group)), opts_(opts) {
  TERN_CHECK(module_, kWhere, "no module");
  TERN_CHECK(group_, kWhere, "no process group");
  TERN_CHECK(opts_.bucket_bytes > 0, kWhere, "bucket_bytes must be positive, got ", opts_.bucket_bytes);
  NoGradGuard ng;

  // Same starting point everywhere: a rank that initialised differently (another seed, a stale checkpoint)
  // would otherwise drift apart silently, every rank stepping with the same mean gradient.
  for (auto& p : module_->parameters()) {
    TERN_CHECK(p.is_contiguous(), kWhere, "parameters must be contiguous");
    group_->broadcast(p, 0);
  }
  if (opts_.broadcast_buffers)
    for (auto& [name, b] : module_->named_buffers()) {
      TERN_CHECK(b.is_contiguous(), kWhere, "buffer ", name, " must be contiguous");
      group_->broadcast(b, 0);
    }

  // Buckets in reverse registration order: backward meets the last layers first.
  std::vector<Tensor> params;
  std::set<const TensorImpl*> seen;  // a tied weight is registered twice but reduced once
  for (auto& p : module_->parameters())
    if (p.requires_grad() && seen.insert(&p.impl()).second) params.push_back(p);
  int64_t bytes = 0;
  for (auto it = params.rbegin(); it != params.rend(); ++it) {
    const Tensor& p = *it;
    TERN_CHECK(p.dtype() == DType::f32 || p.dtype() == DType::f64, kWhere, "parameters must be f32 or f64, got ",
               p.dtype());
    const int64_t nbytes = static_cast<int64_t>(p.nbytes());
    const bool fresh = buckets_.empty() || buckets_.back().slots.front().param.dtype() != p.dtype() ||
                       bytes + nbytes > opts_.bucket_bytes;
    if (fresh) {
      buckets_.emplace_back();
      bytes = 0;
    }
    Bucket& b = buckets_.back();
    b.slots.push_back({p, bytes / static_cast<int64_t>(p.element_size())});
    bytes += nbytes;
  }
  for (size_t bi = 0; bi < buckets_.size(); ++bi) {
    Bucket& b = buckets_[bi];
    const Slot& last = b.slots.back();
    b.flat = zeros({last.offset + last.param.numel()}, {.dtype = last.param.dtype()});
    b.ready.assign(b.slots.size(), false);
    b.pending = static_cast<int64_t>(b.slots.size());
    for (size_t si = 0; si < b.slots.size(); ++si)
      hooks_.push_back(autograd::register_post_accumulate_grad_hook(
          b.slots[si].param, [this, bi, si](const Tensor&) { on_grad_ready(bi, si); }));
  }
}

DistributedDataParallel::~DistributedDataParallel() {
  hooks_.clear();
  // Collectives still in flight write into our buckets: let them land first (Work's destructor waits).
  for (auto& b : buckets_) b.work.reset();
}

void DistributedDataParallel::on_grad_ready(size_t bi, size_t si) {
  if (!sync_ || group_->size() == 1) return;
  const double t0 = now_s();
  Bucket& b = buckets_[bi];
  TERN_CHECK(!b.ready[si], kWhere,
             "a gradient became ready twice before finish_gradient_sync(); run the earlier "
             "backward passes of a step under no_sync()");
  b.ready[si] = true;
  --b.pending;
  // Buckets start in index order whatever order backward readies them, so every rank issues the same
  // sequence of collectives.
  while (next_launch_ < buckets_.size() && buckets_[next_launch_].pending == 0) {
    launch(buckets_[next_launch_++]);
    ++stats_.launched_in_backward;
  }
  // MPI advances a non-blocking collective only inside MPI calls.
  for (size_t i = 0; i < next_launch_; ++i)
    if (buckets_[i].work) buckets_[i].work->test();
  stats_.launch_s += now_s() - t0;
}

void DistributedDataParallel::launch(Bucket& b) {
  for (const Slot& s : b.slots) {
    Tensor dst = b.flat.narrow(0, s.offset, s.param.numel());
    const Tensor g = s.param.grad();
    if (g.defined())
      dst.view(s.param.shape()).copy_(g);
    else
      dst.zero_();
  }
  b.work = group_->all_reduce_async(b.flat, dist::ReduceOp::sum);
}

void DistributedDataParallel::finish_gradient_sync() {
  if (group_->size() == 1) {
    reset_step();
    return;
  }
  NoGradGuard ng;
  const double t0 = now_s();
  while (next_launch_ < buckets_.size()) launch(buckets_[next_launch_++]);
  const double scale = 1.0 / static_cast<double>(group_->size());
  int64_t bytes = 0;
  for (Bucket& b : buckets_) {
    b.work->wait();
    b.flat.mul_(scale);
    for (const Slot& s : b.slots) {
      const Tensor mean = b.flat.narrow(0, s.offset, s.param.numel()).view(s.param.shape());
      if (Tensor g = s.param.grad(); g.defined())
        g.copy_(mean);
      else
        s.param.set_grad(mean.clone());
    }
    bytes += static_cast<int64_t>(b.flat.nbytes());
  }
  stats_.wait_s += now_s() - t0;
  ++stats_.syncs;
  stats_.buckets = static_cast<int64_t>(buckets_.size());
  stats_.bytes = bytes;
  reset_step();
}

void DistributedDataParallel::reset_step() {
  for (Bucket& b : buckets_) {
    b.work.reset();
    b.ready.assign(b.slots.size(), false);
    b.pending = static_cast<int64_t>(b.slots.size());
  }
  next_launch_ = 0;
}

double DistributedDataParallel::time_allreduce() {
  TERN_CHECK(next_launch_ == 0, kWhere, "time_allreduce() in the middle of a step (call finish_gradient_sync())");
  // The median of five: one sample on a busy machine says more about the scheduler than the network.
  std::vector<double> t;
  for (int i = 0; i < 5; ++i) {
    group_->barrier();
    const double t0 = now_s();
    for (Bucket& b : buckets_) group_->all_reduce(b.flat, dist::ReduceOp::sum);
    t.push_back(now_s() - t0);
  }
  std::nth_element(t.begin(), t.begin() + 2, t.end());
  return t[2];
}

void DistributedDataParallel::reset_stats() { stats_ = DDPStats{}; }

}  // namespace tern::nn
