#pragma once
// Small helpers shared by the train / generate / eval drivers: devices, number and
// duration formatting, and a streaming UTF-8 writer.

#include <chrono>
#include <cmath>
#include <cstdio>
#include <ostream>
#include <string>
#include <string_view>

#include <tern/backends/backend.h>
#include <tern/core/device.h>
#include <tern/core/error.h>
#include <tern/core/utf8.h>

namespace tern::cli {

// "cpu", "cuda" or "cuda:N". CUDA must be built in and present.
inline Device parse_device(const std::string& s, const std::string& where) {
  if (s == "cpu") return kCPU;
  if (s == "cuda" || s.rfind("cuda:", 0) == 0) {
    int index = 0;
    if (s.size() > 5) {
      const std::string n = s.substr(5);
      TERN_CHECK(!n.empty() && n.find_first_not_of("0123456789") == std::string::npos && n.size() < 4, where,
                 "bad device '", s, "' (expected cpu, cuda or cuda:N)");
      index = std::stoi(n);
    }
    TERN_CHECK(cuda_available(), where, "--device ", s,
               ": CUDA is not available (this tern was built without CUDA support, or no GPU is visible); "
               "use --device cpu");
    TERN_CHECK(index < cuda_device_count(), where, "--device ", s, ": only ", cuda_device_count(),
               " CUDA device(s)");
    return cuda(index);
  }
  TERN_FAIL(where, "unknown device '", s, "' (expected cpu, cuda or cuda:N)");
}

// 1234567 -> "1,234,567".
inline std::string grouped(int64_t v) {
  std::string s = std::to_string(v < 0 ? -v : v);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(static_cast<size_t>(i), ",");
  return v < 0 ? "-" + s : s;
}

// 0.8e6 -> "0.80M", 12345 -> "12.3k".
inline std::string human_count(double v) {
  char buf[32];
  if (v >= 1e9) std::snprintf(buf, sizeof buf, "%.2fB", v / 1e9);
  else if (v >= 1e6) std::snprintf(buf, sizeof buf, "%.2fM", v / 1e6);
  else if (v >= 1e4) std::snprintf(buf, sizeof buf, "%.1fk", v / 1e3);
  else std::snprintf(buf, sizeof buf, "%.0f", v);
  return buf;
}

// Seconds -> "m:ss" or "h:mm:ss"; "?" when unknown.
inline std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  const long t = static_cast<long>(std::lround(s));
  char buf[32];
  if (t >= 3600) std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
  else std::snprintf(buf, sizeof buf, "%ld:%02ld", t / 60, t % 60);
  return buf;
}

inline std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

class Stopwatch {
 public:
  Stopwatch() : t0_(std::chrono::steady_clock::now()) {}
  double seconds() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count(); }

 private:
  std::chrono::steady_clock::time_point t0_;
};

// Writes token bytes as they come: a character split across tokens is held back until
// its last byte arrives; bytes that can never form valid UTF-8 are shown as U+FFFD.
class Utf8Stream {
 public:
  explicit Utf8Stream(std::ostream& os) : os_(os) {}
  void write(std::string_view bytes) {
    pending_ += bytes;
    const size_t ready = pending_.size() - utf8::incomplete_tail(pending_);
    if (ready > 0) {
      os_ << utf8::replace_invalid(std::string_view(pending_).substr(0, ready));
      pending_.erase(0, ready);
    }
    os_.flush();
  }
  void finish() {
    if (!pending_.empty()) os_ << utf8::replace_invalid(pending_);
    pending_.clear();
    os_.flush();
  }

 private:
  std::ostream& os_;
  std::string pending_;
};

}  // namespace tern::cli
