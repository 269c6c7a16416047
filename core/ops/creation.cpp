#include <cmath>
#include <cstring>

#include "op_helpers.h"

namespace tern {

Tensor zeros(const Shape& shape, TensorOptions opts) { return full(shape, 0.0, opts); }
Tensor ones(const Shape& shape, TensorOptions opts) { return full(shape, 1.0, opts); }

Tensor full(const Shape& shape, double value, TensorOptions opts) {
  const bool rg = opts.requires_grad;
  opts.requires_grad = false;
  Tensor t = empty(shape, opts);
  backend_for(opts.device, "full").fill(shape, detail::arg(t), value);
  if (rg) t.requires_grad_(true);
  return t;
}

Tensor zeros_like(const Tensor& t) { return zeros(t.shape(), {.dtype = t.dtype(), .device = t.device()}); }
Tensor ones_like(const Tensor& t) { return ones(t.shape(), {.dtype = t.dtype(), .device = t.device()}); }
Tensor full_like(const Tensor& t, double v) {
  return full(t.shape(), v, {.dtype = t.dtype(), .device = t.device()});
}
Tensor empty_like(const Tensor& t) { return empty(t.shape(), {.dtype = t.dtype(), .device = t.device()}); }

Tensor scalar_tensor(double value, DType dtype, Device device) {
  return full({}, value, {.dtype = dtype, .device = device});
}

Tensor arange(double start, double end, double step, TensorOptions opts) {
  TERN_CHECK(std::isfinite(start) && std::isfinite(end) && std::isfinite(step), "arange",
             "start, end and step must be finite");
  TERN_CHECK(step != 0.0, "arange", "step must be non-zero");
  const double span = std::ceil((end - start) / step);
  TERN_CHECK(span < 9.0e15, "arange", "too many elements");
  const int64_t n = std::max<int64_t>(0, static_cast<int64_t>(span));
  Tensor h = empty({n}, {.dtype = kFloat64});
  double* d = h.data_ptr<double>();
  for (int64_t i = 0; i < n; ++i) d[i] = start + static_cast<double>(i) * step;
  Tensor out = h.to(opts.dtype).to(opts.device);
  if (opts.requires_grad) out.requires_grad_(true);
  return out;
}

namespace {

template <typename F>
Tensor random_tensor(const char* op, const Shape& shape, TensorOptions opts, F draw) {
  TERN_CHECK(opts.dtype == kFloat32 || opts.dtype == kFloat64, op, "expected f32 or f64, got ",
             opts.dtype);
  Tensor h = empty(shape, {.dtype = opts.dtype});
  visit_dtype(opts.dtype, [&](auto t0) {
    using T = decltype(t0);
    if constexpr (std::is_floating_point_v<T>) {
      T* d = h.data_ptr<T>();
      for (int64_t i = 0; i < h.numel(); ++i) d[i] = static_cast<T>(draw());
    }
  });
  Tensor out = h.to(opts.device);
  if (opts.requires_grad) out.requires_grad_(true);
  return out;
}

}  // namespace

Tensor rand(const Shape& shape, Generator* gen, TensorOptions opts) {
  Generator& g = gen ? *gen : default_generator();
  return random_tensor("rand", shape, opts, [&g] { return g.uniform(); });
}

Tensor randn(const Shape& shape, Generator* gen, TensorOptions opts) {
  Generator& g = gen ? *gen : default_generator();
  return random_tensor("randn", shape, opts, [&g] { return g.normal(); });
}

template <typename T>
Tensor from_vector(const std::vector<T>& values, Shape shape, TensorOptions opts) {
  if (shape.empty()) shape = {static_cast<int64_t>(values.size())};
  TERN_CHECK(checked_numel(shape, "from_vector") == static_cast<int64_t>(values.size()), "from_vector",
             values.size(), " values do not fill shape ", shape_str(shape));
  Tensor h = empty(shape, {.dtype = dtype_v<T>});
  if constexpr (std::is_same_v<T, bool>) {
    bool* d = h.data_ptr<bool>();
    for (size_t i = 0; i < values.size(); ++i) d[i] = values[i];
  } else if (!values.empty()) {
    std::memcpy(h.raw_data(), values.data(), values.size() * sizeof(T));
  }
  Tensor out = h.to(opts.dtype).to(opts.device);
  if (opts.requires_grad) out.requires_grad_(true);
  return out;
}

template Tensor from_vector<float>(const std::vector<float>&, Shape, TensorOptions);
template Tensor from_vector<double>(const std::vector<double>&, Shape, TensorOptions);
template Tensor from_vector<int8_t>(const std::vector<int8_t>&, Shape, TensorOptions);
template Tensor from_vector<uint8_t>(const std::vector<uint8_t>&, Shape, TensorOptions);
template Tensor from_vector<int32_t>(const std::vector<int32_t>&, Shape, TensorOptions);
template Tensor from_vector<int64_t>(const std::vector<int64_t>&, Shape, TensorOptions);
template Tensor from_vector<bool>(const std::vector<bool>&, Shape, TensorOptions);
template Tensor from_vector<Half>(const std::vector<Half>&, Shape, TensorOptions);
template Tensor from_vector<BFloat16>(const std::vector<BFloat16>&, Shape, TensorOptions);

Tensor tensor(std::initializer_list<float> values, TensorOptions opts) {
  return from_vector(std::vector<float>(values), {static_cast<int64_t>(values.size())}, opts);
}

Tensor tensor(std::initializer_list<std::initializer_list<float>> rows, TensorOptions opts) {
  std::vector<float> flat;
  const size_t cols = rows.size() ? rows.begin()->size() : 0;
  for (const auto& r : rows) {
    TERN_CHECK(r.size() == cols, "tensor", "ragged rows: ", r.size(), " vs ", cols, " elements");
    flat.insert(flat.end(), r.begin(), r.end());
  }
  return from_vector(flat, {static_cast<int64_t>(rows.size()), static_cast<int64_t>(cols)}, opts);
}

Tensor from_blob(void* data, const Shape& shape, DType dtype, std::shared_ptr<void> owner,
                 Device device, const Strides& strides) {
  const int64_t n = checked_numel(shape, "from_blob");
  Strides st = strides.empty() ? contiguous_strides(shape) : strides;
  TERN_CHECK(st.size() == shape.size(), "from_blob", "got ", st.size(), " strides for shape ",
             shape_str(shape));
  int64_t extent = n > 0 ? 1 : 0;
  for (size_t i = 0; i < shape.size() && n > 0; ++i) {
    TERN_CHECK(st[i] >= 0, "from_blob", "negative stride ", st[i]);
    extent += (shape[i] - 1) * st[i];
  }
  TERN_CHECK(data || extent == 0, "from_blob", "null data for a non-empty tensor");
  auto storage = std::make_shared<Storage>(data, static_cast<size_t>(extent) * dtype_size(dtype),
                                           device, std::move(owner));
  return make_tensor(std::move(storage), shape, std::move(st), 0, dtype);
}

}  // namespace tern
