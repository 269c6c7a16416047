// libFuzzer target for the safetensors reader (core/io/safetensors_parse.cpp).
//
//   ./run fuzz [seconds]      build with clang -fsanitize=fuzzer,address,undefined and run
//
// Any input must either parse or throw tern::Error; nothing else may escape, and ASan/UBSan
// must stay quiet. The fast header path and the nlohmann path must give the same result
// (the same error, or the same header). For inputs that parse, it also checks what validation promises:
// every tensor lies inside the data buffer, and the parsed file rewrites (in the reference
// layout) to bytes that parse back to the same tensors, and rewrite to themselves.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
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
  // The fast path and the nlohmann path must agree on every input.
  Header h, slow;
  bool fast_ok = true, slow_ok = true;
  std::string fast_err, slow_err;
  try {
    h = parse_header(data, size, "fuzz", /*fast=*/true);
  } catch (const tern::Error& e) {
    fast_ok = false;
    fast_err = e.what();
  }
  try {
    slow = parse_header(data, size, "fuzz", /*fast=*/false);
  } catch (const tern::Error& e) {
    slow_ok = false;
    slow_err = e.what();
  }
  if (fast_ok != slow_ok || fast_err != slow_err) die("the fast path and the nlohmann path disagree");
  if (!fast_ok) return 0;  // refused with a clear error: fine
  if (slow.tensors.size() != h.tensors.size() || slow.metadata != h.metadata || slow.header_size != h.header_size)
    die("the fast path and the nlohmann path read different headers");
  for (size_t i = 0; i < h.tensors.size(); ++i) {
    const TensorInfo &a = h.tensors[i], &b = slow.tensors[i];
    if (a.name != b.name || a.dtype != b.dtype || a.shape != b.shape || a.begin != b.begin || a.end != b.end)
      die("the fast path and the nlohmann path read a tensor differently");
    if (h.find(a.name) != &a) die("the name index does not find a tensor");
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
