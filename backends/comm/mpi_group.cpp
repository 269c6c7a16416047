// ProcessGroup on MPI, for CPU tensors. MPI is initialised on first use (FUNNELED: only the thread that runs
// tern's ops calls MPI; OpenMP's workers never do) and finalised when the process exits normally. The group
// works on a duplicate of MPI_COMM_WORLD whose errors return instead of aborting, so a failed call becomes a
// tern::Error naming the collective and the rank.

#include <mpi.h>

#include <climits>
#include <cstdlib>
#include <string>

#include <tern/autograd/grad_mode.h>
#include <tern/backends/comm/groups.h>
#include <tern/core/error.h>

namespace tern::dist::detail {

namespace {

int world_rank() {
  int r = -1;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}

void check_mpi(int rc, const char* op) {
  if (rc == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  TERN_FAIL(op, "MPI failed on rank ", world_rank(), ": ", std::string(msg, static_cast<size_t>(len)));
}

// Finalises MPI at normal exit when tern initialised it (a program that called MPI_Init itself finalises too).
struct MpiRuntime {
  bool owned = false;
  ~MpiRuntime() {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (owned && !finalized) MPI_Finalize();
  }
};
MpiRuntime g_runtime;

}  // namespace

void mpi_init() {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (initialized) return;
  int provided = 0;
  check_mpi(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "mpi");
  g_runtime.owned = true;
  TERN_CHECK(provided >= MPI_THREAD_FUNNELED, "mpi", "the MPI library offers no MPI_THREAD_FUNNELED support");
}

namespace {

MPI_Datatype mpi_type(DType t, const char* op) {
  switch (t) {
    case DType::f32:
      return MPI_FLOAT;
    case DType::f64:
      return MPI_DOUBLE;
    case DType::i32:
      return MPI_INT32_T;
    case DType::i64:
      return MPI_INT64_T;
    case DType::u8:
      return MPI_UINT8_T;
    case DType::i8:
      return MPI_INT8_T;
    default:
      TERN_FAIL(op, "MPI process group: dtype ", t, " is not supported (f32, f64, i32, i64, i8, u8)");
  }
}

int count_of(const Tensor& t, const char* op) {
  TERN_CHECK(t.defined(), op, "undefined tensor");
  TERN_CHECK(t.device() == kCPU, op, "the MPI process group takes CPU tensors; got one on ", t.device());
  TERN_CHECK(t.is_contiguous(), op, "the tensor must be contiguous");
  TERN_CHECK(t.numel() <= INT_MAX, op, "tensors of more than ", INT_MAX, " elements are not supported, got ",
             t.numel());
  return static_cast<int>(t.numel());
}

void check_avg(const Tensor& t, ReduceOp op, const char* where) {
  TERN_CHECK(op != ReduceOp::avg || t.dtype() == DType::f32 || t.dtype() == DType::f64, where,
             "avg needs a floating-point tensor, got ", t.dtype());
}

// MPI has no mean: sum, then scale. For 2^k ranks the scale is exact.
void scale_for_avg(Tensor& t, ReduceOp op, int size) {
  if (op != ReduceOp::avg || size == 1) return;
  NoGradGuard ng;
  t.mul_(1.0 / static_cast<double>(size));
}

class MpiWork final : public Work {
 public:
  MpiWork(MPI_Request req, Tensor t, ReduceOp op, int size) : req_(req), t_(std::move(t)), op_(op), size_(size) {}
  ~MpiWork() override {
    // Abandoning a collective in flight would let MPI write into freed memory; finish it first.
    if (req_ != MPI_REQUEST_NULL) MPI_Wait(&req_, MPI_STATUS_IGNORE);
  }
  void wait() override {
    if (done_) return;
    check_mpi(MPI_Wait(&req_, MPI_STATUS_IGNORE), "all_reduce");
    finish();
  }
  bool test() override {
    if (done_) return true;
    int flag = 0;
    check_mpi(MPI_Test(&req_, &flag, MPI_STATUS_IGNORE), "all_reduce");
    if (flag) finish();
    return done_;
  }

 private:
  void finish() {
    done_ = true;
    scale_for_avg(t_, op_, size_);
  }
  MPI_Request req_;
  Tensor t_;
  ReduceOp op_;
  int size_;
  bool done_ = false;
};

class MpiProcessGroup final : public ProcessGroup {
 public:
  MpiProcessGroup() {
    mpi_init();
    check_mpi(MPI_Comm_dup(MPI_COMM_WORLD, &comm_), "mpi");
    check_mpi(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN), "mpi");
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
    MPI_Comm node;
    check_mpi(MPI_Comm_split_type(comm_, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node), "mpi");
    MPI_Comm_rank(node, &local_rank_);
    MPI_Comm_free(&node);
  }
  ~MpiProcessGroup() override {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Comm_free(&comm_);
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_rank() const override { return local_rank_; }
  std::string backend() const override { return "mpi"; }

  void all_reduce(Tensor& t, ReduceOp op) override {
    const int n = count_of(t, "all_reduce");
    check_avg(t, op, "all_reduce");
    check_mpi(MPI_Allreduce(MPI_IN_PLACE, t.raw_data(), n, mpi_type(t.dtype(), "all_reduce"), MPI_SUM, comm_),
              "all_reduce");
    scale_for_avg(t, op, size_);
  }

  std::unique_ptr<Work> all_reduce_async(Tensor& t, ReduceOp op) override {
    const int n = count_of(t, "all_reduce");
    check_avg(t, op, "all_reduce");
    MPI_Request req = MPI_REQUEST_NULL;
    check_mpi(MPI_Iallreduce(MPI_IN_PLACE, t.raw_data(), n, mpi_type(t.dtype(), "all_reduce"), MPI_SUM, comm_, &req),
              "all_reduce");
    return std::make_unique<MpiWork>(req, t, op, size_);
  }

  void broadcast(Tensor& t, int root) override {
    const int n = count_of(t, "broadcast");
    TERN_CHECK(root >= 0 && root < size_, "broadcast", "root ", root, " is not a rank of ", size_);
    check_mpi(MPI_Bcast(t.raw_data(), n, mpi_type(t.dtype(), "broadcast"), root, comm_), "broadcast");
  }

  Tensor all_gather(const Tensor& t) override {
    const int n = count_of(t, "all_gather");
    TERN_CHECK(t.dim() >= 1, "all_gather", "needs at least one dimension");
    Shape shape = t.shape();
    shape[0] *= size_;
    Tensor out = empty(shape, {.dtype = t.dtype()});
    const MPI_Datatype type = mpi_type(t.dtype(), "all_gather");
    check_mpi(MPI_Allgather(t.raw_data(), n, type, out.raw_data(), n, type, comm_), "all_gather");
    return out;
  }

  Tensor reduce_scatter(const Tensor& t, ReduceOp op) override {
    const int n = count_of(t, "reduce_scatter");
    check_avg(t, op, "reduce_scatter");
    TERN_CHECK(t.dim() >= 1 && t.size(0) % size_ == 0, "reduce_scatter", "the first dimension (",
               t.dim() >= 1 ? t.size(0) : 0, ") must divide among ", size_, " ranks");
    Shape shape = t.shape();
    shape[0] /= size_;
    Tensor out = empty(shape, {.dtype = t.dtype()});
    check_mpi(MPI_Reduce_scatter_block(t.raw_data(), out.raw_data(), n / size_, mpi_type(t.dtype(), "reduce_scatter"),
                                       MPI_SUM, comm_),
              "reduce_scatter");
    scale_for_avg(out, op, size_);
    return out;
  }

  void barrier() override { check_mpi(MPI_Barrier(comm_), "barrier"); }

 private:
  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1, local_rank_ = 0;
};

}  // namespace

std::shared_ptr<ProcessGroup> make_mpi_process_group() { return std::make_shared<MpiProcessGroup>(); }

bool mpi_built() { return true; }

std::string mpi_version() {
  char v[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0;
  MPI_Get_library_version(v, &len);
  std::string s(v, static_cast<size_t>(len));
  // "Open MPI v4.1.4, package: ..., repo rev: ...": the name and version are enough.
  if (const auto end = s.find_first_of(",\r\n"); end != std::string::npos) s.resize(end);
  return s;
}

void mpi_abort(int code) {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (!initialized || finalized) return;
  int size = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (size > 1) MPI_Abort(MPI_COMM_WORLD, code);
}

}  // namespace tern::dist::detail
