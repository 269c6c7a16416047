// The safetensors format's vocabulary: dtypes, sizes, the header's name index and its metadata map. Parsing is
// in safetensors_parse.cpp, the writer's layout in safetensors_write.cpp; see safetensors_format.h.

#include <tern/core/io/safetensors_format.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <numeric>

#include <tern/core/error.h>

namespace tern::io {

// ---------------------------------------------------------------- dtypes

namespace {

struct DTypeRow {
  SafetensorsDType dtype;
  std::string_view name;
  int bits;
};

// In enum order.
constexpr DTypeRow kDTypes[kSafetensorsDTypeCount] = {
    {SafetensorsDType::BOOL, "BOOL", 8},
    {SafetensorsDType::F4, "F4", 4},
    {SafetensorsDType::F6_E2M3, "F6_E2M3", 6},
    {SafetensorsDType::F6_E3M2, "F6_E3M2", 6},
    {SafetensorsDType::U8, "U8", 8},
    {SafetensorsDType::I8, "I8", 8},
    {SafetensorsDType::F8_E5M2, "F8_E5M2", 8},
    {SafetensorsDType::F8_E4M3, "F8_E4M3", 8},
    {SafetensorsDType::F8_E8M0, "F8_E8M0", 8},
    {SafetensorsDType::F8_E4M3FNUZ, "F8_E4M3FNUZ", 8},
    {SafetensorsDType::F8_E5M2FNUZ, "F8_E5M2FNUZ", 8},
    {SafetensorsDType::I16, "I16", 16},
    {SafetensorsDType::U16, "U16", 16},
    {SafetensorsDType::F16, "F16", 16},
    {SafetensorsDType::BF16, "BF16", 16},
    {SafetensorsDType::I32, "I32", 32},
    {SafetensorsDType::U32, "U32", 32},
    {SafetensorsDType::F32, "F32", 32},
    {SafetensorsDType::C64, "C64", 64},
    {SafetensorsDType::F64, "F64", 64},
    {SafetensorsDType::I64, "I64", 64},
    {SafetensorsDType::U64, "U64", 64},
};

constexpr bool table_in_enum_order() {
  for (int i = 0; i < kSafetensorsDTypeCount; ++i)
    if (static_cast<int>(kDTypes[i].dtype) != i) return false;
  return true;
}
static_assert(table_in_enum_order());

}  // namespace

std::string all_dtype_names() {
  std::string s;
  for (const auto& row : kDTypes) {
    if (!s.empty()) s += ", ";
    s += row.name;
  }
  return s;
}

std::string_view dtype_name(SafetensorsDType t) {
  const auto i = static_cast<size_t>(t);
  return i < std::size(kDTypes) ? kDTypes[i].name : std::string_view("?");
}

std::optional<SafetensorsDType> parse_dtype(std::string_view name) {
  if (name == "F32") return SafetensorsDType::F32;  // by far the most common
  if (name.size() < 2 || name.size() > 11) return std::nullopt;
  for (const auto& row : kDTypes)
    if (row.name == name) return row.dtype;
  return std::nullopt;
}

int dtype_bits(SafetensorsDType t) {
  const auto i = static_cast<size_t>(t);
  return i < std::size(kDTypes) ? kDTypes[i].bits : 0;
}

std::optional<DType> to_tern_dtype(SafetensorsDType t) {
  switch (t) {
    case SafetensorsDType::BOOL: return DType::boolean;
    case SafetensorsDType::U8: return DType::u8;
    case SafetensorsDType::I8: return DType::i8;
    case SafetensorsDType::F16: return DType::f16;
    case SafetensorsDType::BF16: return DType::bf16;
    case SafetensorsDType::I32: return DType::i32;
    case SafetensorsDType::F32: return DType::f32;
    case SafetensorsDType::F64: return DType::f64;
    case SafetensorsDType::I64: return DType::i64;
    default: return std::nullopt;
  }
}

SafetensorsDType to_safetensors_dtype(DType t) {
  switch (t) {
    case DType::boolean: return SafetensorsDType::BOOL;
    case DType::u8: return SafetensorsDType::U8;
    case DType::i8: return SafetensorsDType::I8;
    case DType::f16: return SafetensorsDType::F16;
    case DType::bf16: return SafetensorsDType::BF16;
    case DType::i32: return SafetensorsDType::I32;
    case DType::f32: return SafetensorsDType::F32;
    case DType::f64: return SafetensorsDType::F64;
    case DType::i64: return SafetensorsDType::I64;
  }
  TERN_FAIL("safetensors", "invalid tern dtype value ", static_cast<int>(t));
}

// ---------------------------------------------------------------- sizes

uint64_t checked_nbytes(const Shape& shape, SafetensorsDType dtype, std::string_view where,
                        std::string_view name) {
  uint64_t numel = 1;
  for (const int64_t d : shape) {
    TERN_CHECK(d >= 0, where, "tensor '", name, "': shape ", shape_str(shape), " has a negative dimension");
    // Like the reference, the running product must not overflow, even when a later
    // dimension is 0; tern's shapes are int64, so it must also stay below 2^63.
    TERN_CHECK(!__builtin_mul_overflow(numel, static_cast<uint64_t>(d), &numel) &&
                   numel <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()),
               where, "size overflow: tensor '", name, "': the element count of shape ", shape_str(shape),
               " overflows 64 bits");
  }
  uint64_t nbits;
  TERN_CHECK(!__builtin_mul_overflow(numel, static_cast<uint64_t>(dtype_bits(dtype)), &nbits), where,
             "size overflow: tensor '", name, "': shape ", shape_str(shape), " of ", dtype_name(dtype),
             " (", numel, " elements) overflows 64 bits of size");
  TERN_CHECK(nbits % 8 == 0, where, "sub-byte size: tensor '", name, "': ", numel, " elements of ",
             dtype_name(dtype), " are ", nbits, " bits, not a whole number of bytes");
  return nbits / 8;
}

// ---------------------------------------------------------------- name index

namespace {
uint64_t name_hash(std::string_view s) { return std::hash<std::string_view>{}(s); }
}  // namespace

bool Header::build_index() {
  index_.resize(tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) index_[i] = {name_hash(tensors[i].name), static_cast<uint32_t>(i)};
  std::sort(index_.begin(), index_.end());
  for (size_t i = 1; i < index_.size(); ++i)
    for (size_t j = i; j-- > 0 && index_[j].first == index_[i].first;)
      if (tensors[index_[j].second].name == tensors[index_[i].second].name) return false;
  return true;
}

// ---------------------------------------------------------------- metadata

Metadata::Metadata(std::initializer_list<value_type> entries) {
  for (const auto& [k, v] : entries) emplace(k, v);
}

Metadata::Metadata(const std::map<std::string, std::string>& m) {
  for (const auto& [k, v] : m) emplace(k, v);
}

bool Metadata::emplace(std::string key, std::string value) {
  if (!index_.emplace(key, entries_.size()).second) return false;
  entries_.emplace_back(std::move(key), std::move(value));
  return true;
}

std::string& Metadata::operator[](const std::string& key) {
  const auto [it, added] = index_.emplace(key, entries_.size());
  if (added) entries_.emplace_back(key, std::string());
  return entries_[it->second].second;
}

const std::string& Metadata::at(const std::string& key) const {
  const auto it = index_.find(key);
  if (it == index_.end()) throw std::out_of_range("Metadata::at: no key '" + key + "'");
  return entries_[it->second].second;
}

Metadata::const_iterator Metadata::find(const std::string& key) const {
  const auto it = index_.find(key);
  return it == index_.end() ? end() : begin() + static_cast<std::ptrdiff_t>(it->second);
}

bool Metadata::erase(const std::string& key) {
  const auto it = index_.find(key);
  if (it == index_.end()) return false;
  const size_t pos = it->second;
  entries_.erase(entries_.begin() + static_cast<std::ptrdiff_t>(pos));
  index_.erase(it);
  for (auto& [k, i] : index_)
    if (i > pos) --i;
  return true;
}

// ---------------------------------------------------------------- header

const TensorInfo* Header::find(std::string_view name) const {
  const uint64_t h = name_hash(name);
  auto it = std::lower_bound(index_.begin(), index_.end(), std::pair<uint64_t, uint32_t>{h, 0});
  for (; it != index_.end() && it->first == h; ++it)
    if (tensors[it->second].name == name) return &tensors[it->second];
  return nullptr;
}

}  // namespace tern::io
