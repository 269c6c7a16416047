#pragma once
// tern::Error and the one check macro every public entry point uses.

#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>

namespace tern {

// Every user-facing failure is a tern::Error whose message starts with "[where] ",
// where `where` names the op, file or key at fault.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& msg) : std::runtime_error(msg) {}
};

namespace detail {
template <typename... Args>
std::string concat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
template <typename... Args>
[[noreturn]] void fail(std::string_view where, const Args&... args) {
  throw Error(concat("[", where, "] ", args...));
}
}  // namespace detail

}  // namespace tern

// TERN_CHECK(cond, "matmul", "inner dimensions differ: ", a, " @ ", b);
#define TERN_CHECK(cond, where, ...)                          \
  do {                                                        \
    if (!(cond)) [[unlikely]]                                 \
      ::tern::detail::fail((where)__VA_OPT__(, ) __VA_ARGS__); \
  } while (0)

#define TERN_FAIL(where, ...) ::tern::detail::fail((where)__VA_OPT__(, ) __VA_ARGS__)
