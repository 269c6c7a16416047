// Tensor-level safetensors reader (mmap, zero-copy views) and atomic writer. The byte-level
// rules live in safetensors_format.cpp.

#include <tern/core/io/safetensors.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>

#include <tern/autograd/grad_mode.h>
#include <tern/backends/backend.h>
#include <tern/core/error.h>
#include <tern/core/io/file.h>
#include <tern/core/ops.h>

namespace tern::io {

namespace {

std::string errno_str(int err) { return std::strerror(err); }

// An mmap'd file or an aligned heap copy; released when the last view lets go.
struct Mapping {
  void* addr = nullptr;
  size_t len = 0;
  bool mmapped = false;
  Mapping() = default;
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping() {
    if (!addr) return;
    if (mmapped)
      ::munmap(addr, len);
    else
      std::free(addr);
  }
};

struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// Opens a regular file for reading and returns its size. A FIFO or a device is refused before it is opened
// (opening a FIFO blocks until a writer appears), and O_NONBLOCK covers one swapped in between.
int open_regular(const std::string& path, uint64_t& size) {
  struct stat st {};
  TERN_CHECK(::stat(path.c_str(), &st) == 0, path, "cannot open: ", errno_str(errno));
  TERN_CHECK(S_ISREG(st.st_mode), path, "not a regular file (",
             S_ISDIR(st.st_mode)                           ? "a directory"
             : S_ISFIFO(st.st_mode)                        ? "a FIFO"
             : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "a device"
                                                           : "a socket",
             ")");
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  TERN_CHECK(fd >= 0, path, "cannot open: ", errno_str(errno));
  Fd guard(fd);
  TERN_CHECK(::fstat(fd, &st) == 0, path, "cannot stat: ", errno_str(errno));
  TERN_CHECK(S_ISREG(st.st_mode), path, "not a regular file");
  size = static_cast<uint64_t>(st.st_size);
  guard.fd = -1;
  return fd;
}

bool all_zero_or_one(const uint8_t* p, size_t n) {
  uint8_t acc = 0;
  for (size_t i = 0; i < n; ++i) acc |= p[i];
  return (acc & 0xFE) == 0;
}

}  // namespace

// ---------------------------------------------------------------- reading

SafetensorsFile SafetensorsFile::open(const std::string& path) {
  SafetensorsFile f;
  f.path_ = path;
  Fd fd(open_regular(path, f.size_));
  auto m = std::make_shared<Mapping>();
  if (f.size_ > 0) {
    // Private and writable: views may be written in place (copy-on-write, the file never
    // changes). MAP_NORESERVE keeps a huge checkpoint from being charged as swap. Where
    // that is refused, map read-only and copy instead of viewing.
    void* p = ::mmap(nullptr, f.size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE, fd.fd, 0);
    f.writable_ = p != MAP_FAILED;
    if (p == MAP_FAILED) p = ::mmap(nullptr, f.size_, PROT_READ, MAP_PRIVATE, fd.fd, 0);
    TERN_CHECK(p != MAP_FAILED, path, "cannot mmap ", f.size_, " bytes: ", errno_str(errno));
    m->addr = p;
    m->len = f.size_;
    m->mmapped = true;
  }
  f.base_ = static_cast<const uint8_t*>(m->addr);
  f.mapping_ = std::move(m);
  f.init();
  return f;
}

SafetensorsFile SafetensorsFile::from_bytes(const void* data, size_t size, const std::string& label) {
  SafetensorsFile f;
  f.path_ = label;
  f.size_ = size;
  auto m = std::make_shared<Mapping>();
  if (size > 0) {
    const size_t rounded = (size + kCpuAlignment - 1) / kCpuAlignment * kCpuAlignment;
    m->addr = std::aligned_alloc(kCpuAlignment, rounded);
    TERN_CHECK(m->addr, label, "out of memory copying ", size, " bytes");
    std::memcpy(m->addr, data, size);
    m->len = size;
  }
  f.base_ = static_cast<const uint8_t*>(m->addr);
  f.mapping_ = std::move(m);
  f.writable_ = true;
  f.init();
  return f;
}

void SafetensorsFile::init() {
  header_ = parse_header(base_, size_, path_);
}

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> out;
  out.reserve(header_.tensors.size());
  for (const auto& t : header_.tensors) out.push_back(t.name);
  return out;
}

std::vector<std::string> SafetensorsFile::sorted_names() const {
  std::vector<std::string> out = names();
  std::sort(out.begin(), out.end());
  return out;
}

const TensorInfo& SafetensorsFile::info(const std::string& name) const {
  const TensorInfo* t = header_.find(name);
  TERN_CHECK(t, path_, "no tensor named '", name, "' (the file has ", header_.tensors.size(), ")");
  return *t;
}

std::span<const uint8_t> SafetensorsFile::raw_bytes(const std::string& name) const {
  const TensorInfo& t = info(name);
  return {data_of(t), static_cast<size_t>(t.nbytes())};
}

bool SafetensorsFile::can_view(const std::string& name) const {
  const TensorInfo& t = info(name);
  const auto dt = to_tern_dtype(t.dtype);
  if (!dt || !writable_) return false;
  if (reinterpret_cast<uintptr_t>(data_of(t)) % dtype_size(*dt) != 0) return false;
  return *dt != DType::boolean || all_zero_or_one(data_of(t), t.nbytes());
}

Tensor SafetensorsFile::copy_tensor(const TensorInfo& t, DType dtype) const {
  Tensor out = empty(t.shape, {.dtype = dtype});
  const size_t n = static_cast<size_t>(t.nbytes());
  if (n == 0) return out;
  auto* dst = static_cast<uint8_t*>(out.raw_data());
  std::memcpy(dst, data_of(t), n);
  if (dtype == DType::boolean)
    for (size_t i = 0; i < n; ++i) dst[i] = dst[i] != 0;
  return out;
}

Tensor SafetensorsFile::tensor(const std::string& name) const {
  const TensorInfo& t = info(name);
  const auto dt = to_tern_dtype(t.dtype);
  TERN_CHECK(dt, path_, "tensor '", name, "' has dtype ", dtype_name(t.dtype),
             ", which tern cannot compute with; read its bytes with raw_bytes()");
  if (!can_view(name)) return copy_tensor(t, *dt);
  return from_blob(const_cast<uint8_t*>(data_of(t)), t.shape, *dt, mapping_, kCPU);
}

Tensor SafetensorsFile::tensor(const std::string& name, DType dtype, Device device) const {
  const TensorInfo& t = info(name);
  const auto dt = to_tern_dtype(t.dtype);
  TERN_CHECK(dt, path_, "tensor '", name, "' has dtype ", dtype_name(t.dtype),
             ", which tern cannot convert; read its bytes with raw_bytes()");
  NoGradGuard no_grad;
  if (*dt == dtype && device.is_cpu()) return copy_tensor(t, dtype);
  Tensor src = tensor(name);  // a view, or already a copy
  Tensor out = src.to(dtype).to(device);
  if (out.storage() == src.storage()) out = out.clone();
  return out;
}

std::map<std::string, Tensor> SafetensorsFile::views() const {
  std::map<std::string, Tensor> out;
  for (const TensorInfo& t : header_.tensors)
    if (to_tern_dtype(t.dtype)) out.emplace(t.name, tensor(t.name));
  return out;
}

bool SafetensorsFile::release(const Tensor& view) const {
  if (!view.defined() || !view.device().is_cpu() || !view.storage() || !base_) return false;
  const auto* storage = static_cast<const uint8_t*>(view.storage()->data());
  if (storage < base_ || storage + view.storage()->nbytes() > base_ + size_) return false;
  if (view.numel() == 0) return true;
  int64_t last_element = 0;  // the view's extent in its storage (views here have non-negative strides)
  for (int64_t d = 0; d < view.dim(); ++d) last_element += (view.size(d) - 1) * std::max<int64_t>(view.stride(d), 0);
  const auto es = static_cast<int64_t>(view.element_size());
  const uint8_t* begin = storage + view.offset() * es;
  const uint8_t* end = begin + (last_element + 1) * es;
  // Whole pages only: the ones at either end may hold a neighbour's bytes.
  const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t first = (reinterpret_cast<uintptr_t>(begin) + page - 1) / page * page;
  const uintptr_t last = reinterpret_cast<uintptr_t>(end) / page * page;
  if (last > first) ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
  return true;
}

Tensor SafetensorsFile::bytes(const std::string& name) const {
  const TensorInfo& t = info(name);
  const auto n = static_cast<int64_t>(t.nbytes());
  if (writable_ && n > 0) return from_blob(const_cast<uint8_t*>(data_of(t)), {n}, DType::u8, mapping_, kCPU);
  Tensor out = empty({n}, {.dtype = DType::u8});
  if (n > 0) std::memcpy(out.raw_data(), data_of(t), static_cast<size_t>(n));
  return out;
}

namespace {

// pread exactly n bytes at `offset`, or fail naming the file.
void read_exact(int fd, void* dst, size_t n, uint64_t offset, const std::string& where) {
  auto* p = static_cast<uint8_t*>(dst);
  while (n > 0) {
    const ssize_t r = ::pread(fd, p, std::min<size_t>(n, size_t{1} << 30), static_cast<off_t>(offset));
    if (r < 0 && errno == EINTR) continue;
    TERN_CHECK(r >= 0, where, "cannot read: ", errno_str(errno));
    TERN_CHECK(r > 0, where, "the file was truncated while it was being read");
    p += r;
    n -= static_cast<size_t>(r);
    offset += static_cast<uint64_t>(r);
  }
}

// load(copy): the header is read and validated, then every tensor is read with pread
// straight into memory of its own, in chunks spread over tern's CPU threads. No mapping is
// made, so nothing is faulted in twice, and a file cut short while being read is an error
// rather than a SIGBUS.
Checkpoint load_copies(const std::string& path, const LoadOptions& options) {
  uint64_t size = 0;
  Fd fd(open_regular(path, size));
  uint8_t first[8] = {};
  read_exact(fd.fd, first, static_cast<size_t>(std::min<uint64_t>(size, 8)), 0, path);
  const uint64_t n = header_length(first, size, path);
  std::vector<uint8_t> head(static_cast<size_t>(8 + n));
  read_exact(fd.fd, head.data(), head.size(), 0, path);
  const Header header = parse_header_prefix(head.data(), head.size(), size, path);
  ::posix_fadvise(fd.fd, 0, 0, POSIX_FADV_SEQUENTIAL);

  struct Chunk {
    uint8_t* dst;
    uint64_t offset;
    size_t len;
  };
  constexpr size_t kChunk = size_t{8} << 20;
  std::vector<Chunk> chunks;
  std::vector<std::pair<const TensorInfo*, Tensor>> raw;  // in the file's dtype, on the CPU
  raw.reserve(header.tensors.size());
  for (const TensorInfo& t : header.tensors) {
    const auto dt = to_tern_dtype(t.dtype);
    Tensor x = dt ? empty(t.shape, {.dtype = *dt}) : empty({static_cast<int64_t>(t.nbytes())}, {.dtype = DType::u8});
    auto* dst = static_cast<uint8_t*>(t.nbytes() ? x.raw_data() : nullptr);
    for (uint64_t done = 0; done < t.nbytes(); done += kChunk)
      chunks.push_back({dst + done, header.data_start() + t.begin + done,
                        static_cast<size_t>(std::min<uint64_t>(kChunk, t.nbytes() - done))});
    raw.emplace_back(&t, std::move(x));
  }
  std::atomic<int> failed_errno{0};
  std::atomic<bool> truncated{false};
  const auto count = static_cast<int64_t>(chunks.size());
#pragma omp parallel for schedule(dynamic, 1) num_threads(std::max(1, num_threads())) if (count > 1)
  for (int64_t i = 0; i < count; ++i) {
    Chunk c = chunks[static_cast<size_t>(i)];
    while (c.len > 0 && !failed_errno.load(std::memory_order_relaxed) && !truncated.load(std::memory_order_relaxed)) {
      const ssize_t r = ::pread(fd.fd, c.dst, c.len, static_cast<off_t>(c.offset));
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) {
        failed_errno = errno;
      } else if (r == 0) {
        truncated = true;
      } else {
        c.dst += r;
        c.offset += static_cast<uint64_t>(r);
        c.len -= static_cast<size_t>(r);
      }
    }
  }
  TERN_CHECK(!failed_errno, path, "cannot read: ", errno_str(failed_errno));
  TERN_CHECK(!truncated, path, "the file was truncated while it was being read");

  Checkpoint out;
  out.metadata = header.metadata;
  NoGradGuard no_grad;
  for (auto& [t, x] : raw) {
    if (!to_tern_dtype(t->dtype)) {
      out.raw.emplace(t->name, RawEntry{t->dtype, t->shape, std::move(x)});
      continue;
    }
    if (x.dtype() == DType::boolean) {
      auto* p = static_cast<uint8_t*>(x.raw_data());
      for (size_t i = 0; i < t->nbytes(); ++i) p[i] = p[i] != 0;
    }
    Tensor y = options.dtype ? x.to(*options.dtype) : x;
    out.tensors.emplace(t->name, y.to(options.device));
  }
  return out;
}

}  // namespace

Checkpoint load(const std::string& path, const LoadOptions& options) {
  if (options.copy || options.dtype || !options.device.is_cpu()) return load_copies(path, options);
  const SafetensorsFile f = SafetensorsFile::open(path);
  Checkpoint out;
  out.metadata = f.metadata();
  for (const TensorInfo& t : f.tensors()) {
    if (to_tern_dtype(t.dtype)) out.tensors.emplace(t.name, f.tensor(t.name));
    else out.raw.emplace(t.name, RawEntry{t.dtype, t.shape, f.bytes(t.name)});
  }
  return out;
}

// ---------------------------------------------------------------- writing

namespace {

// The safetensors file, atomically (core/io/file.h).
void write_atomically(const std::string& path, const WritePlan& plan) {
  AtomicFile f(path, path);
  f.write(plan.prefix_and_header.data(), plan.prefix_and_header.size());
  for (const RawTensor* t : plan.order) f.write(t->data, t->nbytes);
  f.commit();
}

}  // namespace

void save_raw(const std::string& path, const std::vector<RawTensor>& tensors, const Metadata& metadata) {
  write_atomically(path, plan_write(tensors, metadata, path));
}

namespace {

// Tensors as the writer takes them: host, contiguous copies (where needed) kept in `hold`.
class RawList {
 public:
  RawList(const std::string& path, size_t n) : path_(path) {
    hold_.reserve(n);
    raw_.reserve(n);
  }
  void add(const std::string& name, const Tensor& t, std::optional<SafetensorsDType> as = std::nullopt,
           const Shape& shape = {}) {
    TERN_CHECK(t.defined(), path_, "tensor '", name, "' is undefined");
    Tensor c = t.to(kCPU).contiguous();
    raw_.push_back({name, as ? *as : to_safetensors_dtype(c.dtype()), as ? shape : c.shape(),
                    c.numel() ? c.raw_data() : nullptr, c.nbytes()});
    hold_.push_back(std::move(c));
  }
  const std::vector<RawTensor>& raw() const { return raw_; }

 private:
  const std::string& path_;
  std::vector<Tensor> hold_;
  std::vector<RawTensor> raw_;
};

}  // namespace

void save(const std::string& path, std::span<const std::pair<std::string, Tensor>> tensors,
          const Metadata& metadata) {
  NoGradGuard no_grad;
  RawList list(path, tensors.size());
  for (const auto& [name, t] : tensors) list.add(name, t);
  save_raw(path, list.raw(), metadata);
}

void save(const std::string& path, const Checkpoint& checkpoint) {
  NoGradGuard no_grad;
  RawList list(path, checkpoint.tensors.size() + checkpoint.raw.size());
  for (const auto& [name, t] : checkpoint.tensors) list.add(name, t);
  for (const auto& [name, e] : checkpoint.raw) {
    TERN_CHECK(e.bytes.defined() && e.bytes.dtype() == DType::u8 && e.bytes.dim() == 1, path, "raw entry '", name,
               "' must hold its bytes as a 1-D u8 tensor");
    list.add(name, e.bytes, e.dtype, e.shape);
  }
  save_raw(path, list.raw(), checkpoint.metadata);  // plan_write refuses a name in both maps
}

void save(const std::string& path, const std::map<std::string, Tensor>& tensors, const Metadata& metadata) {
  std::vector<std::pair<std::string, Tensor>> list(tensors.begin(), tensors.end());
  save(path, std::span<const std::pair<std::string, Tensor>>(list), metadata);
}

}  // namespace tern::io
