#pragma once
// The safetensors file format, byte level: dtypes, header parsing with full validation,
// and header serialisation in the reference layout. No Tensor here (see safetensors.h for
// the tensor-level reader and writer), so the fuzzer can build this layer on its own.
//
// A file is: 8 bytes little-endian u64 N · N bytes of UTF-8 JSON header · the data buffer.
// The header maps tensor names to {"dtype", "shape", "data_offsets": [begin, end]} (offsets
// relative to the data buffer) and may hold "__metadata__", a string → string map.
//
// Validation follows the reference implementation (huggingface/safetensors, Rust), and is
// stricter in three places: duplicate keys are refused (the reference lets the last win),
// "__metadata__": null is refused (the reference reads it as absent), and nesting depth is
// limited. Every failure is a tern::Error "[<file>] <rule>: <details>" naming the tensor.

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <tern/core/dtype.h>
#include <tern/core/shape.h>

namespace tern::io {

// Every dtype of the current safetensors spec, in the reference enum's order. The writer
// sorts tensors by this order, descending, so the order is part of the file format.
enum class SafetensorsDType : uint8_t {
  BOOL,
  F4,       // MXFP4 (E2M1), two per byte
  F6_E2M3,  // MXFP6, four per three bytes
  F6_E3M2,
  U8,
  I8,
  F8_E5M2,
  F8_E4M3,
  F8_E8M0,
  F8_E4M3FNUZ,
  F8_E5M2FNUZ,
  I16,
  U16,
  F16,
  BF16,
  I32,
  U32,
  F32,
  C64,  // complex64: two f32
  F64,
  I64,
  U64,
};
inline constexpr int kSafetensorsDTypeCount = 22;

// "F32", "F8_E4M3", ... as written in headers.
std::string_view dtype_name(SafetensorsDType t);
// Every dtype name, comma separated, for messages.
std::string all_dtype_names();
// Exact, case-sensitive; nullopt for anything else ("f32" included).
std::optional<SafetensorsDType> parse_dtype(std::string_view name);
// Bits per element: 4, 6, 8, 16, 32 or 64.
int dtype_bits(SafetensorsDType t);
// The tern dtype with the same bytes, if there is one (BOOL, U8, I8, F16, BF16, I32, F32, F64, I64).
std::optional<DType> to_tern_dtype(SafetensorsDType t);
SafetensorsDType to_safetensors_dtype(DType t);

// The "__metadata__" map, string -> string, in the order the header lists it, or, for keys added in code, the
// order they were added. Writers differ in the order they choose (the Python library's varies from run to run), so
// keeping it is what lets a file be rewritten byte for byte. Lookups are by key, as in a std::map; a std::map
// converts to it in its sorted order.
class Metadata {
 public:
  using value_type = std::pair<std::string, std::string>;
  using const_iterator = std::vector<value_type>::const_iterator;

  Metadata() = default;
  Metadata(std::initializer_list<value_type> entries);  // a repeated key keeps its first value
  Metadata(const std::map<std::string, std::string>& m);  // NOLINT: implicit, for callers holding a std::map

  // Adds (key, value) at the end; false, changing nothing, when the key is present.
  bool emplace(std::string key, std::string value);
  // The value of `key`, added at the end (empty) when absent.
  std::string& operator[](const std::string& key);
  // Throws std::out_of_range when absent, as std::map::at does.
  const std::string& at(const std::string& key) const;
  const_iterator find(const std::string& key) const;
  size_t count(const std::string& key) const { return find(key) != end() ? 1 : 0; }
  bool erase(const std::string& key);

  const_iterator begin() const { return entries_.begin(); }
  const_iterator end() const { return entries_.end(); }
  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  // The same keys and values in the same order.
  bool operator==(const Metadata& other) const { return entries_ == other.entries_; }

 private:
  std::vector<value_type> entries_;
  std::unordered_map<std::string, size_t> index_;  // key -> position in entries_
};

// One tensor's header entry.
struct TensorInfo {
  std::string name;
  SafetensorsDType dtype = SafetensorsDType::F32;
  Shape shape;
  uint64_t begin = 0;  // data_offsets, relative to the start of the data buffer
  uint64_t end = 0;
  uint64_t nbytes() const { return end - begin; }
  int64_t numel() const { return numel_of(shape); }
};

// A parsed and fully validated header.
struct Header {
  uint64_t header_size = 0;              // N, the JSON length including any padding
  std::vector<TensorInfo> tensors;       // in the order the header lists them
  Metadata metadata;                     // in the order the header lists it
  uint64_t data_size = 0;                // bytes after the header; the tensors tile it exactly
  uint64_t data_start() const { return 8 + header_size; }

  // The entry named `name`, or null.
  const TensorInfo* find(std::string_view name) const;
  // Builds the name index; false if two tensors share a name.
  bool build_index();

 private:
  std::vector<std::pair<uint64_t, uint32_t>> index_;  // (hash of name, position), sorted
};

inline constexpr uint64_t kMaxHeaderSize = 100'000'000;  // as the reference
inline constexpr int kMaxJsonDepth = 64;                 // a valid header needs 3

// Parses and validates a whole file held in memory (`size` is the file size: the header's
// claims are checked against it). `where` names the file in errors. Throws tern::Error.
// Headers in the plain form writers produce take a fast path; anything else (escapes,
// unknown fields, any error) is parsed by nlohmann/json, which names the rule broken.
// `fast = false` uses nlohmann only: the fuzzer checks that both agree.
Header parse_header(const uint8_t* data, size_t size, std::string_view where, bool fast = true);
// The same from the file's first bytes only: `data` holds `available` >= 8 + N bytes of a
// file of `file_size` bytes (read the first 8, check them with header_length(), then the
// header).
Header parse_header_prefix(const uint8_t* data, size_t available, uint64_t file_size, std::string_view where,
                           bool fast = true);
// N from the first 8 bytes (`data` holds min(8, file_size) bytes), after the three framing
// rules: the file has 8 bytes, N <= kMaxHeaderSize, and 8 + N <= file_size.
uint64_t header_length(const uint8_t* data, uint64_t file_size, std::string_view where);

// A tensor to write, as raw little-endian row-major bytes (not owned).
struct RawTensor {
  std::string name;
  SafetensorsDType dtype = SafetensorsDType::F32;
  Shape shape;
  const void* data = nullptr;
  size_t nbytes = 0;
};

// The writer's plan: tensors in file order (dtype descending, then name) with their offsets,
// and the 8-byte length prefix + the header padded with spaces to a multiple of 8. The
// metadata keys keep their order.
struct WritePlan {
  std::vector<const RawTensor*> order;  // points into the caller's vector
  std::string prefix_and_header;        // 8 + N bytes
  uint64_t data_size = 0;
};

// Checks every entry (names unique, none "__metadata__", valid UTF-8, nbytes matching
// shape × dtype, metadata valid UTF-8) and lays the file out as the reference does.
// An empty `metadata` writes no "__metadata__" key. Throws tern::Error naming `where`.
WritePlan plan_write(const std::vector<RawTensor>& tensors, const Metadata& metadata, std::string_view where);

// The whole file in memory.
std::vector<uint8_t> serialize(const std::vector<RawTensor>& tensors, const Metadata& metadata = {},
                               std::string_view where = "<memory>");

// Bytes of shape × dtype; throws (naming `where` and `name`) on overflow or a sub-byte
// size that is not a whole number of bytes.
uint64_t checked_nbytes(const Shape& shape, SafetensorsDType dtype, std::string_view where,
                        std::string_view name);

}  // namespace tern::io
