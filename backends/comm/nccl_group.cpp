// ProcessGroup on NCCL, for CUDA tensors: one GPU per rank, cuda:local_rank. The group bootstraps over MPI (rank 0
// makes the ncclUniqueId and MPI_Bcast hands it to the others, as llm.c does); after that MPI is not used.
//
// libnccl is opened with dlopen when the first group is made, not linked: libtern then loads, as with its static
// CUDA runtime, on machines without the library, and only a program that asks for "nccl" needs it. The soname is
// tried first (the library path of the machine that runs tern), then the library CMake found (TERN_NCCL_LIBRARY).
//
// Streams: the CUDA backend queues its kernels, copies and allocations on the legacy default stream, so
// the collectives go there too. Stream order then puts every collective after the work that wrote its tensor and
// before any later read, including the copy back to the host; no collective blocks the host except barrier().

#include <cuda_runtime.h>
#include <dlfcn.h>
#include <mpi.h>
#include <nccl.h>

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

#include <tern/backends/backend.h>
#include <tern/backends/comm/groups.h>
#include <tern/core/error.h>

namespace tern::dist::detail {

namespace {

// The stream of the CUDA backend: the legacy default stream (see the top of the file).
const cudaStream_t kStream = nullptr;

// The functions tern calls, resolved from libnccl by name.
struct NcclApi {
  decltype(&ncclGetVersion) GetVersion = nullptr;
  decltype(&ncclGetErrorString) GetErrorString = nullptr;
  decltype(&ncclGetLastError) GetLastError = nullptr;
  decltype(&ncclGetUniqueId) GetUniqueId = nullptr;
  decltype(&ncclCommInitRank) CommInitRank = nullptr;
  decltype(&ncclCommDestroy) CommDestroy = nullptr;
  decltype(&ncclAllReduce) AllReduce = nullptr;
  decltype(&ncclBroadcast) Broadcast = nullptr;
  decltype(&ncclAllGather) AllGather = nullptr;
  decltype(&ncclReduceScatter) ReduceScatter = nullptr;
  int version = 0;
};

template <typename F>
void resolve(void* lib, const char* name, F& fn) {
  fn = reinterpret_cast<F>(dlsym(lib, name));
  TERN_CHECK(fn != nullptr, "nccl", "libnccl has no ", name, " (", TERN_NCCL_LIBRARY, ")");
}

NcclApi load_nccl() {
  void* lib = dlopen("libnccl.so.2", RTLD_NOW | RTLD_LOCAL);
  std::string why;
  if (!lib) {
    why = dlerror();
    lib = dlopen(TERN_NCCL_LIBRARY, RTLD_NOW | RTLD_LOCAL);
  }
  TERN_CHECK(lib != nullptr, "nccl", "cannot load libnccl.so.2 (", why, ") nor ", TERN_NCCL_LIBRARY, " (", dlerror(),
             "); install NCCL or add its lib directory to LD_LIBRARY_PATH");
  NcclApi api;
  resolve(lib, "ncclGetVersion", api.GetVersion);
  resolve(lib, "ncclGetErrorString", api.GetErrorString);
  // Only in NCCL 2.13 and later; error messages do without it.
  api.GetLastError = reinterpret_cast<decltype(api.GetLastError)>(dlsym(lib, "ncclGetLastError"));
  resolve(lib, "ncclGetUniqueId", api.GetUniqueId);
  resolve(lib, "ncclCommInitRank", api.CommInitRank);
  resolve(lib, "ncclCommDestroy", api.CommDestroy);
  resolve(lib, "ncclAllReduce", api.AllReduce);
  resolve(lib, "ncclBroadcast", api.Broadcast);
  resolve(lib, "ncclAllGather", api.AllGather);
  resolve(lib, "ncclReduceScatter", api.ReduceScatter);
  TERN_CHECK(api.GetVersion(&api.version) == ncclSuccess, "nccl", "ncclGetVersion failed");
  // ncclAvg and ncclBfloat16 arrived in NCCL 2.10.
  TERN_CHECK(api.version >= NCCL_VERSION(2, 10, 0), "nccl", "NCCL ", api.version,
             " is too old; tern needs 2.10 or newer");
  return api;
}

// Loaded once; a failed load throws and is tried again on the next call (a static whose initialiser throws).
const NcclApi& nccl() {
  static const NcclApi api = load_nccl();
  return api;
}

// The communicators alive at exit are destroyed by a handler that std::atexit registers once the first one exists,
// after libnccl was opened and the CUDA runtime started: handlers run in reverse order of registration, so it
// runs before either tears itself down. The process group, a static shared_ptr, would be destroyed after them.
std::mutex g_comms_mutex;
std::vector<ncclComm_t>& live_comms() {
  static std::vector<ncclComm_t> comms;
  return comms;
}
void destroy_live_comms() {
  std::lock_guard lock(g_comms_mutex);
  for (ncclComm_t c : live_comms()) nccl().CommDestroy(c);
  live_comms().clear();
}
void track_comm(ncclComm_t c) {
  std::lock_guard lock(g_comms_mutex);
  static const bool registered = std::atexit(destroy_live_comms) == 0;
  (void)registered;
  live_comms().push_back(c);
}
void destroy_comm(ncclComm_t c) {
  std::lock_guard lock(g_comms_mutex);
  auto& comms = live_comms();
  const auto it = std::find(comms.begin(), comms.end(), c);
  if (it == comms.end()) return;  // destroyed at exit already
  comms.erase(it);
  nccl().CommDestroy(c);
}

void check_nccl(ncclResult_t r, const char* op, int rank, ncclComm_t comm = nullptr) {
  if (r == ncclSuccess || r == ncclInProgress) return;
  const char* last = nccl().GetLastError ? nccl().GetLastError(comm) : nullptr;
  TERN_FAIL(op, "NCCL failed on rank ", rank, ": ", nccl().GetErrorString(r),
            last && *last ? std::string(" (") + last + ")" : std::string());
}

void check_cuda(cudaError_t err, const char* op, const char* what) {
  TERN_CHECK(err == cudaSuccess, op, what, ": ", cudaGetErrorString(err));
}

void check_mpi(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  TERN_FAIL("nccl", what, " failed: ", std::string(msg, static_cast<size_t>(len)));
}

ncclDataType_t nccl_type(DType t, const char* op) {
  switch (t) {
    case DType::f32:
      return ncclFloat32;
    case DType::f64:
      return ncclFloat64;
    case DType::f16:
      return ncclFloat16;
    case DType::bf16:
      return ncclBfloat16;
    case DType::i32:
      return ncclInt32;
    case DType::i64:
      return ncclInt64;
    case DType::i8:
      return ncclInt8;
    case DType::u8:
      return ncclUint8;
    default:
      TERN_FAIL(op, "NCCL process group: dtype ", t, " is not supported (f32, f64, f16, bf16, i32, i64, i8, u8)");
  }
}

ncclRedOp_t nccl_op(const Tensor& t, ReduceOp op, const char* where) {
  if (op == ReduceOp::sum) return ncclSum;
  const DType d = t.dtype();
  TERN_CHECK(d == DType::f32 || d == DType::f64 || d == DType::f16 || d == DType::bf16, where,
             "avg needs a floating-point tensor, got ", d);
  return ncclAvg;
}

// A collective queued on kStream, marked by an event recorded right after it.
class NcclWork final : public Work {
 public:
  NcclWork(Tensor t, int device) : t_(std::move(t)), device_(device) {
    check_cuda(cudaSetDevice(device_), "all_reduce", "cudaSetDevice");
    check_cuda(cudaEventCreateWithFlags(&event_, cudaEventDisableTiming), "all_reduce", "cudaEventCreate");
    const cudaError_t err = cudaEventRecord(event_, kStream);
    if (err != cudaSuccess) cudaEventDestroy(event_);
    check_cuda(err, "all_reduce", "cudaEventRecord");
  }
  // The tensor's memory stays safe without a wait here: the caching allocator hands a freed block out again only
  // to work that is queued after the collective on the same stream.
  ~NcclWork() override { cudaEventDestroy(event_); }

  // Orders the backend's stream after the collective; the host does not block. Everything tern does with the
  // tensor next, its copy to the host included, runs on that stream and so sees the result.
  void wait() override {
    check_cuda(cudaSetDevice(device_), "all_reduce", "cudaSetDevice");
    check_cuda(cudaStreamWaitEvent(kStream, event_, 0), "all_reduce", "cudaStreamWaitEvent");
  }
  bool test() override {
    const cudaError_t err = cudaEventQuery(event_);
    if (err == cudaErrorNotReady) return false;
    check_cuda(err, "all_reduce", "cudaEventQuery");
    return true;
  }

 private:
  Tensor t_;  // as the MPI group's Work does: the caller may drop its handle before wait()
  int device_;
  cudaEvent_t event_ = nullptr;
};

class NcclProcessGroup final : public ProcessGroup {
 public:
  NcclProcessGroup() {
    const NcclApi& api = nccl();
    const int gpus = cuda_device_count();
    TERN_CHECK(gpus > 0, "nccl",
               "no CUDA device is available; the NCCL process group needs one GPU per rank (the mpi backend takes "
               "CPU tensors)");
    mpi_init();
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    MPI_Comm node;
    check_mpi(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node),
              "MPI_Comm_split_type");
    MPI_Comm_rank(node, &local_rank_);
    MPI_Comm_free(&node);
    TERN_CHECK(local_rank_ < gpus, "nccl", "rank ", rank_, " is local rank ", local_rank_, " of its machine but only ",
               gpus, " GPU(s) are visible; NCCL needs one GPU per rank");
    device_ = local_rank_;
    // NCCL takes the current device of the calling thread for the communicator.
    check_cuda(cudaSetDevice(device_), "nccl", "cudaSetDevice");
    ncclUniqueId id{};
    if (rank_ == 0) check_nccl(api.GetUniqueId(&id), "nccl", rank_);
    check_mpi(MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, MPI_COMM_WORLD), "MPI_Bcast of the ncclUniqueId");
    check_nccl(api.CommInitRank(&comm_, size_, id, rank_), "nccl", rank_);
    track_comm(comm_);
  }
  ~NcclProcessGroup() override { destroy_comm(comm_); }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_rank() const override { return local_rank_; }
  std::string backend() const override { return "nccl"; }

  void all_reduce(Tensor& t, ReduceOp op) override {
    const size_t n = count_of(t, "all_reduce");
    check_nccl(nccl().AllReduce(t.raw_data(), t.raw_data(), n, nccl_type(t.dtype(), "all_reduce"),
                                nccl_op(t, op, "all_reduce"), comm_, kStream),
               "all_reduce", rank_, comm_);
  }

  std::unique_ptr<Work> all_reduce_async(Tensor& t, ReduceOp op) override {
    all_reduce(t, op);
    return std::make_unique<NcclWork>(t, device_);
  }

  void broadcast(Tensor& t, int root) override {
    const size_t n = count_of(t, "broadcast");
    TERN_CHECK(root >= 0 && root < size_, "broadcast", "root ", root, " is not a rank of ", size_);
    check_nccl(nccl().Broadcast(t.raw_data(), t.raw_data(), n, nccl_type(t.dtype(), "broadcast"), root, comm_, kStream),
               "broadcast", rank_, comm_);
  }

  Tensor all_gather(const Tensor& t) override {
    const size_t n = count_of(t, "all_gather");
    TERN_CHECK(t.dim() >= 1, "all_gather", "needs at least one dimension");
    Shape shape = t.shape();
    shape[0] *= size_;
    Tensor out = empty(shape, {.dtype = t.dtype(), .device = t.device()});
    check_nccl(nccl().AllGather(t.raw_data(), out.raw_data(), n, nccl_type(t.dtype(), "all_gather"), comm_, kStream),
               "all_gather", rank_, comm_);
    return out;
  }

  Tensor reduce_scatter(const Tensor& t, ReduceOp op) override {
    const size_t n = count_of(t, "reduce_scatter");
    TERN_CHECK(t.dim() >= 1 && t.size(0) % size_ == 0, "reduce_scatter", "the first dimension (",
               t.dim() >= 1 ? t.size(0) : 0, ") must divide among ", size_, " ranks");
    Shape shape = t.shape();
    shape[0] /= size_;
    Tensor out = empty(shape, {.dtype = t.dtype(), .device = t.device()});
    check_nccl(nccl().ReduceScatter(t.raw_data(), out.raw_data(), n / size_, nccl_type(t.dtype(), "reduce_scatter"),
                                    nccl_op(t, op, "reduce_scatter"), comm_, kStream),
               "reduce_scatter", rank_, comm_);
    return out;
  }

  // NCCL has no barrier: an all-reduce of one value, waited for on the host, returns only once every rank has
  // queued it and the work each queued before it has finished.
  void barrier() override {
    if (!token_.defined()) token_ = empty({1}, {.dtype = DType::f32, .device = cuda(device_)});
    check_cuda(cudaSetDevice(device_), "barrier", "cudaSetDevice");
    check_nccl(nccl().AllReduce(token_.raw_data(), token_.raw_data(), 1, ncclFloat32, ncclSum, comm_, kStream),
               "barrier", rank_, comm_);
    check_cuda(cudaStreamSynchronize(kStream), "barrier", "cudaStreamSynchronize");
  }

 private:
  size_t count_of(const Tensor& t, const char* op) const {
    TERN_CHECK(t.defined(), op, "undefined tensor");
    TERN_CHECK(t.device() == cuda(device_), op, "the NCCL process group of rank ", rank_, " takes tensors on ",
               cuda(device_), "; got one on ", t.device());
    TERN_CHECK(t.is_contiguous(), op, "the tensor must be contiguous");
    // The legacy default stream is the current device's: make it this group's.
    check_cuda(cudaSetDevice(device_), op, "cudaSetDevice");
    return static_cast<size_t>(t.numel());
  }

  ncclComm_t comm_ = nullptr;
  int rank_ = 0, size_ = 1, local_rank_ = 0, device_ = 0;
  Tensor token_;
};

}  // namespace

std::shared_ptr<ProcessGroup> make_nccl_process_group() { return std::make_shared<NcclProcessGroup>(); }

bool nccl_built() { return true; }

std::string nccl_version() {
  try {
    const int v = nccl().version;
    // NCCL_VERSION(X, Y, Z) is X·10000 + Y·100 + Z from 2.9 on.
    return "NCCL " + std::to_string(v / 10000) + "." + std::to_string(v / 100 % 100) + "." + std::to_string(v % 100);
  } catch (const Error& e) {
    return std::string("not loadable: ") + e.what();
  }
}

}  // namespace tern::dist::detail
