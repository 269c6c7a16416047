#include <tern/core/error.h>
#include <tern/quant/packing.h>

#include <array>
#include <atomic>
#include <cstring>

namespace tern::quant {

namespace {

constexpr std::array<int, 5> kPow3 = {1, 3, 9, 27, 81};

// Base-3 decoding table: byte -> five codes (valid for bytes <= 242).
struct Base3Table {
  std::array<std::array<int8_t, 5>, 243> v;
  Base3Table() {
    for (int b = 0; b < 243; ++b) {
      int x = b;
      for (int j = 0; j < 5; ++j) {
        v[b][j] = static_cast<int8_t>(x % 3 - 1);
        x /= 3;
      }
    }
  }
};
const Base3Table& base3_table() {
  static const Base3Table t;
  return t;
}

// Base-4 decoding table: byte -> four codes, and whether the byte holds code 3 (invalid).
struct Base4Table {
  std::array<std::array<int8_t, 4>, 256> v;
  std::array<bool, 256> has3;
  Base4Table() {
    for (int b = 0; b < 256; ++b) {
      has3[b] = false;
      for (int j = 0; j < 4; ++j) {
        const int c = (b >> (2 * j)) & 3;
        v[b][j] = static_cast<int8_t>(c - 1);
        has3[b] = has3[b] || c == 3;
      }
    }
  }
};

const Base4Table& base4_table() {
  static const Base4Table t;
  return t;
}

}  // namespace

std::string packing_name(Packing p) { return p == Packing::base4 ? "base4" : "base3"; }

Packing packing_from_name(const std::string& s) {
  if (s == "base4") return Packing::base4;
  if (s == "base3") return Packing::base3;
  TERN_FAIL("packing", "unknown packing '", s, "' (expected base4 or base3)");
}

size_t packed_size(int64_t n, Packing p) {
  const int64_t per = p == Packing::base4 ? 4 : 5;
  return static_cast<size_t>((n + per - 1) / per);
}

std::vector<uint8_t> pack_ternary(const Tensor& values_i8, Packing p) {
  TERN_CHECK(values_i8.defined(), "pack_ternary", "values are undefined");
  TERN_CHECK(values_i8.dtype() == kInt8, "pack_ternary", "values must be i8, got ", dtype_name(values_i8.dtype()));
  TERN_CHECK(values_i8.device().is_cpu(), "pack_ternary", "values must be on the CPU");
  Tensor v = values_i8.contiguous();
  const int64_t n = v.numel();
  const int8_t* src = v.data_ptr<int8_t>();
  std::vector<uint8_t> out(packed_size(n, p), 0);
  const int64_t per = p == Packing::base4 ? 4 : 5;
  const int64_t nbytes = static_cast<int64_t>(out.size());
  std::atomic<int64_t> bad{n};
#pragma omp parallel for schedule(static) if (nbytes > 65536)
  for (int64_t j = 0; j < nbytes; ++j) {
    unsigned byte = 0;
    const int64_t b = j * per, e = std::min(n, b + per);
    for (int64_t i = b; i < e; ++i) {
      const int c = src[i] + 1;
      if (c < 0 || c > 2) {
        int64_t cur = bad.load();
        while (i < cur && !bad.compare_exchange_weak(cur, i)) {
        }
        continue;
      }
      byte += p == Packing::base4 ? static_cast<unsigned>(c) << (2 * (i - b)) : static_cast<unsigned>(c * kPow3[i - b]);
    }
    out[static_cast<size_t>(j)] = static_cast<uint8_t>(byte);
  }
  const int64_t first_bad = bad.load();
  TERN_CHECK(first_bad == n, "pack_ternary", "value ", static_cast<int>(src[first_bad]), " at flat index ", first_bad,
             " is not ternary (-1, 0 or 1)");
  return out;
}

Tensor unpack_ternary(const uint8_t* data, size_t nbytes, const Shape& shape, Packing p) {
  for (int64_t d : shape) TERN_CHECK(d >= 0, "unpack_ternary", "negative dim in shape ", shape_str(shape));
  const int64_t n = numel_of(shape);
  const size_t want = packed_size(n, p);
  TERN_CHECK(nbytes == want, "unpack_ternary", "expected ", want, " bytes for shape ", shape_str(shape), " with ",
             packing_name(p), " packing, got ", nbytes);
  TERN_CHECK(data || nbytes == 0, "unpack_ternary", "data is null");
  Tensor out = empty(shape, {.dtype = kInt8});
  int8_t* dst = out.data_ptr<int8_t>();
  const int64_t per = p == Packing::base4 ? 4 : 5;
  const int64_t nb = static_cast<int64_t>(nbytes);
  const auto& table = base3_table();
  const auto& table4 = base4_table();
  std::atomic<int64_t> bad{nb};
#pragma omp parallel for schedule(static) if (nb > 65536)
  for (int64_t j = 0; j < nb; ++j) {
    const unsigned byte = data[j];
    const int64_t b = j * per, cnt = std::min(n - b, per);
    bool ok = true;
    if (p == Packing::base4 && cnt == 4) {
      ok = !table4.has3[byte];
      std::memcpy(dst + b, table4.v[byte].data(), 4);
    } else if (p == Packing::base4) {
      for (int64_t k = 0; k < per; ++k) {
        const unsigned c = (byte >> (2 * k)) & 3u;
        if (k < cnt) {
          ok = ok && c != 3u;
          dst[b + k] = static_cast<int8_t>(static_cast<int>(c) - 1);
        } else {
          ok = ok && c == 0u;  // padding must be zero
        }
      }
    } else {
      ok = byte < static_cast<unsigned>(kPow3[static_cast<size_t>(cnt - 1)] * 3);  // < 3^cnt
      if (ok) std::memcpy(dst + b, table.v[byte].data(), static_cast<size_t>(cnt));
    }
    if (!ok) {
      int64_t cur = bad.load();
      while (j < cur && !bad.compare_exchange_weak(cur, j)) {
      }
    }
  }
  const int64_t first_bad = bad.load();
  if (first_bad < nb)
    TERN_FAIL("unpack_ternary", "invalid ", packing_name(p), " byte ", static_cast<int>(data[first_bad]), " at offset ",
              first_bad,
              p == Packing::base4 ? " (code 3, or non-zero padding in the last byte)"
                                  : " (greater than 242, or digits beyond the last value)");
  return out;
}

}  // namespace tern::quant
