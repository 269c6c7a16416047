// The safetensors writer's layout: the header as the reference serialises it, and the checks on what is written.
// See safetensors_format.h.

#include <tern/core/io/safetensors_format.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <unordered_set>

#include <tern/core/error.h>
#include <tern/core/utf8.h>

namespace tern::io {

// ---------------------------------------------------------------- writing

namespace {

// As serde_json writes strings: only '"', '\\' and control characters are escaped.
void append_json_string(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 15];
        } else {
          out += ch;
        }
    }
  }
  out += '"';
}

void check_utf8(std::string_view s, std::string_view where, const char* what) {
  size_t at = 0;
  const char* why = "";
  TERN_CHECK(utf8::is_valid(s, &at, &why), where, what,
             " is not valid UTF-8 (", why, " at byte ", at, ")");
}

}  // namespace

WritePlan plan_write(const std::vector<RawTensor>& tensors, const Metadata& metadata, std::string_view where) {
  WritePlan plan;
  plan.order.reserve(tensors.size());
  for (const RawTensor& t : tensors) {
    TERN_CHECK(t.name != "__metadata__", where,
               "a tensor cannot be named '__metadata__': the name is reserved for the metadata map");
    check_utf8(t.name, where, "tensor name");
    const uint64_t nbytes = checked_nbytes(t.shape, t.dtype, where, t.name);
    TERN_CHECK(nbytes == t.nbytes, where, "tensor '", t.name, "': shape ", shape_str(t.shape), " of ",
               dtype_name(t.dtype), " is ", nbytes, " bytes, but ", t.nbytes, " were given");
    TERN_CHECK(t.data || nbytes == 0, where, "tensor '", t.name, "': no data");
    plan.order.push_back(&t);
  }
  for (const auto& [k, v] : metadata) {
    check_utf8(k, where, "a __metadata__ key");
    check_utf8(v, where, "a __metadata__ value");
  }
  // The reference layout: dtype descending, then name (bytewise).
  std::sort(plan.order.begin(), plan.order.end(), [](const RawTensor* a, const RawTensor* b) {
    if (a->dtype != b->dtype) return a->dtype > b->dtype;
    return a->name < b->name;
  });
  {
    std::unordered_set<std::string_view> seen;
    seen.reserve(tensors.size());
    for (const RawTensor& t : tensors)
      TERN_CHECK(seen.insert(t.name).second, where, "duplicate tensor name '", t.name, "'");
  }

  std::string& h = plan.prefix_and_header;
  h.assign(8, '\0');
  h += '{';
  if (!metadata.empty()) {
    h += "\"__metadata__\":{";
    bool first = true;
    for (const auto& [k, v] : metadata) {
      if (!first) h += ',';
      first = false;
      append_json_string(h, k);
      h += ':';
      append_json_string(h, v);
    }
    h += '}';
  }
  uint64_t offset = 0;
  for (const RawTensor* t : plan.order) {
    if (h.size() > 9) h += ',';
    append_json_string(h, t->name);
    h += ":{\"dtype\":\"";
    h += dtype_name(t->dtype);
    h += "\",\"shape\":[";
    for (size_t i = 0; i < t->shape.size(); ++i) {
      if (i) h += ',';
      h += std::to_string(t->shape[i]);
    }
    h += "],\"data_offsets\":[";
    h += std::to_string(offset);
    h += ',';
    TERN_CHECK(!__builtin_add_overflow(offset, t->nbytes, &offset), where, "size overflow: the data exceeds 2^64 bytes");
    h += std::to_string(offset);
    h += "]}";
  }
  h += '}';
  while ((h.size() - 8) % 8) h += ' ';
  const uint64_t n = h.size() - 8;
  TERN_CHECK(n <= kMaxHeaderSize, where, "header too large: ", n, " bytes; readers refuse more than ", kMaxHeaderSize);
  for (int i = 0; i < 8; ++i) h[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  plan.data_size = offset;
  return plan;
}

std::vector<uint8_t> serialize(const std::vector<RawTensor>& tensors, const Metadata& metadata,
                               std::string_view where) {
  const WritePlan plan = plan_write(tensors, metadata, where);
  std::vector<uint8_t> out;
  out.reserve(plan.prefix_and_header.size() + plan.data_size);
  out.insert(out.end(), plan.prefix_and_header.begin(), plan.prefix_and_header.end());
  for (const RawTensor* t : plan.order) {
    const auto* p = static_cast<const uint8_t*>(t->data);
    out.insert(out.end(), p, p + t->nbytes);
  }
  return out;
}

}  // namespace tern::io
