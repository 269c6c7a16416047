#pragma once
// Seedable random numbers. The engine is std::mt19937_64, whose output the C++
// standard fixes; the uniform and normal transforms are our own, so the same
// seed gives the same numbers with every compiler and standard library.

#include <cstdint>
#include <random>
#include <string>

namespace tern {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0x5eed) : engine_(seed), seed_(seed) {}

  void manual_seed(uint64_t seed) {
    engine_.seed(seed);
    seed_ = seed;
    has_spare_ = false;
  }
  uint64_t seed() const { return seed_; }

  uint64_t next_u64() { return engine_(); }
  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }
  // Standard normal, Box-Muller (both values used).
  double normal();

  // The whole state, for checkpoints that must resume exactly.
  std::string state() const;
  void set_state(const std::string& s);

 private:
  std::mt19937_64 engine_;
  uint64_t seed_;
  bool has_spare_ = false;
  double spare_ = 0.0;
};

// The process-wide generator used when an op is not given one.
Generator& default_generator();
void manual_seed(uint64_t seed);

}  // namespace tern
