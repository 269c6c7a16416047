#include <tern/core/tensor.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ostream>
#include <sstream>

#include <tern/autograd/node.h>
#include <tern/backends/backend.h>
#include <tern/core/ops.h>
#include "ops/op_helpers.h"

namespace tern {

// Every element a view can address must lie inside its storage: a kernel trusts shape, strides and offset
// and would otherwise read or write past the buffer. tern never makes a view that runs backwards, so a negative
// stride is refused rather than bounds-checked.
static void check_extent(const Storage* storage, const Shape& shape, const Strides& strides, int64_t offset,
                         DType dtype) {
  TERN_CHECK(storage, "make_tensor", "null storage");
  TERN_CHECK(strides.size() == shape.size(), "make_tensor", "got ", strides.size(), " strides for shape ",
             shape_str(shape));
  TERN_CHECK(offset >= 0, "make_tensor", "negative offset ", offset);
  const int64_t n = checked_numel(shape, "make_tensor");
  const uint64_t capacity = storage->nbytes() / dtype_size(dtype);  // whole elements the storage holds
  if (n == 0) {
    TERN_CHECK(static_cast<uint64_t>(offset) <= capacity, "make_tensor", "offset ", offset,
               " is past the end of a storage of ", capacity, " ", dtype_name(dtype), " elements");
    return;
  }
  uint64_t last = static_cast<uint64_t>(offset);  // the highest element index the view reaches
  for (size_t i = 0; i < shape.size(); ++i) {
    TERN_CHECK(strides[i] >= 0 || shape[i] == 1, "make_tensor", "negative stride ", strides[i], " in dim ", i,
               " of shape ", shape_str(shape));
    if (shape[i] == 1) continue;
    const auto span = static_cast<uint64_t>(shape[i] - 1);
    const auto stride = static_cast<uint64_t>(strides[i]);
    TERN_CHECK(stride == 0 || span <= (capacity - std::min(last, capacity)) / stride, "make_tensor", "shape ",
               shape_str(shape), " with strides ", shape_str(strides), " and offset ", offset,
               " reaches outside a storage of ", capacity, " ", dtype_name(dtype), " elements");
    last += span * stride;
  }
  TERN_CHECK(last < capacity, "make_tensor", "shape ", shape_str(shape), " with strides ", shape_str(strides),
             " and offset ", offset, " reaches outside a storage of ", capacity, " ", dtype_name(dtype),
             " elements");
}

Tensor make_tensor(std::shared_ptr<Storage> storage, Shape shape, Strides strides, int64_t offset,
                   DType dtype) {
  check_extent(storage.get(), shape, strides, offset, dtype);
  return Tensor(std::make_shared<TensorImpl>(std::move(storage), std::move(shape),
                                             std::move(strides), offset, dtype));
}

Tensor empty(const Shape& shape, TensorOptions opts) {
  const int64_t n = checked_numel(shape, "empty");
  TERN_CHECK(static_cast<uint64_t>(n) <= (uint64_t{1} << 62) / dtype_size(opts.dtype), "empty",
             "shape ", shape_str(shape), " is too large");
  auto storage = std::make_shared<Storage>(static_cast<size_t>(n) * dtype_size(opts.dtype), opts.device);
  Tensor t = make_tensor(std::move(storage), shape, contiguous_strides(shape), 0, opts.dtype);
  if (opts.requires_grad) t.requires_grad_(true);
  return t;
}

int64_t Tensor::size(int64_t d) const { return shape()[wrap_dim(d, dim(), "size")]; }
int64_t Tensor::stride(int64_t d) const { return strides()[wrap_dim(d, dim(), "stride")]; }

bool Tensor::is_contiguous() const {
  int64_t expected = 1;
  for (int64_t i = dim() - 1; i >= 0; --i) {
    if (shape()[i] == 1) continue;
    if (strides()[i] != expected) return false;
    expected *= shape()[i];
  }
  return true;
}

void* Tensor::raw_data() const {
  return static_cast<char*>(storage()->data()) + offset() * static_cast<int64_t>(element_size());
}

double Tensor::item_double() const {
  TERN_CHECK(numel() == 1, "item", "tensor with ", numel(), " elements, shape ", shape_str(shape()),
             ", cannot be converted to a scalar");
  Tensor h = to(kCPU).to(kFloat64);
  return *h.data_ptr<double>();
}

int64_t Tensor::item_int64() const {
  TERN_CHECK(numel() == 1, "item", "tensor with ", numel(), " elements, shape ", shape_str(shape()),
             ", cannot be converted to a scalar");
  Tensor h = to(kCPU).to(kInt64);  // truncates, saturates and maps NaN to 0, with no UB
  return *h.data_ptr<int64_t>();
}

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  return clone();
}

Tensor Tensor::clone() const {
  Tensor out = empty(shape(), {.dtype = dtype(), .device = device()});
  backend_for(device(), "clone").copy(shape(), detail::arg(out), detail::arg(*this));
  autograd::record("clone", {*this}, out, [](const Tensor& g, const autograd::Node&) {
    return std::vector<Tensor>{g};
  });
  return out;
}
TERN_REGISTER_OP("clone");

Tensor Tensor::to(DType target) const {
  if (target == dtype()) return *this;
  Tensor out = empty(shape(), {.dtype = target, .device = device()});
  backend_for(device(), "to").copy(shape(), detail::arg(out), detail::arg(*this));
  if (is_floating(dtype()) && is_floating(target)) {
    const DType source = dtype();
    autograd::record("to_dtype", {*this}, out, [source](const Tensor& g, const autograd::Node&) {
      return std::vector<Tensor>{g.to(source)};
    });
  }
  return out;
}
TERN_REGISTER_OP("to_dtype");

Tensor Tensor::to(Device target) const {
  if (target == device()) return *this;
  backend_for(target, "to");  // an unavailable device fails here, named after this op
  Tensor src = contiguous();
  Tensor out = empty(shape(), {.dtype = dtype(), .device = target});
  if (target.is_cpu())
    backend_for(device(), "to").copy_to_host(out.raw_data(), src.raw_data(), nbytes());
  else if (device().is_cpu())
    backend_for(target, "to").copy_from_host(out.raw_data(), src.raw_data(), nbytes());
  else
    return to(kCPU).to(target);
  const Device source = device();
  autograd::record("to_device", {*this}, out, [source](const Tensor& g, const autograd::Node&) {
    return std::vector<Tensor>{g.to(source)};
  });
  return out;
}

Tensor& Tensor::requires_grad_(bool on) {
  TERN_CHECK(!on || is_floating(dtype()), "requires_grad_",
             "only floating-point tensors can require grad, got ", dtype());
  TERN_CHECK(is_leaf() || on, "requires_grad_",
             "cannot turn off requires_grad on a non-leaf tensor; use detach()");
  impl().autograd().requires_grad = on;
  return *this;
}

Tensor Tensor::grad() const {
  const auto& g = impl().autograd().grad;
  return g ? Tensor(g) : Tensor();
}

void Tensor::set_grad(const Tensor& g) const {
  if (!g.defined()) {
    impl().autograd().grad.reset();
    return;
  }
  TERN_CHECK(g.shape() == shape(), "set_grad", "gradient shape ", shape_str(g.shape()),
             " differs from tensor shape ", shape_str(shape()));
  TERN_CHECK(g.dtype() == dtype() && g.device() == device(), "set_grad", "gradient is ", g.dtype(),
             " on ", g.device(), " but tensor is ", dtype(), " on ", device());
  impl().autograd().grad = g.impl_ptr();
}

void Tensor::retain_grad() {
  TERN_CHECK(requires_grad(), "retain_grad", "tensor does not require grad");
  if (is_leaf()) return;  // leaves keep their grad anyway
  auto& meta = impl().autograd();
  meta.retains_grad = true;
  auto& retained = meta.grad_fn->retained();
  if (retained.size() <= meta.output_nr) retained.resize(meta.output_nr + 1);
  retained[meta.output_nr] = impl_;
}

void Tensor::set_data(const Tensor& src) {
  detail::check_defined(src, "set_data", "source");
  TERN_CHECK(is_leaf(), "set_data", "only leaf tensors can take new data");
  TERN_CHECK(!requires_grad() || is_floating(src.dtype()), "set_data", "a tensor that requires grad needs ",
             "floating-point data, got ", src.dtype());
  impl().set_data(src.storage(), src.shape(), src.strides(), src.offset(), src.dtype());
  impl().autograd().grad.reset();
}

Tensor Tensor::detach() const {
  return make_tensor(storage(), shape(), strides(), offset(), dtype());
}

void Tensor::backward(const Tensor& grad, bool retain_graph) const {
  TERN_CHECK(requires_grad(), "backward", "tensor does not require grad and has no grad_fn");
  Tensor g = grad;
  if (!g.defined()) {
    TERN_CHECK(numel() == 1, "backward", "grad can be implicitly created only for one-element ",
               "tensors, got shape ", shape_str(shape()));
    g = ones(shape(), {.dtype = dtype(), .device = device()});
  }
  TERN_CHECK(g.shape() == shape(), "backward", "gradient shape ", shape_str(g.shape()),
             " differs from tensor shape ", shape_str(shape()));
  autograd::run_backward({*this}, {g}, retain_graph);
}

Tensor& Tensor::copy_(const Tensor& src) {
  detail::check_defined(src, "copy_", "source");
  detail::begin_inplace("copy_", *this);
  Shape bs = broadcast_shapes(src.shape(), shape(), "copy_");
  TERN_CHECK(bs == shape(), "copy_", "source shape ", shape_str(src.shape()),
             " cannot be broadcast to ", shape_str(shape()));
  Tensor s = src.device() == device() ? src : src.to(device());
  backend_for(device(), "copy_").copy(shape(), detail::arg(*this), detail::broadcast_arg(s, shape()));
  return *this;
}

Tensor& Tensor::fill_(double value) {
  detail::begin_inplace("fill_", *this);
  backend_for(device(), "fill_").fill(shape(), detail::arg(*this), value);
  return *this;
}

namespace {

// self = self (op) other in place. Elementwise kernels read and write each element at
// the same position, so the output may alias the first input.
Tensor& inplace_binary(const char* op, BinaryOp bop, Tensor& self, const Tensor& other) {
  // Every check runs before begin_inplace bumps the version: a refused write changes nothing.
  detail::check_defined(other, op, "operand");
  detail::check_defined(self, op, "destination");
  detail::check_same_dtype(op, self, other);
  TERN_CHECK(self.dtype() != kBool && self.dtype() != kFloat16 && self.dtype() != kBFloat16, op, "no kernel for ",
             self.dtype());
  TERN_CHECK(broadcast_shapes(other.shape(), self.shape(), op) == self.shape(), op, "operand of shape ",
             shape_str(other.shape()), " cannot be broadcast to ", shape_str(self.shape()));
  Tensor o = other.device() == self.device() ? other : other.to(self.device());
  detail::begin_inplace(op, self);
  backend_for(self.device(), op).binary(bop, self.shape(), detail::arg(self), detail::arg(self),
                                        detail::broadcast_arg(o, self.shape()));
  return self;
}

}  // namespace

Tensor& Tensor::add_(const Tensor& other, double alpha) {
  if (alpha == 1.0) return inplace_binary("add_", BinaryOp::add, *this, other);
  Tensor scaled;
  {
    NoGradGuard ng;
    scaled = mul(other, alpha);
  }
  return inplace_binary("add_", BinaryOp::add, *this, scaled);
}

Tensor& Tensor::mul_(const Tensor& other) { return inplace_binary("mul_", BinaryOp::mul, *this, other); }

Tensor& Tensor::mul_(double s) {
  detail::check_defined(*this, "mul_", "destination");
  return inplace_binary("mul_", BinaryOp::mul, *this, scalar_tensor(s, dtype(), device()));
}

// ---- printing

namespace {

void print_rec(std::ostream& os, const Tensor& t, const double* data, int64_t dim, int64_t base,
               int indent, bool is_float, bool is_bool, int64_t edge, bool summarize, int width) {
  const int64_t n = t.shape()[dim];
  const int64_t stride = t.strides()[dim];
  os << '[';
  for (int64_t i = 0; i < n; ++i) {
    if (summarize && n > 2 * edge && i == edge) {
      os << "...";
      i = n - edge - 1;
      os << (dim + 1 == t.dim() ? ", " : ",\n" + std::string(indent + 1, ' '));
      continue;
    }
    if (dim + 1 == t.dim()) {
      const double v = data[base + i * stride];
      char buf[64];
      if (is_bool)
        std::snprintf(buf, sizeof buf, "%s", v != 0 ? "true" : "false");
      else if (is_float)
        std::snprintf(buf, sizeof buf, "%.4f", v);
      else
        std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(v));
      std::string s = buf;
      if (static_cast<int>(s.size()) < width) s = std::string(width - s.size(), ' ') + s;
      os << s;
    } else {
      print_rec(os, t, data, dim + 1, base + i * stride, indent + 1, is_float, is_bool, edge,
                summarize, width);
    }
    if (i + 1 < n) os << (dim + 1 == t.dim() ? ", " : ",\n" + std::string(indent + 1, ' '));
  }
  os << ']';
}

}  // namespace

std::ostream& operator<<(std::ostream& os, const Tensor& t) {
  if (!t.defined()) return os << "tensor(undefined)";
  NoGradGuard ng;
  Tensor h = t.to(kCPU).to(kFloat64).contiguous();
  const double* d = h.data_ptr<double>();
  const bool is_float = is_floating(t.dtype());
  const bool is_bool = t.dtype() == kBool;
  os << "tensor(";
  if (t.dim() == 0) {
    char buf[64];
    if (is_bool)
      std::snprintf(buf, sizeof buf, "%s", d[0] != 0 ? "true" : "false");
    else if (is_float)
      std::snprintf(buf, sizeof buf, "%.4f", d[0]);
    else
      std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(d[0]));
    os << buf;
  } else {
    int width = 1;
    for (int64_t i = 0; i < h.numel(); ++i) {
      char buf[64];
      if (is_bool)
        width = std::max(width, 5);
      else
        width = std::max(width, is_float ? std::snprintf(buf, sizeof buf, "%.4f", d[i])
                                         : std::snprintf(buf, sizeof buf, "%lld",
                                                         static_cast<long long>(d[i])));
    }
    print_rec(os, h, d, 0, 0, 7, is_float, is_bool, 3, h.numel() > 1000, width);
  }
  os << ", shape=" << shape_str(t.shape()) << ", dtype=" << t.dtype();
  if (!t.device().is_cpu()) os << ", device=" << t.device();
  if (t.requires_grad()) os << (t.grad_fn() ? ", grad_fn=" + t.grad_fn()->name() : ", requires_grad");
  return os << ')';
}

std::string to_string(const Tensor& t) {
  std::ostringstream os;
  os << t;
  return os.str();
}

}  // namespace tern
