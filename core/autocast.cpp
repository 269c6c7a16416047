#include <tern/core/autocast.h>
#include <tern/core/error.h>

namespace tern {

namespace {

std::optional<DType>& current() {
  thread_local std::optional<DType> dtype;
  return dtype;
}

}  // namespace

std::optional<DType> autocast_dtype() { return current(); }

AutocastGuard::AutocastGuard(std::optional<DType> dtype) : prev_(current()) {
  TERN_CHECK(!dtype || *dtype == kBFloat16 || *dtype == kFloat16, "autocast",
             "the reduced dtype must be bf16 or f16, got ", *dtype);
  current() = dtype;
}

AutocastGuard::~AutocastGuard() { current() = prev_; }

}  // namespace tern
