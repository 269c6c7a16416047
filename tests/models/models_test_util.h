#pragma once
// Shared helpers for the tokenizer and data tests.

#include <string>

#include "../test_util.h"

namespace tern::modelstest {

inline std::string data_dir() { return std::string(TERN_SOURCE_DIR) + "/data"; }

using testutil::read_file;
using testutil::TempDir;
using testutil::write_file;

}  // namespace tern::modelstest
