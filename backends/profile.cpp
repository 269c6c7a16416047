// TERN_PROFILE=1: where a step's time goes, kernel by kernel. backend_for hands out a
// ProfilingBackend wrapping the real one; each kernel call waits for the device before and
// after itself, so its wall time is its own device time (on a GPU this serializes the
// queue, which a profile may do: launch overlap is lost, per-kernel time is exact to the
// wait's cost). The table is printed to stderr at exit, or on request (profile_report()).

#include <tern/backends/profile.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include <tern/core/error.h>

#include "profiling_backend.h"

namespace tern {

namespace {

struct Entry {
  int64_t calls = 0;
  double seconds = 0;
};

std::mutex& mu() {
  static std::mutex m;
  return m;
}

std::map<std::string, Entry>& table() {
  static auto* t = new std::map<std::string, Entry>;  // outlives static destructors that still run kernels
  return *t;
}

const char* unary_name(UnaryOp op) {
  static const char* names[] = {"neg",  "exp",  "log",      "sqrt",    "rsqrt", "abs", "sign",  "tanh",
                                "relu", "gelu", "gelu_erf", "sigmoid", "round", "pow", "clamp", "logical_not"};
  const auto i = static_cast<size_t>(op);
  return i < sizeof names / sizeof *names ? names[i] : "?";
}

const char* binary_name(BinaryOp op) {
  static const char* names[] = {
      "add", "sub", "mul", "div", "eq", "ne", "lt", "le", "gt", "ge", "gelu_backward", "gelu_erf_backward"};
  const auto i = static_cast<size_t>(op);
  return i < sizeof names / sizeof *names ? names[i] : "?";
}

const char* reduce_name(ReduceOp op) {
  static const char* names[] = {"sum", "max", "min", "sum_squares"};
  const auto i = static_cast<size_t>(op);
  return i < sizeof names / sizeof *names ? names[i] : "?";
}

void print_at_exit() { std::fputs(profile_report().c_str(), stderr); }

}  // namespace

bool profiling_enabled() {
  static const bool on = [] {
    const char* env = std::getenv("TERN_PROFILE");
    const bool enabled = env && *env && std::string(env) != "0";
    if (enabled) std::atexit(print_at_exit);
    return enabled;
  }();
  return on;
}

void profile_reset() {
  std::lock_guard<std::mutex> lock(mu());
  table().clear();
}

std::string profile_report() {
  std::vector<std::pair<std::string, Entry>> rows;
  double total = 0;
  {
    std::lock_guard<std::mutex> lock(mu());
    rows.assign(table().begin(), table().end());
  }
  for (const auto& [name, e] : rows) total += e.seconds;
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second.seconds > b.second.seconds; });
  std::ostringstream out;
  char line[160];
  std::snprintf(line, sizeof line, "\ntern profile (TERN_PROFILE): %.3f s in kernels\n%-34s %10s %12s %12s %7s\n",
                total, "kernel", "calls", "total ms", "mean us", "share");
  out << line;
  for (const auto& [name, e] : rows) {
    std::snprintf(line, sizeof line, "%-34s %10lld %12.3f %12.2f %6.1f%%\n", name.c_str(),
                  static_cast<long long>(e.calls), e.seconds * 1e3, e.seconds * 1e6 / static_cast<double>(e.calls),
                  total > 0 ? 100.0 * e.seconds / total : 0.0);
    out << line;
  }
  return out.str();
}

namespace detail {

template <typename F>
void ProfilingBackend::timed(const std::string& name, F&& call) {
  inner_.synchronize();
  const auto t0 = std::chrono::steady_clock::now();
  call();
  inner_.synchronize();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::lock_guard<std::mutex> lock(mu());
  Entry& e = table()[name];
  ++e.calls;
  e.seconds += s;
}

void ProfilingBackend::copy_from_host(void* dst, const void* src, size_t nbytes) {
  timed("copy_from_host", [&] { inner_.copy_from_host(dst, src, nbytes); });
}
void ProfilingBackend::copy_to_host(void* dst, const void* src, size_t nbytes) {
  timed("copy_to_host", [&] { inner_.copy_to_host(dst, src, nbytes); });
}
void ProfilingBackend::copy(const Shape& shape, const StridedArg& dst, const StridedArg& src) {
  const std::string name = src.dtype == dst.dtype ? "copy" : "copy:convert";
  timed(name, [&] { inner_.copy(shape, dst, src); });
}
void ProfilingBackend::fill(const Shape& shape, const StridedArg& dst, double value) {
  timed("fill", [&] { inner_.fill(shape, dst, value); });
}
void ProfilingBackend::unary(UnaryOp op, const Shape& shape, const StridedArg& out, const StridedArg& in, double p0,
                             double p1) {
  timed(std::string("unary:") + unary_name(op), [&] { inner_.unary(op, shape, out, in, p0, p1); });
}
void ProfilingBackend::binary(BinaryOp op, const Shape& shape, const StridedArg& out, const StridedArg& a,
                              const StridedArg& b) {
  timed(std::string("binary:") + binary_name(op), [&] { inner_.binary(op, shape, out, a, b); });
}
void ProfilingBackend::where(const Shape& shape, const StridedArg& out, const StridedArg& cond, const StridedArg& a,
                             const StridedArg& b) {
  timed("where", [&] { inner_.where(shape, out, cond, a, b); });
}
void ProfilingBackend::reduce(ReduceOp op, DType dtype, const void* in, void* out, int64_t* indices, int64_t outer,
                              int64_t r, int64_t inner) {
  timed(std::string("reduce:") + reduce_name(op), [&] { inner_.reduce(op, dtype, in, out, indices, outer, r, inner); });
}
void ProfilingBackend::gemm_batched(const GemmTypes& types, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
                                    double alpha, const void* a, int64_t lda, const void* b, int64_t ldb, double beta,
                                    void* c, int64_t ldc, const GemmBatch& batch) {
  const std::string name =
      std::string(batch.count > 1 ? "gemm_batched:" : "gemm:") + std::string(dtype_name(types.input));
  timed(name,
        [&] { inner_.gemm_batched(types, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, batch); });
}
void ProfilingBackend::softmax(bool log, DType dtype, const void* in, void* out, int64_t outer, int64_t d,
                               int64_t inner) {
  timed(log ? "log_softmax" : "softmax", [&] { inner_.softmax(log, dtype, in, out, outer, d, inner); });
}
void ProfilingBackend::layer_norm_forward(DType dtype, const void* x, const void* weight, const void* bias, void* y,
                                          void* mean, void* rstd, int64_t rows, int64_t cols, double eps) {
  timed("layer_norm_forward",
        [&] { inner_.layer_norm_forward(dtype, x, weight, bias, y, mean, rstd, rows, cols, eps); });
}
void ProfilingBackend::layer_norm_backward(DType dtype, const void* gy, const void* x, const void* weight,
                                           const void* mean, const void* rstd, void* gx, void* gweight, void* gbias,
                                           int64_t rows, int64_t cols) {
  timed("layer_norm_backward",
        [&] { inner_.layer_norm_backward(dtype, gy, x, weight, mean, rstd, gx, gweight, gbias, rows, cols); });
}
void ProfilingBackend::cross_entropy_forward(DType dtype, const void* logits, const int64_t* targets, void* lse,
                                             void* loss, int64_t* count, int64_t rows, int64_t classes,
                                             int64_t ignore_index, const RangeCheck& check) {
  timed("cross_entropy_forward", [&] {
    inner_.cross_entropy_forward(dtype, logits, targets, lse, loss, count, rows, classes, ignore_index, check);
  });
}
void ProfilingBackend::cross_entropy_backward(DType dtype, const void* logits, const int64_t* targets, const void* lse,
                                              const void* grad, const int64_t* count, void* glogits, int64_t rows,
                                              int64_t classes, int64_t ignore_index) {
  timed("cross_entropy_backward", [&] {
    inner_.cross_entropy_backward(dtype, logits, targets, lse, grad, count, glogits, rows, classes, ignore_index);
  });
}
void ProfilingBackend::adamw_step(DType dtype, void* param, const void* grad, void* exp_avg, void* exp_avg_sq,
                                  int64_t n, double lr, double beta1, double beta2, double eps, double weight_decay,
                                  int64_t step) {
  timed("adamw_step", [&] {
    inner_.adamw_step(dtype, param, grad, exp_avg, exp_avg_sq, n, lr, beta1, beta2, eps, weight_decay, step);
  });
}
void ProfilingBackend::index_select(DType dtype, const void* src, const int64_t* idx, void* dst, int64_t outer,
                                    int64_t src_dim, int64_t n, int64_t inner, const RangeCheck& check) {
  timed("index_select", [&] { inner_.index_select(dtype, src, idx, dst, outer, src_dim, n, inner, check); });
}
void ProfilingBackend::index_add(DType dtype, void* dst, const int64_t* idx, const void* src, int64_t outer,
                                 int64_t dst_dim, int64_t n, int64_t inner) {
  timed("index_add", [&] { inner_.index_add(dtype, dst, idx, src, outer, dst_dim, n, inner); });
}
void ProfilingBackend::activation_quant(DType dtype, const void* x, void* out, int8_t* q, void* scale, int64_t rows,
                                        int64_t cols) {
  timed("activation_quant", [&] { inner_.activation_quant(dtype, x, out, q, scale, rows, cols); });
}
void ProfilingBackend::ternarize(DType dtype, const void* w, int64_t n, int64_t zeros, int8_t* q, void* out,
                                 void* scale) {
  timed(zeros < 0 ? "ternarize:absmean" : "ternarize:zeros",
        [&] { inner_.ternarize(dtype, w, n, zeros, q, out, scale); });
}
void ProfilingBackend::attention_forward(DType dtype, const void* q, const void* k, const void* v, void* out, void* lse,
                                         int64_t bh, int64_t tq, int64_t tk, int64_t d, double scale, bool causal) {
  timed("attention_forward", [&] { inner_.attention_forward(dtype, q, k, v, out, lse, bh, tq, tk, d, scale, causal); });
}
void ProfilingBackend::attention_backward(DType dtype, const void* q, const void* k, const void* v, const void* out,
                                          const void* lse, const void* gout, void* gq, void* gk, void* gv, int64_t bh,
                                          int64_t tq, int64_t tk, int64_t d, double scale, bool causal) {
  timed("attention_backward",
        [&] { inner_.attention_backward(dtype, q, k, v, out, lse, gout, gq, gk, gv, bh, tq, tk, d, scale, causal); });
}
void ProfilingBackend::ternary_linear(const float* x, int64_t m, int64_t k, const uint8_t* w, int64_t n,
                                      const float* scale, const float* bias, bool rmsnorm, double eps, float* y,
                                      int32_t* dots) {
  timed("ternary_linear", [&] { inner_.ternary_linear(x, m, k, w, n, scale, bias, rmsnorm, eps, y, dots); });
}

Backend& profiled(Backend& inner) {
  static std::mutex wrappers_mu;
  static auto* wrappers = new std::map<Backend*, std::unique_ptr<ProfilingBackend>>;
  std::lock_guard<std::mutex> lock(wrappers_mu);
  auto& w = (*wrappers)[&inner];
  if (!w) w = std::make_unique<ProfilingBackend>(inner);
  return *w;
}

}  // namespace detail

}  // namespace tern
