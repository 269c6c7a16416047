// safetensors header parsing and validation. See safetensors_format.h.
//
// The JSON header is parsed with nlohmann/json's SAX interface straight into TensorInfo
// records: no DOM, one pass, and every type rule is checked where the value appears, so
// each failure can name its rule and its tensor. nlohmann's parser is iterative, but the
// handler still refuses nesting deeper than kMaxJsonDepth.

#include <tern/core/io/safetensors_format.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include <tern/core/error.h>
#include <tern/core/utf8.h>

namespace tern::io {

// ---------------------------------------------------------------- header parsing

namespace {

using json = nlohmann::json;

// Ordinals (among all integer tokens, in order) of the tokens spelled "-0". nlohmann reads
// "-0" as the integer 0; the reference reads it as a float, so it is no valid shape entry
// or offset. Only called when the header contains "-0" at all.
std::vector<size_t> negative_zero_ordinals(const char* s, size_t n) {
  std::vector<size_t> out;
  size_t ordinal = 0;
  size_t i = 0;
  while (i < n) {
    const char c = s[i];
    if (c == '"') {
      for (++i; i < n && s[i] != '"'; ++i)
        if (s[i] == '\\') ++i;
      ++i;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      const size_t b = i;
      bool integer = true;
      ++i;
      while (i < n && ((s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == 'e' || s[i] == 'E' ||
                       s[i] == '+' || s[i] == '-')) {
        if (s[i] == '.' || s[i] == 'e' || s[i] == 'E') integer = false;
        ++i;
      }
      if (integer) {
        if (i - b == 2 && s[b] == '-' && s[b + 1] == '0') out.push_back(ordinal);
        ++ordinal;
      }
    } else {
      ++i;
    }
  }
  return out;
}

enum class Field : uint8_t { dtype = 1, shape = 2, data_offsets = 4, unknown = 0 };

enum class Frame : uint8_t { top, metadata, tensor, shape, offsets, skip };

class HeaderSax {
 public:
  using number_integer_t = json::number_integer_t;
  using number_unsigned_t = json::number_unsigned_t;
  using number_float_t = json::number_float_t;
  using string_t = json::string_t;
  using binary_t = json::binary_t;

  HeaderSax(std::string_view where, Header& out, std::vector<size_t> neg_zero)
      : where_(where), out_(out), neg_zero_(std::move(neg_zero)) {}

  bool null() { return scalar("null", nullptr); }
  bool boolean(bool v) { return scalar(v ? "true" : "false", nullptr); }
  bool number_integer(number_integer_t v) {
    const bool neg_zero = is_negative_zero();  // always: it counts the integer token
    const bool negative = v < 0 || neg_zero;
    return integer(negative, negative ? 0 : static_cast<uint64_t>(v), v, neg_zero);
  }
  bool number_unsigned(number_unsigned_t v) { return integer(false, v, 0, is_negative_zero()); }
  bool number_float(number_float_t, const string_t& raw) {
    // nlohmann falls back to a float for integers beyond 64 bits.
    const bool integral = raw.find_first_of(".eE") == std::string::npos;
    if (integral) ++int_ordinal_;
    if (integral && in_integer_slot()) {
      if (!raw.empty() && raw[0] == '-') return integer(true, 0, std::numeric_limits<int64_t>::min(), false, &raw);
      fail_number("is too large (" + raw + ")");
    }
    return scalar("a float", &raw);
  }
  bool string(string_t& v) {
    switch (slot()) {
      case Slot::metadata_value:
        out_.metadata.emplace(std::move(meta_key_), std::move(v));
        return true;
      case Slot::dtype: {
        const auto dt = parse_dtype(v);
        if (!dt)
          TERN_FAIL(where_, "unknown dtype: tensor '", cur_.name, "': '", v,
                    "' is not a safetensors dtype (dtypes are upper case: ", all_dtype_names(), ")");
        cur_.dtype = *dt;
        return true;
      }
      default:
        return scalar("a string", nullptr);
    }
  }
  bool binary(binary_t&) { return scalar("binary", nullptr); }

  bool start_object(std::size_t) {
    enter();
    switch (slot()) {
      case Slot::root: frames_.push_back(Frame::top); return true;
      case Slot::metadata: frames_.push_back(Frame::metadata); return true;
      case Slot::tensor:
        cur_ = TensorInfo{};
        cur_.name = std::move(top_key_);
        fields_ = 0;
        frames_.push_back(Frame::tensor);
        return true;
      case Slot::ignored:
      case Slot::skip: frames_.push_back(Frame::skip); return true;
      default: return scalar("an object", nullptr);
    }
  }
  bool start_array(std::size_t) {
    enter();
    switch (slot()) {
      case Slot::shape: frames_.push_back(Frame::shape); return true;
      case Slot::offsets:
        n_offsets_ = 0;
        frames_.push_back(Frame::offsets);
        return true;
      case Slot::ignored:
      case Slot::skip: frames_.push_back(Frame::skip); return true;
      default: return scalar("an array", nullptr);
    }
  }
  bool key(string_t& k) {
    switch (frames_.back()) {
      case Frame::top:
        if (k == "__metadata__") {
          TERN_CHECK(!seen_metadata_, where_, "duplicate key: '__metadata__' appears twice in the header");
          seen_metadata_ = true;
        } else {
          TERN_CHECK(names_.insert(k).second, where_, "duplicate tensor name: '", k,
                     "' appears twice in the header");
        }
        top_key_ = std::move(k);
        return true;
      case Frame::metadata:
        TERN_CHECK(!out_.metadata.count(k), where_, "invalid __metadata__: duplicate key '", k, "'");
        meta_key_ = std::move(k);
        return true;
      case Frame::tensor: {
        field_ = k == "dtype" ? Field::dtype
                 : k == "shape" ? Field::shape
                 : k == "data_offsets" ? Field::data_offsets
                                       : Field::unknown;
        const auto bit = static_cast<uint8_t>(field_);
        TERN_CHECK(!(fields_ & bit), where_, "duplicate field: tensor '", cur_.name, "' has two '", k, "' fields");
        fields_ |= bit;
        return true;
      }
      default: return true;
    }
  }
  bool end_object() {
    const Frame f = frames_.back();
    frames_.pop_back();
    if (f == Frame::tensor) finish_tensor();
    return true;
  }
  bool end_array() {
    const Frame f = frames_.back();
    frames_.pop_back();
    if (f == Frame::offsets) {
      TERN_CHECK(n_offsets_ == 2, where_, "invalid data_offsets: tensor '", cur_.name,
                 "': must be exactly two non-negative integers [begin, end], got ", n_offsets_, " entr",
                 n_offsets_ == 1 ? "y" : "ies");
      TERN_CHECK(cur_.begin <= cur_.end, where_, "invalid data_offsets: tensor '", cur_.name, "': begin ",
                 cur_.begin, " is past end ", cur_.end);
    }
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& ex) {
    std::string msg = ex.what();
    if (msg.rfind("[json.exception", 0) == 0) {
      const auto close = msg.find("] ");
      if (close != std::string::npos) msg = msg.substr(close + 2);
    }
    TERN_FAIL(where_, "header is not valid JSON: ", msg);
  }

 private:
  enum class Slot { root, metadata, tensor, metadata_value, dtype, shape, offsets, ignored, shape_elem,
                    offset_elem, skip };

  // What the value being read now belongs to.
  Slot slot() const {
    if (frames_.empty()) return Slot::root;
    switch (frames_.back()) {
      case Frame::top: return top_key_ == "__metadata__" ? Slot::metadata : Slot::tensor;
      case Frame::metadata: return Slot::metadata_value;
      case Frame::tensor:
        switch (field_) {
          case Field::dtype: return Slot::dtype;
          case Field::shape: return Slot::shape;
          case Field::data_offsets: return Slot::offsets;
          default: return Slot::ignored;
        }
      case Frame::shape: return Slot::shape_elem;
      case Frame::offsets: return Slot::offset_elem;
      case Frame::skip: return Slot::skip;
    }
    return Slot::skip;
  }
  bool in_integer_slot() const {
    const Slot s = slot();
    return s == Slot::shape_elem || s == Slot::offset_elem;
  }

  void enter() {
    TERN_CHECK(frames_.size() < static_cast<size_t>(kMaxJsonDepth), where_,
               "header nesting too deep: more than ", kMaxJsonDepth, " levels of arrays and objects");
  }

  bool is_negative_zero() {
    const size_t ordinal = int_ordinal_++;
    while (neg_zero_next_ < neg_zero_.size() && neg_zero_[neg_zero_next_] < ordinal) ++neg_zero_next_;
    return neg_zero_next_ < neg_zero_.size() && neg_zero_[neg_zero_next_] == ordinal;
  }

  [[noreturn]] void fail_number(const std::string& what) {
    if (slot() == Slot::shape_elem)
      TERN_FAIL(where_, "invalid shape: tensor '", cur_.name, "': shape[", cur_.shape.size(), "] ", what);
    TERN_FAIL(where_, "invalid data_offsets: tensor '", cur_.name, "': data_offsets[", n_offsets_, "] ", what,
              "; data_offsets must be exactly two non-negative integers");
  }

  bool integer(bool negative, uint64_t value, int64_t signed_value, bool neg_zero = false,
               const std::string* raw = nullptr) {
    if (!in_integer_slot()) return scalar("an integer", nullptr);
    if (negative || neg_zero) {
      std::string shown = raw ? *raw : neg_zero ? "-0" : std::to_string(signed_value);
      fail_number("is negative (" + shown + ")");
    }
    if (slot() == Slot::shape_elem) {
      if (value > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        fail_number("is too large (" + std::to_string(value) + ")");
      cur_.shape.push_back(static_cast<int64_t>(value));
    } else {
      if (n_offsets_ == 0)
        cur_.begin = value;
      else if (n_offsets_ == 1)
        cur_.end = value;
      else
        TERN_FAIL(where_, "invalid data_offsets: tensor '", cur_.name,
                  "': must be exactly two non-negative integers [begin, end], got more");
      ++n_offsets_;
    }
    return true;
  }

  // A value of the wrong kind for its slot (or any scalar where it is simply ignored).
  bool scalar(const char* kind, const std::string* raw) {
    switch (slot()) {
      case Slot::ignored:
      case Slot::skip: return true;
      case Slot::root: TERN_FAIL(where_, "header is not a JSON object (it is ", kind, ")");
      case Slot::metadata:
        TERN_FAIL(where_, "invalid __metadata__: must be an object of string → string, got ", kind);
      case Slot::metadata_value:
        TERN_FAIL(where_, "invalid __metadata__: the value of key '", meta_key_, "' is ", kind,
                  ", not a string");
      case Slot::tensor:
        TERN_FAIL(where_, "tensor entry is not an object: tensor '", top_key_, "' is ", kind,
                  ", expected {\"dtype\", \"shape\", \"data_offsets\"}");
      case Slot::dtype: TERN_FAIL(where_, "invalid dtype: tensor '", cur_.name, "': dtype is ", kind, ", not a string");
      case Slot::shape:
        TERN_FAIL(where_, "invalid shape: tensor '", cur_.name, "': shape is ", kind, ", not an array");
      case Slot::offsets:
        TERN_FAIL(where_, "invalid data_offsets: tensor '", cur_.name, "': data_offsets is ", kind,
                  ", not an array of two non-negative integers");
      case Slot::shape_elem:
      case Slot::offset_elem:
        if (raw) fail_number(std::string("is not an integer (") + *raw + ")");
        fail_number(std::string("is ") + kind + ", not a non-negative integer");
    }
    return true;
  }

  void finish_tensor() {
    static constexpr std::pair<Field, const char*> kRequired[] = {
        {Field::dtype, "dtype"}, {Field::shape, "shape"}, {Field::data_offsets, "data_offsets"}};
    for (const auto& [bit, name] : kRequired)
      TERN_CHECK(fields_ & static_cast<uint8_t>(bit), where_, "missing field: tensor '", cur_.name, "' has no '",
                 name, "'");
    const uint64_t nbytes = checked_nbytes(cur_.shape, cur_.dtype, where_, cur_.name);
    TERN_CHECK(nbytes == cur_.end - cur_.begin, where_, "size mismatch: tensor '", cur_.name, "': shape ",
               shape_str(cur_.shape), " of ", dtype_name(cur_.dtype), " is ", nbytes, " bytes, but data_offsets [",
               cur_.begin, ", ", cur_.end, "] hold ", cur_.end - cur_.begin);
    out_.tensors.push_back(std::move(cur_));
    cur_ = TensorInfo{};
  }

  std::string_view where_;
  Header& out_;
  std::vector<Frame> frames_;
  std::string top_key_, meta_key_;
  TensorInfo cur_;
  Field field_ = Field::unknown;
  uint8_t fields_ = 0;
  int n_offsets_ = 0;
  bool seen_metadata_ = false;
  std::unordered_set<std::string> names_;
  std::vector<size_t> neg_zero_;
  size_t neg_zero_next_ = 0;
  size_t int_ordinal_ = 0;
};

// The tensors must tile [0, end) of the data buffer exactly, in offset order.
uint64_t check_tiling(const std::vector<TensorInfo>& tensors, std::string_view where) {
  std::vector<uint32_t> order(tensors.size());
  std::iota(order.begin(), order.end(), 0u);
  auto before = [&](uint32_t a, uint32_t b) {
    const TensorInfo &x = tensors[a], &y = tensors[b];
    return x.begin != y.begin ? x.begin < y.begin : x.end < y.end;
  };
  // Writers list tensors in offset order; sort only when they don't.
  if (!std::is_sorted(order.begin(), order.end(), before)) std::stable_sort(order.begin(), order.end(), before);
  uint64_t pos = 0;
  const TensorInfo* prev = nullptr;
  for (const uint32_t i : order) {
    const TensorInfo& t = tensors[i];
    if (t.begin < pos)
      TERN_FAIL(where, "overlapping tensors: tensor '", t.name, "' [", t.begin, ", ", t.end,
                ") starts inside tensor '", prev->name, "' [", prev->begin, ", ", prev->end, ")");
    if (t.begin > pos) {
      if (!prev)
        TERN_FAIL(where, "data does not start at offset 0: the first tensor, '", t.name, "', begins at ", t.begin);
      TERN_FAIL(where, "gap in the data: bytes [", pos, ", ", t.begin, ") between tensor '", prev->name,
                "' and tensor '", t.name, "' belong to no tensor");
    }
    pos = t.end;
    prev = &t;
  }
  return pos;
}

// ---------------------------------------------------------------- fast path
//
// nlohmann's lexer runs at about 50 MB/s, too slow to open a 1,000-tensor checkpoint
// (a 100 KB header) in well under a millisecond. Headers as writers produce them use a
// tiny subset of JSON: plain strings, unsigned integers, three known fields. FastHeader
// parses exactly that subset and declines (returns false, having thrown nothing) on
// anything else, including anything invalid; the nlohmann parser then reads the header
// again and reports the precise error. So both paths accept the same headers with the
// same result, which the fuzzer checks on every input (parse_header(..., false)).

class FastHeader {
 public:
  FastHeader(const char* s, size_t n) : p_(s), end_(s + n) {}

  bool parse(Header& out) {
    // An entry takes at least ~50 bytes; past 64Ki entries, let the vector grow.
    out.tensors.reserve(std::min<size_t>(static_cast<size_t>(end_ - p_) / 64, size_t{1} << 16));
    ws();
    if (!eat('{')) return false;
    ws();
    if (eat('}')) return finish(out);
    for (;;) {
      std::string_view key;
      if (!string(key)) return false;
      ws();
      if (!eat(':')) return false;
      ws();
      if (key == "__metadata__") {
        if (seen_metadata_ || !metadata(out)) return false;
        seen_metadata_ = true;
      } else {
        if (!tensor(key, out)) return false;
      }
      ws();
      if (eat(',')) {
        ws();
        continue;
      }
      if (!eat('}')) return false;
      return finish(out);
    }
  }

 private:
  void ws() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
  }
  template <size_t N>
  bool literal(const char (&lit)[N]) {
    if (static_cast<size_t>(end_ - p_) >= N - 1 && std::memcmp(p_, lit, N - 1) == 0) {
      p_ += N - 1;
      return true;
    }
    return false;
  }
  bool eat(char c) {
    if (p_ < end_ && *p_ == c) {
      ++p_;
      return true;
    }
    return false;
  }
  // A string without escapes or control characters (the header is valid UTF-8 already).
  bool string(std::string_view& out) {
    if (!eat('"')) return false;
    const char* b = p_;
    // Eight bytes at a time while none is '"', '\\' or below 0x20.
    constexpr uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
    while (end_ - p_ >= 8) {
      uint64_t w;
      std::memcpy(&w, p_, 8);
      const uint64_t q = w ^ (ones * '"'), bs = w ^ (ones * '\\');
      const uint64_t special = ((q - ones) & ~q) | ((bs - ones) & ~bs) | ((w - ones * 0x20) & ~w);
      if (special & high) break;
      p_ += 8;
    }
    while (p_ < end_) {
      const auto c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        out = std::string_view(b, static_cast<size_t>(p_ - b));
        ++p_;
        return true;
      }
      if (c == '\\' || c < 0x20) return false;
      ++p_;
    }
    return false;
  }
  // 0 or [1-9][0-9]*, at most `max`; a following '.', 'e' or digit declines.
  bool uint(uint64_t& v, uint64_t max) {
    if (p_ >= end_ || *p_ < '0' || *p_ > '9') return false;
    if (*p_ == '0') {
      ++p_;
      v = 0;
    } else {
      v = 0;
      int digits = 0;
      while (p_ < end_ && *p_ >= '0' && *p_ <= '9') {
        if (++digits > 19) {  // up to 19 digits cannot overflow
          if (__builtin_mul_overflow(v, uint64_t{10}, &v) || __builtin_add_overflow(v, uint64_t(*p_ - '0'), &v))
            return false;
        } else {
          v = v * 10 + static_cast<uint64_t>(*p_ - '0');
        }
        ++p_;
      }
    }
    if (p_ < end_ && ((*p_ >= '0' && *p_ <= '9') || *p_ == '.' || *p_ == 'e' || *p_ == 'E')) return false;
    return v <= max;
  }
  bool metadata(Header& out) {
    if (!eat('{')) return false;
    ws();
    if (eat('}')) return true;
    for (;;) {
      std::string_view k, v;
      if (!string(k)) return false;
      ws();
      if (!eat(':')) return false;
      ws();
      if (!string(v)) return false;
      if (!out.metadata.emplace(std::string(k), std::string(v))) return false;
      ws();
      if (eat(',')) {
        ws();
        continue;
      }
      return eat('}');
    }
  }
  bool tensor(std::string_view name, Header& out) {
    TensorInfo t;
    int seen = 0;
    if (!eat('{')) return false;
    ws();
    for (;;) {
      std::string_view field;
      if (literal("\"dtype\":")) {
        field = "dtype";
      } else if (literal("\"shape\":")) {
        field = "shape";
      } else if (literal("\"data_offsets\":")) {
        field = "data_offsets";
      } else {
        if (!string(field)) return false;
        ws();
        if (!eat(':')) return false;
      }
      ws();
      if (field == "dtype") {
        std::string_view d;
        if ((seen & 1) || !string(d)) return false;
        const auto dt = parse_dtype(d);
        if (!dt) return false;
        t.dtype = *dt;
        seen |= 1;
      } else if (field == "shape") {
        if ((seen & 2) || !eat('[')) return false;
        ws();
        if (!eat(']')) {
          for (;;) {
            uint64_t v;
            if (!uint(v, static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))) return false;
            t.shape.push_back(static_cast<int64_t>(v));
            ws();
            if (eat(',')) {
              ws();
              continue;
            }
            if (!eat(']')) return false;
            break;
          }
        }
        seen |= 2;
      } else if (field == "data_offsets") {
        if ((seen & 4) || !eat('[')) return false;
        ws();
        if (!uint(t.begin, ~uint64_t{0})) return false;
        ws();
        if (!eat(',')) return false;
        ws();
        if (!uint(t.end, ~uint64_t{0})) return false;
        ws();
        if (!eat(']') || t.begin > t.end) return false;
        seen |= 4;
      } else {
        return false;  // unknown fields are legal but rare: the full parser skips them
      }
      ws();
      if (eat(',')) {
        ws();
        continue;
      }
      if (!eat('}') || seen != 7) return false;
      break;
    }
    // The size rule, without throwing.
    uint64_t numel = 1, nbits;
    for (const int64_t d : t.shape)
      if (__builtin_mul_overflow(numel, static_cast<uint64_t>(d), &numel) ||
          numel > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        return false;
    if (__builtin_mul_overflow(numel, static_cast<uint64_t>(dtype_bits(t.dtype)), &nbits) || nbits % 8 ||
        nbits / 8 != t.end - t.begin)
      return false;
    t.name = std::string(name);
    out.tensors.push_back(std::move(t));
    return true;
  }
  bool finish(Header& out) {
    ws();
    if (p_ != end_) return false;
    // Duplicate names decline too (the full parser names the rule).
    return out.build_index();
  }

  const char* p_;
  const char* end_;
  bool seen_metadata_ = false;
};

}  // namespace

uint64_t header_length(const uint8_t* data, uint64_t file_size, std::string_view where) {
  TERN_CHECK(file_size >= 8, where, "file too short: ", file_size,
             " bytes, but a safetensors file starts with an 8-byte header length");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | data[i];
  TERN_CHECK(n <= kMaxHeaderSize, where, "header too large: the header length is ", n, " bytes; the limit is ",
             kMaxHeaderSize);
  TERN_CHECK(n <= file_size - 8, where, "header runs past the end of the file: header length ", n, " needs ", n + 8,
             " bytes, but the file has ", file_size);
  return n;
}

Header parse_header(const uint8_t* data, size_t size, std::string_view where, bool fast) {
  return parse_header_prefix(data, size, size, where, fast);
}

Header parse_header_prefix(const uint8_t* data, size_t available, uint64_t size, std::string_view where, bool fast) {
  const uint64_t n = header_length(data, size, where);
  TERN_CHECK(available >= 8 + n, where, "internal: parse_header_prefix given ", available, " of ", 8 + n,
             " header bytes");
  const uint8_t* h = data + 8;

  size_t bad_at = 0;
  const char* why = "";
  TERN_CHECK(utf8::is_valid(std::string_view(reinterpret_cast<const char*>(h), n), &bad_at, &why), where, "header is not valid UTF-8: ", why, " at header byte ",
             bad_at);
  // nlohmann skips a leading byte-order mark; the reference does not.
  TERN_CHECK(!(n >= 3 && h[0] == 0xEF && h[1] == 0xBB && h[2] == 0xBF), where,
             "header is not valid JSON: it starts with a UTF-8 byte-order mark");
  // nlohmann stops at a NUL byte as if the input ended there; JSON allows none anywhere
  // (inside strings it must be escaped), and the reference refuses it.
  if (const void* nul = std::memchr(h, 0, n))
    TERN_FAIL(where, "header is not valid JSON: NUL byte at header byte ", static_cast<const uint8_t*>(nul) - h,
              " (padding must be spaces)");

  Header out;
  out.header_size = n;
  const char* s = reinterpret_cast<const char*>(h);
  if (!fast || !FastHeader(s, n).parse(out)) {
    out = Header{};
    out.header_size = n;
    std::vector<size_t> neg_zero;
    if (n >= 2 && std::string_view(s, n).find("-0") != std::string_view::npos) neg_zero = negative_zero_ordinals(s, n);
    HeaderSax sax(where, out, std::move(neg_zero));
    json::sax_parse(s, s + n, &sax, json::input_format_t::json, /*strict=*/true, /*ignore_comments=*/false);
    TERN_CHECK(out.build_index(), where, "duplicate tensor name");  // the parser has refused them already
  }

  const uint64_t end = check_tiling(out.tensors, where);
  out.data_size = size - 8 - n;
  TERN_CHECK(end <= out.data_size, where, "truncated data: the tensors need ", end,
             " bytes of data, but the file holds only ", out.data_size, " after the header");
  TERN_CHECK(end == out.data_size, where, "trailing bytes: ", out.data_size - end,
             " bytes follow the last tensor's data (a polyglot file?); the tensors end at data offset ", end);
  return out;
}

}  // namespace tern::io
