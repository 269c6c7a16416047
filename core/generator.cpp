#include <tern/core/generator.h>

#include <cmath>
#include <numbers>
#include <sstream>

#include <tern/core/error.h>

namespace tern {

double Generator::normal() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  double u1 = uniform();
  while (u1 <= 0.0) u1 = uniform();  // log(0) would be -inf
  const double u2 = uniform();
  const double r = std::sqrt(-2.0 * std::log(u1));
  const double theta = 2.0 * std::numbers::pi * u2;
  spare_ = r * std::sin(theta);
  has_spare_ = true;
  return r * std::cos(theta);
}

std::string Generator::state() const {
  std::ostringstream os;
  os.precision(17);
  os << seed_ << ' ' << has_spare_ << ' ' << spare_ << ' ' << engine_;
  return os.str();
}

void Generator::set_state(const std::string& s) {
  std::istringstream is(s);
  Generator g;
  is >> g.seed_ >> g.has_spare_ >> g.spare_ >> g.engine_;
  TERN_CHECK(!is.fail(), "Generator", "malformed generator state");
  *this = g;
}

Generator& default_generator() {
  static Generator gen(0);
  return gen;
}

void manual_seed(uint64_t seed) { default_generator().manual_seed(seed); }

}  // namespace tern
