// numpy and DLPack, zero-copy both ways. A tensor handed out keeps its storage alive through
// a capsule holding a Tensor handle; an array taken in keeps its producer alive through the
// tensor's Storage owner, released under the GIL.
#include <nanobind/ndarray.h>
#include <nanobind/stl/optional.h>

#include "bindings.h"

namespace tern::py {
namespace {

namespace dl = nb::dlpack;

dl::dtype dl_dtype(DType t) {
  auto make = [](dl::dtype_code c, int bits) {
    return dl::dtype{static_cast<uint8_t>(c), static_cast<uint8_t>(bits), 1};
  };
  switch (t) {
    case DType::f32:
      return make(dl::dtype_code::Float, 32);
    case DType::f64:
      return make(dl::dtype_code::Float, 64);
    case DType::f16:
      return make(dl::dtype_code::Float, 16);
    case DType::bf16:
      return make(dl::dtype_code::Bfloat, 16);
    case DType::i8:
      return make(dl::dtype_code::Int, 8);
    case DType::u8:
      return make(dl::dtype_code::UInt, 8);
    case DType::i32:
      return make(dl::dtype_code::Int, 32);
    case DType::i64:
      return make(dl::dtype_code::Int, 64);
    case DType::boolean:
      return make(dl::dtype_code::Bool, 8);
  }
  TERN_FAIL("dlpack", "unknown dtype");
}

DType tern_dtype(dl::dtype d, const char* where) {
  using C = dl::dtype_code;
  const auto code = static_cast<C>(d.code);
  if (d.lanes == 1) {
    if (code == C::Float && d.bits == 32) return kFloat32;
    if (code == C::Float && d.bits == 64) return kFloat64;
    if (code == C::Float && d.bits == 16) return kFloat16;
    if (code == C::Bfloat && d.bits == 16) return kBFloat16;
    if (code == C::Int && d.bits == 8) return kInt8;
    if (code == C::UInt && d.bits == 8) return kUInt8;
    if (code == C::Int && d.bits == 32) return kInt32;
    if (code == C::Int && d.bits == 64) return kInt64;
    if (code == C::Bool && d.bits == 8) return kBool;
  }
  TERN_FAIL(where, "no tern dtype for DLPack type code ", int(d.code), " with ", int(d.bits), " bits and ",
            int(d.lanes), " lanes");
}

// The tensor's memory, described for a consumer; the capsule keeps a handle to it.
template <typename... Framework>
nb::ndarray<Framework...> export_tensor(const Tensor& t) {
  std::vector<size_t> shape(t.shape().begin(), t.shape().end());
  std::vector<int64_t> strides(t.strides().begin(), t.strides().end());
  auto* keep = new Tensor(t);
  nb::capsule owner(keep, [](void* p) noexcept { delete static_cast<Tensor*>(p); });
  const Device dev = t.device();
  return nb::ndarray<Framework...>(t.numel() ? t.raw_data() : nullptr, shape.size(), shape.data(), owner,
                                   strides.data(), dl_dtype(t.dtype()),
                                   dev.is_cpu() ? nb::device::cpu::value : nb::device::cuda::value, dev.index);
}

using AnyArray = nb::ndarray<nb::ro>;

Tensor import_array(const AnyArray& a, const char* where) {
  const DType dtype = tern_dtype(a.dtype(), where);
  Device device;
  if (a.device_type() == nb::device::cpu::value)
    device = kCPU;
  else if (a.device_type() == nb::device::cuda::value)
    device = cuda(a.device_id());
  else
    TERN_FAIL(where, "DLPack device type ", a.device_type(), " is neither the CPU nor CUDA");
  Shape shape(a.ndim());
  Strides strides(a.ndim());
  for (size_t i = 0; i < a.ndim(); ++i) {
    shape[i] = static_cast<int64_t>(a.shape(i));
    strides[i] = a.stride(i);
    TERN_CHECK(strides[i] >= 0 || shape[i] <= 1, where, "negative strides are not supported; pass a copy");
    if (shape[i] <= 1) strides[i] = std::max<int64_t>(strides[i], 0);
  }
  auto* keep = new AnyArray(a);
  std::shared_ptr<void> owner(keep, [](void* p) {
    if (!Py_IsInitialized()) return;  // interpreter gone: the producer's memory went with it
    nb::gil_scoped_acquire locked;
    delete static_cast<AnyArray*>(p);
  });
  return from_blob(const_cast<void*>(a.data()), shape, dtype, std::move(owner), device, strides);
}

nb::object to_numpy(const Tensor& t) {
  TERN_CHECK(t.device().is_cpu(), "numpy", "the tensor is on ", t.device(), "; move it with .cpu() first");
  TERN_CHECK(t.dtype() != kBFloat16, "numpy", "numpy has no bfloat16; convert with .to(tern.float32) first");
  return nb::cast(export_tensor<nb::numpy>(t));
}

}  // namespace

void bind_interop(nb::module_& m) {
  nb::handle cls = m.attr("Tensor");
  nb::cpp_function_def(&to_numpy, nb::scope(cls), nb::name("numpy"), nb::is_method(),
                       "A numpy array sharing this tensor's memory (CPU only)");
  nb::cpp_function_def(
      [](const Tensor& t, nb::handle dtype, std::optional<bool> copy) {
        nb::object a = to_numpy(t);
        if (!dtype.is_none())
          a = a.attr("astype")(dtype, "copy"_a = copy.value_or(false));
        else if (copy.value_or(false))
          a = a.attr("copy")();
        return a;
      },
      nb::scope(cls), nb::name("__array__"), nb::is_method(), "dtype"_a = nb::none(), "copy"_a = nb::none());
  nb::cpp_function_def(
      [](const Tensor& t, nb::kwargs kw) {
        nb::object arr = nb::cast(export_tensor<nb::array_api>(t));
        return arr.attr("__dlpack__")(**kw);
      },
      nb::scope(cls), nb::name("__dlpack__"), nb::is_method(), "The DLPack capsule of this tensor (zero-copy)");
  nb::cpp_function_def(
      [](const Tensor& t) {
        const Device d = t.device();
        return nb::make_tuple(d.is_cpu() ? 1 : 2, d.index);
      },
      nb::scope(cls), nb::name("__dlpack_device__"), nb::is_method());
  m.def(
      "from_dlpack", [](AnyArray a) { return import_array(a, "from_dlpack"); }, "array"_a,
      "A tensor sharing the memory of any DLPack producer (numpy, torch, jax, cupy)");
  m.def(
      "_from_numpy", [](AnyArray a) { return import_array(a, "from_numpy"); }, "array"_a);
}

}  // namespace tern::py
