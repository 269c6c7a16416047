#pragma once
// Tensor: a cheap, shared handle to a TensorImpl (storage + shape/strides/offset
// + dtype + autograd state). Copying a Tensor never copies data; views share storage.

#include <functional>
#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include <tern/core/device.h>
#include <tern/core/dtype.h>
#include <tern/core/error.h>
#include <tern/core/shape.h>
#include <tern/core/storage.h>

namespace tern {

namespace autograd {
class Node;
}

class Tensor;

struct AutogradMeta {
  bool requires_grad = false;
  bool retains_grad = false;
  std::shared_ptr<autograd::Node> grad_fn;  // null for leaves
  uint32_t output_nr = 0;                   // which output of grad_fn this is
  std::shared_ptr<class TensorImpl> grad;   // accumulated gradient
  std::weak_ptr<autograd::Node> grad_accumulator;
  // Leaves only: run after backward has added a gradient into `grad` (autograd/hooks.h).
  std::vector<std::pair<uint64_t, std::function<void(const Tensor& leaf)>>> post_accumulate_grad_hooks;
};

class TensorImpl {
 public:
  TensorImpl(std::shared_ptr<Storage> storage, Shape shape, Strides strides, int64_t offset,
             DType dtype)
      : storage_(std::move(storage)),
        shape_(std::move(shape)),
        strides_(std::move(strides)),
        offset_(offset),
        dtype_(dtype) {}

  const std::shared_ptr<Storage>& storage() const { return storage_; }
  const Shape& shape() const { return shape_; }
  const Strides& strides() const { return strides_; }
  int64_t offset() const { return offset_; }
  DType dtype() const { return dtype_; }
  AutogradMeta& autograd() { return autograd_; }
  // Points this impl at other data, keeping its identity (and autograd state).
  void set_data(std::shared_ptr<Storage> storage, Shape shape, Strides strides, int64_t offset, DType dtype) {
    storage_ = std::move(storage);
    shape_ = std::move(shape);
    strides_ = std::move(strides);
    offset_ = offset;
    dtype_ = dtype;
  }
  const AutogradMeta& autograd() const { return autograd_; }

 private:
  std::shared_ptr<Storage> storage_;
  Shape shape_;
  Strides strides_;
  int64_t offset_;  // in elements
  DType dtype_;
  AutogradMeta autograd_;
};

struct TensorOptions {
  DType dtype = DType::f32;
  Device device = kCPU;
  bool requires_grad = false;
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // ---- metadata
  bool defined() const { return static_cast<bool>(impl_); }
  const Shape& shape() const { return impl().shape(); }
  const Strides& strides() const { return impl().strides(); }
  int64_t dim() const { return static_cast<int64_t>(shape().size()); }
  int64_t size(int64_t d) const;
  int64_t stride(int64_t d) const;
  int64_t offset() const { return impl().offset(); }
  int64_t numel() const { return numel_of(shape()); }
  DType dtype() const { return impl().dtype(); }
  Device device() const { return impl().storage()->device(); }
  size_t element_size() const { return dtype_size(dtype()); }
  size_t nbytes() const { return static_cast<size_t>(numel()) * element_size(); }
  bool is_contiguous() const;
  const std::shared_ptr<Storage>& storage() const { return impl().storage(); }
  bool is_same(const Tensor& o) const { return impl_ == o.impl_; }
  TensorImpl& impl() const {
    TERN_CHECK(impl_, "tensor", "use of an undefined tensor");
    return *impl_;
  }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }

  // Pointer to the first element (offset applied). Checks T against dtype().
  void* raw_data() const;
  template <typename T>
  T* data_ptr() const {
    TERN_CHECK(dtype_v<T> == dtype(), "data_ptr", "requested ", dtype_name(dtype_v<T>),
               " but tensor is ", dtype());
    return static_cast<T*>(raw_data());
  }

  // The single value of a one-element tensor, converted to T.
  template <typename T>
  T item() const {
    if constexpr (std::is_integral_v<T>)
      return static_cast<T>(item_int64());
    else
      return static_cast<T>(item_double());
  }
  double item_double() const;
  int64_t item_int64() const;

  // ---- views (share storage)
  Tensor view(const Shape& shape) const;
  Tensor reshape(const Shape& shape) const;  // a view when possible, else a copy
  Tensor flatten(int64_t start_dim = 0, int64_t end_dim = -1) const;
  Tensor transpose(int64_t d0, int64_t d1) const;
  Tensor t() const;  // 2-D transpose
  Tensor permute(const std::vector<int64_t>& dims) const;
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  Tensor slice(int64_t dim, int64_t start, int64_t end, int64_t step = 1) const;
  Tensor select(int64_t dim, int64_t index) const;
  Tensor expand(const Shape& shape) const;
  Tensor squeeze(int64_t dim) const;
  Tensor squeeze() const;
  Tensor unsqueeze(int64_t dim) const;
  Tensor contiguous() const;  // self when already contiguous

  // ---- conversion
  Tensor to(DType dtype) const;
  Tensor to(Device device) const;
  Tensor clone() const;

  // ---- autograd
  bool requires_grad() const { return impl().autograd().requires_grad; }
  Tensor& requires_grad_(bool on = true);
  bool is_leaf() const { return !impl().autograd().grad_fn; }
  const std::shared_ptr<autograd::Node>& grad_fn() const { return impl().autograd().grad_fn; }
  Tensor grad() const;
  void set_grad(const Tensor& g) const;
  void zero_grad() const { impl().autograd().grad.reset(); }
  void retain_grad();
  bool retains_grad() const { return impl().autograd().retains_grad; }
  // Makes every handle to this tensor see `src`'s data, shape and dtype, as when
  // a module moves its parameters to another device or dtype. Leaves only.
  void set_data(const Tensor& src);
  // A tensor sharing storage but outside the graph.
  Tensor detach() const;
  // Backward from this tensor. Without `grad` it must hold one element.
  void backward(const Tensor& grad = Tensor(), bool retain_graph = false) const;

  // ---- in-place (refused on tensors that need grad while grad mode is on)
  Tensor& copy_(const Tensor& src);
  Tensor& fill_(double value);
  Tensor& zero_() { return fill_(0.0); }
  Tensor& add_(const Tensor& other, double alpha = 1.0);
  Tensor& mul_(const Tensor& other);
  Tensor& mul_(double s);

 private:
  std::shared_ptr<TensorImpl> impl_;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);
std::string to_string(const Tensor& t);

// Raw tensor construction from parts; used by ops and backends.
Tensor make_tensor(std::shared_ptr<Storage> storage, Shape shape, Strides strides, int64_t offset,
                   DType dtype);
// Fresh, uninitialised, contiguous.
Tensor empty(const Shape& shape, TensorOptions opts = {});

}  // namespace tern
