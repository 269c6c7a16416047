// libFuzzer target for the safetensors reader (core/io/safetensors_format.cpp).
//
//   ./run fuzz [seconds]      build with clang -fsanitize=fuzzer,address,undefined and run
//
// Any input must either parse or throw tern::Error; nothing else may escape, and ASan/UBSan
// must stay quiet. For inputs that parse, the target also checks what validation promises:
// every tensor lies inside the data buffer, and the parsed file rewrites (in the reference
// layout) to bytes that parse back to the same tensors, and rewrite to themselves.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <vector>

#include <tern/core/error.h>
#include <tern/core/io/safetensors_format.h>

namespace {

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "safetensors_fuzz: invariant violated: %s\n", what);
  std::abort();
}

uint64_t checksum(const uint8_t* p, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tern::io;
  Header h;
  try {
    h = parse_header(data, size, "fuzz");
  } catch (const tern::Error&) {
    return 0;  // refused with a clear error: fine
  }
  // Validation's promises.
  if (h.data_start() + h.data_size != size) die("data buffer size");
  std::vector<RawTensor> raw;
  uint64_t sum = 0;
  for (const TensorInfo& t : h.tensors) {
    if (t.begin > t.end || t.end > h.data_size) die("tensor outside the data buffer");
    const uint8_t* p = data + h.data_start() + t.begin;
    sum += checksum(p, t.nbytes());  // touches every byte: ASan checks the range
    raw.push_back({t.name, t.dtype, t.shape, p, static_cast<size_t>(t.nbytes())});
  }
  (void)sum;
  // Round trip: rewrite, parse, rewrite again.
  std::vector<uint8_t> once;
  try {
    once = serialize(raw, h.metadata, "fuzz-write");
  } catch (const tern::Error&) {
    die("a valid file's tensors could not be written");
  }
  Header back;
  try {
    back = parse_header(once.data(), once.size(), "fuzz-reread");
  } catch (const tern::Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    die("the writer's output does not parse");
  }
  if (back.tensors.size() != h.tensors.size() || back.metadata != h.metadata) die("round trip changed the header");
  std::map<std::string, const TensorInfo*> by_name;
  for (const TensorInfo& t : back.tensors) by_name[t.name] = &t;
  for (const TensorInfo& t : h.tensors) {
    auto it = by_name.find(t.name);
    if (it == by_name.end()) die("round trip lost a tensor");
    const TensorInfo& u = *it->second;
    if (u.dtype != t.dtype || u.shape != t.shape || u.nbytes() != t.nbytes()) die("round trip changed a tensor");
    if (std::memcmp(once.data() + back.data_start() + u.begin, data + h.data_start() + t.begin, t.nbytes()) != 0)
      die("round trip changed a tensor's bytes");
  }
  std::vector<RawTensor> raw2;
  for (const TensorInfo& t : back.tensors)
    raw2.push_back({t.name, t.dtype, t.shape, once.data() + back.data_start() + t.begin, static_cast<size_t>(t.nbytes())});
  if (serialize(raw2, back.metadata, "fuzz-write2") != once) die("rewriting is not idempotent");
  return 0;
}
