// Loading for inference: built without initialising, weights held once as views
// of the file's mapping, and every way a checkpoint can be wrong still an
// error.

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include <tern/core/io/safetensors.h>
#include <tern/models/gpt2/hf.h>
#include <tern/tern.h>

#include "../test_util.h"

using namespace tern;
using testutil::expect_error;
namespace fs = std::filesystem;

namespace {

const std::string kDir = std::string(TERN_SOURCE_DIR) + "/tests/fixtures/tiny_gpt2";

// Bit for bit, NaNs and signed zeros included.
bool same_bits(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
  const Tensor x = a.contiguous(), y = b.contiguous();
  return std::memcmp(x.raw_data(), y.raw_data(), static_cast<size_t>(x.numel()) * x.element_size()) == 0;
}

// A copy of the fixture directory whose model.safetensors is `tensors`.
std::string fixture_copy(const std::string& name, const std::map<std::string, Tensor>& tensors) {
  const std::string dir = testing::TempDir() + "/tern_lean_" + name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  fs::copy_file(kDir + "/config.json", dir + "/config.json");
  io::save(dir + "/model.safetensors", tensors);
  return dir;
}

}  // namespace

TEST(LeanLoad, InferenceLoadMatchesTheCheckpointBitForBit) {
  const auto file = io::SafetensorsFile::open(kDir + "/model.safetensors");
  auto model = gpt2::load_hf(kDir, {.inference = true});
  for (const auto& [name, t] : model->state_dict()) {
    const std::string key = gpt2::hf_name(name);
    ASSERT_TRUE(file.contains(key)) << key;
    EXPECT_TRUE(same_bits(gpt2::to_hf_layout(name, t), file.tensor(key))) << name;
  }
  // And it computes what the copying load computes.
  auto copied = gpt2::load_hf(kDir);
  const Tensor idx = from_vector(std::vector<int64_t>{1, 5, 9, 200, 7, 3}, {1, 6});
  NoGradGuard ng;
  const Tensor a = model->forward(idx), b = copied->forward(idx);
  EXPECT_LT(amax(abs(sub(a, b))).item<double>(), 1e-5 * amax(abs(b)).item<double>());
}

TEST(LeanLoad, InferenceWeightsAreViewsOfTheMappingAndWritesStayInTheProcess) {
  auto model = gpt2::load_hf(kDir, {.inference = true});
  const auto file = io::SafetensorsFile::open(kDir + "/model.safetensors");
  const auto st = model->state_dict();
  auto find = [&](const std::string& n) {
    for (const auto& [name, t] : st)
      if (name == n) return t;
    ADD_FAILURE() << n << " not in the state dict";
    return Tensor();
  };
  // A Conv1D weight is the transposed view of the file's [in, out] bytes; no
  // copy.
  Tensor w = find("h.0.attn.c_attn.weight");
  EXPECT_FALSE(w.is_contiguous());
  EXPECT_TRUE(w.t().is_contiguous());
  EXPECT_EQ(w.storage()->nbytes(), file.raw_bytes("transformer.h.0.attn.c_attn.weight").size());
  // The tied lm_head is wte itself: one tensor for both.
  EXPECT_EQ(model->named_parameters().size(), st.size());

  // The mapping is private: a write changes this process's weights and never
  // the file.
  const Tensor before = file.tensor("transformer.h.0.attn.c_attn.weight").clone();
  {
    NoGradGuard ng;
    w.fill_(0.5);
  }
  EXPECT_EQ(w.t().contiguous().data_ptr<float>()[0], 0.5f);
  const auto reread = io::load(kDir + "/model.safetensors", {.copy = true});
  EXPECT_TRUE(same_bits(reread.tensors.at("transformer.h.0.attn.c_attn.weight"), before));
}

TEST(LeanLoad, AMissingTensorIsAnErrorNamingIt) {
  auto all = io::load(kDir + "/model.safetensors", {.copy = true}).tensors;
  all.erase("transformer.h.1.ln_2.weight");
  const std::string dir = fixture_copy("missing", all);
  for (bool inference : {false, true})
    expect_error([&] { gpt2::load_hf(dir, {.inference = inference}); }, "h.1.ln_2.weight");
  fs::remove_all(dir);
}

TEST(LeanLoad, ATruncatedFileIsAnErrorNotACrash) {
  const auto all = io::load(kDir + "/model.safetensors", {.copy = true}).tensors;
  const std::string dir = fixture_copy("truncated", all);
  const std::string path = dir + "/model.safetensors";
  fs::resize_file(path, fs::file_size(path) - 100);
  for (bool inference : {false, true}) expect_error([&] { gpt2::load_hf(dir, {.inference = inference}); }, path);
  fs::remove_all(dir);
}

TEST(LeanLoad, AnFp16CheckpointIsConvertedOnceAndMatches) {
  std::map<std::string, Tensor> half;
  for (const auto& [k, t] : io::load(kDir + "/model.safetensors", {.copy = true}).tensors)
    half.emplace(k, t.to(kFloat16));
  const std::string dir = fixture_copy("fp16", half);
  auto model = gpt2::load_hf(dir, {.inference = true});
  const auto file = io::SafetensorsFile::open(dir + "/model.safetensors");
  for (const auto& [name, t] : model->state_dict()) {
    EXPECT_EQ(t.dtype(), kFloat32) << name;
    EXPECT_TRUE(same_bits(gpt2::to_hf_layout(name, t), file.tensor(gpt2::hf_name(name)).to(kFloat32))) << name;
  }
  fs::remove_all(dir);
}

TEST(LeanLoad, ReleasedPagesReadBackFromTheFile) {
  const auto file = io::SafetensorsFile::open(kDir + "/model.safetensors");
  const Tensor view = file.tensor("transformer.wte.weight");
  const Tensor copy = view.clone();
  EXPECT_TRUE(file.release(view));
  EXPECT_TRUE(same_bits(view, copy));
  EXPECT_FALSE(file.release(copy));  // not a view of this file: nothing to give back
  EXPECT_FALSE(file.release(Tensor()));
}

TEST(LeanLoad, SharingKeepsHandlesAndCopiesWhatItCannotShare) {
  nn::Linear lin(4, 3);
  Tensor handle = lin.weight;  // held elsewhere, as an optimizer would
  const Tensor w = randn({3, 4});
  const Tensor b64 = randn({3}).to(kFloat64);
  std::vector<Tensor> copied;
  nn::LoadStateOptions opts;
  opts.share = true;
  opts.copied = [&](const Tensor& src) { copied.push_back(src); };
  lin.load_state_dict({{"weight", w}, {"bias", b64}}, opts);
  EXPECT_EQ(handle.storage(),
            w.storage());  // shared: the same memory, seen through the old handle
  EXPECT_TRUE(handle.requires_grad());
  EXPECT_EQ(lin.bias.dtype(), kFloat32);  // another dtype: copied and converted
  EXPECT_NE(lin.bias.storage(), b64.storage());
  ASSERT_EQ(copied.size(), 1u);
  EXPECT_EQ(copied[0].storage(), b64.storage());
}

TEST(LeanLoad, ConvertingCopiesGoInSlicesAlongTheSourcesOutermostDim) {
  nn::Linear lin(1024, 2048, {.bias = false});
  // A 16 MB fp64 source read as a transposed view, as a Conv1D weight is: its outermost
  // dim in memory is dim 1, so that is the one sliced.
  const Tensor file_layout = randn({1024, 2048}).to(kFloat64);
  const Tensor src = file_layout.t();
  int64_t calls = 0, covered = 0;
  nn::LoadStateOptions opts;
  opts.copied = [&](const Tensor& s) {
    ++calls;
    covered += s.numel();
    EXPECT_TRUE(s.t().is_contiguous());  // whole rows of the file's layout
  };
  lin.load_state_dict({{"weight", src}}, opts);
  EXPECT_GT(calls, 1);
  EXPECT_EQ(covered, src.numel());
  EXPECT_TRUE(same_bits(lin.weight, src.to(kFloat32)));
}
