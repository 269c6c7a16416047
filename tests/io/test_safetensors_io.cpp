// The safetensors reader's tensors (views, copies, conversions) and the writer: reference
// layout, byte-identical rewriting of files written by the reference library, refusals and
// atomic replacement.

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include <tern/tern.h>

#include "io_test_util.h"

namespace tern::iotest {
namespace {

std::vector<std::string> dir_entries(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<float> fvals(const Tensor& t) {
  Tensor c = t.to(kFloat32).contiguous();
  const float* p = c.data_ptr<float>();
  return std::vector<float>(p, p + c.numel());
}

std::string error_of_call(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// ---------------------------------------------------------------- byte-identical rewriting

class FixtureRoundTrip : public ::testing::TestWithParam<const char*> {};

TEST_P(FixtureRoundTrip, RewriteIsByteIdentical) {
  const std::string path = fixture(GetParam());
  const Bytes original = read_file(path);
  ASSERT_GT(original.size(), 8u) << path;
  const auto f = io::SafetensorsFile::open(path);
  std::map<std::string, Tensor> tensors;
  for (const auto& name : f.names()) tensors.emplace(name, f.tensor(name));
  TempDir dir;
  io::save(dir.file("out.safetensors"), tensors, f.metadata());
  const Bytes written = read_file(dir.file("out.safetensors"));
  ASSERT_EQ(written.size(), original.size());
  EXPECT_TRUE(written == original) << "rewrite of " << GetParam() << " differs";
}

TEST_P(FixtureRoundTrip, LoadSaveIsByteIdentical) {
  const std::string path = fixture(GetParam());
  const auto ckpt = io::load(path, {.copy = true});
  TempDir dir;
  io::save(dir.file("out.safetensors"), ckpt.tensors, ckpt.metadata);
  EXPECT_TRUE(read_file(dir.file("out.safetensors")) == read_file(path));
}

TEST_P(FixtureRoundTrip, RawRewriteIsByteIdentical) {
  const std::string path = fixture(GetParam());
  const auto f = io::SafetensorsFile::open(path);
  std::vector<io::RawTensor> raw;
  for (const auto& t : f.tensors()) {
    const auto bytes = f.raw_bytes(t.name);
    raw.push_back({t.name, t.dtype, t.shape, bytes.data(), bytes.size()});
  }
  const Bytes out = io::serialize(raw, f.metadata());
  EXPECT_TRUE(out == read_file(path));
}

INSTANTIATE_TEST_SUITE_P(ReferenceFiles, FixtureRoundTrip,
                         ::testing::Values("tiny_gpt2/model.safetensors", "tiny_gpt2/fwd_bwd.safetensors",
                                           "tiny_gpt2/params_after_10_steps.safetensors", "bitlinear_ref.safetensors",
                                           "adamw_ref.safetensors"));

TEST(SafetensorsFixture, TinyGpt2Contents) {
  const auto f = io::SafetensorsFile::open(fixture("tiny_gpt2/model.safetensors"));
  EXPECT_EQ(f.metadata().at("format"), "pt");
  const auto& wte = f.info("transformer.wte.weight");
  EXPECT_EQ(wte.dtype, io::SafetensorsDType::F32);
  EXPECT_EQ(wte.shape.size(), 2u);
  EXPECT_EQ(f.data_start() % 8, 0u);
  for (const auto& name : f.names()) EXPECT_TRUE(f.can_view(name)) << name;
}

// ---------------------------------------------------------------- reference layout

TEST(SafetensorsWrite, ReferenceBytesForOneTensor) {
  // The layout the reference library produces for {"attn.0": F32 [1,2,3] = 0..5}: a
  // 64-byte header needs no padding.
  const float data[6] = {0, 1, 2, 3, 4, 5};
  const Bytes out = io::serialize({{"attn.0", io::SafetensorsDType::F32, {1, 2, 3}, data, sizeof data}});
  const std::string header = R"({"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}})";
  Bytes want;
  put_u64(want, 64);
  want.insert(want.end(), header.begin(), header.end());
  want.insert(want.end(), reinterpret_cast<const uint8_t*>(data), reinterpret_cast<const uint8_t*>(data) + 24);
  EXPECT_TRUE(out == want);
}

TEST(SafetensorsWrite, HeaderPaddedWithSpacesToEight) {
  const float data[6] = {0, 1, 2, 3, 4, 5};
  const Bytes out = io::serialize({{"attn0", io::SafetensorsDType::F32, {1, 1, 2, 3}, data, sizeof data}});
  const std::string header = R"({"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}})" + std::string(7, ' ');
  ASSERT_EQ(out.size(), 8 + 72 + 24u);
  EXPECT_EQ(out[0], 72);
  EXPECT_EQ(std::string(out.begin() + 8, out.begin() + 80), header);
}

TEST(SafetensorsWrite, EmptyAndMetadataOnly) {
  const Bytes empty = io::serialize({});
  EXPECT_TRUE(empty == (Bytes{8, 0, 0, 0, 0, 0, 0, 0, '{', '}', ' ', ' ', ' ', ' ', ' ', ' '}));
  const Bytes meta = io::serialize({}, {{"framework", "pt"}});
  EXPECT_EQ(meta[0], 40);
  EXPECT_EQ(std::string(meta.begin() + 8, meta.end()), R"({"__metadata__":{"framework":"pt"}})" + std::string(5, ' '));
}

TEST(SafetensorsWrite, OrderIsDtypeDescendingThenName) {
  const Tensor f32 = tern::zeros({2});
  std::map<std::string, Tensor> m{{"b", f32},
                                  {"a", f32},
                                  {"c", tern::zeros({1}, {.dtype = kInt64})},
                                  {"d", tern::zeros({3}, {.dtype = kUInt8})},
                                  {"e", tern::zeros({1}, {.dtype = kBFloat16})},
                                  {"f", tern::zeros({1}, {.dtype = kFloat64})}};
  TempDir dir;
  io::save(dir.file("o.safetensors"), m, {{"k", "v"}});
  const auto f = io::SafetensorsFile::open(dir.file("o.safetensors"));
  // I64 > F64 > F32 > BF16 > U8 in the reference enum.
  EXPECT_EQ(f.names(), (std::vector<std::string>{"c", "f", "a", "b", "e", "d"}));
  uint64_t pos = 0;
  for (const auto& t : f.tensors()) {
    EXPECT_EQ(t.begin, pos) << t.name;
    pos = t.end;
  }
  const Bytes b = read_file(dir.file("o.safetensors"));
  EXPECT_EQ(std::string(b.begin() + 8, b.begin() + 34), R"({"__metadata__":{"k":"v"},)");
  EXPECT_EQ((f.header_size()) % 8, 0u);
}

TEST(SafetensorsWrite, NamesAreEscapedLikeTheReference) {
  const uint8_t byte = 7;
  const std::string name = "q\"\\\n\t\x01/caf\xc3\xa9\x7f";
  const Bytes out = io::serialize({{name, io::SafetensorsDType::U8, {1}, &byte, 1}});
  const std::string text(out.begin() + 8, out.end());
  EXPECT_NE(text.find(R"("q\"\\\n\t\u0001/caf)" "\xc3\xa9\x7f" R"(":)"), std::string::npos) << text;
  const auto f = io::SafetensorsFile::from_bytes(out.data(), out.size());
  EXPECT_EQ(f.names(), std::vector<std::string>{name});
}

TEST(SafetensorsWrite, NonContiguousIsWrittenContiguous) {
  const Tensor a = tern::arange(0, 6, 1, {.dtype = kFloat32}).reshape({2, 3});
  const Tensor t = a.t();  // [3, 2], strided
  ASSERT_FALSE(t.is_contiguous());
  TempDir dir;
  io::save(dir.file("t.safetensors"), {{"t", t}, {"row", a.select(1, 1)}});
  const auto f = io::SafetensorsFile::open(dir.file("t.safetensors"));
  EXPECT_EQ(f.info("t").shape, (Shape{3, 2}));
  EXPECT_EQ(fvals(f.tensor("t")), (std::vector<float>{0, 3, 1, 4, 2, 5}));
  EXPECT_EQ(fvals(f.tensor("row")), (std::vector<float>{1, 4}));
}

TEST(SafetensorsWrite, EveryTernDtypeRoundTrips) {
  std::map<std::string, Tensor> m;
  for (DType dt : {kFloat32, kFloat64, kFloat16, kBFloat16, kInt8, kUInt8, kInt32, kInt64, kBool})
    m.emplace(std::string(dtype_name(dt)), tern::arange(0, 5, 1, {.dtype = kFloat32}).to(dt));
  m.emplace("scalar", tern::scalar_tensor(-2.5, kFloat64));
  TempDir dir;
  io::save(dir.file("d.safetensors"), m);
  const auto back = io::load(dir.file("d.safetensors"));
  ASSERT_EQ(back.tensors.size(), m.size());
  for (const auto& [name, t] : m) {
    const Tensor& u = back.tensors.at(name);
    EXPECT_EQ(u.dtype(), t.dtype()) << name;
    EXPECT_EQ(u.shape(), t.shape()) << name;
    EXPECT_EQ(fvals(u), fvals(t)) << name;
  }
}

// ---------------------------------------------------------------- writer refusals

TEST(SafetensorsWrite, RefusesTensorNamedMetadata) {
  TempDir dir;
  const std::string msg = error_of_call([&] { io::save(dir.file("x"), {{"__metadata__", tern::zeros({1})}}); });
  EXPECT_NE(msg.find("'__metadata__'"), std::string::npos) << msg;
  EXPECT_TRUE(dir_entries(dir.path()).empty());
}

TEST(SafetensorsWrite, RefusesDuplicateNames) {
  TempDir dir;
  const std::vector<std::pair<std::string, Tensor>> list{
      {"w", tern::zeros({1})}, {"v", tern::zeros({1})}, {"w", tern::zeros({2}, {.dtype = kInt64})}};
  const std::string msg = error_of_call([&] { io::save(dir.file("x"), list); });
  EXPECT_NE(msg.find("duplicate tensor name 'w'"), std::string::npos) << msg;
  EXPECT_TRUE(dir_entries(dir.path()).empty());
}

TEST(SafetensorsWrite, RefusesMetadataThatIsNotUtf8) {
  TempDir dir;
  const std::string msg =
      error_of_call([&] { io::save(dir.file("x"), {{"w", tern::zeros({1})}}, {{"k", "bad \xff value"}}); });
  EXPECT_NE(msg.find("__metadata__ value is not valid UTF-8"), std::string::npos) << msg;
  EXPECT_THROW(io::save(dir.file("x"), {{"w", tern::zeros({1})}}, {{"\xc0\xaf", "v"}}), Error);
  EXPECT_THROW(io::save(dir.file("x"), {{"bad\xed\xa0\x80", tern::zeros({1})}}), Error);
}

TEST(SafetensorsWrite, RefusesUndefinedTensorsAndWrongByteCounts) {
  TempDir dir;
  EXPECT_THROW(io::save(dir.file("x"), {{"w", Tensor()}}), Error);
  const uint8_t b[3] = {};
  EXPECT_THROW(io::serialize({{"w", io::SafetensorsDType::F16, {2}, b, 3}}), Error);
  EXPECT_THROW(io::serialize({{"w", io::SafetensorsDType::F4, {3}, b, 2}}), Error);  // 12 bits
  EXPECT_TRUE(dir_entries(dir.path()).empty());
}

TEST(SafetensorsWrite, RawDtypesRoundTrip) {
  const uint8_t f8[4] = {0x38, 0x40, 0xc0, 0x7f};
  const uint8_t f4[2] = {0x21, 0x43};
  const Bytes out = io::serialize({{"fp8", io::SafetensorsDType::F8_E4M3, {4}, f8, 4},
                                   {"fp4", io::SafetensorsDType::F4, {2, 2}, f4, 2}});
  const auto f = io::SafetensorsFile::from_bytes(out.data(), out.size());
  EXPECT_EQ(f.info("fp8").dtype, io::SafetensorsDType::F8_E4M3);
  EXPECT_EQ(std::memcmp(f.raw_bytes("fp8").data(), f8, 4), 0);
  EXPECT_EQ(std::memcmp(f.raw_bytes("fp4").data(), f4, 2), 0);
  EXPECT_FALSE(f.can_view("fp8"));
  const std::string msg = error_of_call([&] { f.tensor("fp8"); });
  EXPECT_NE(msg.find("raw_bytes()"), std::string::npos) << msg;
}

// ---------------------------------------------------------------- atomic replacement

TEST(SafetensorsWrite, AtomicReplaceKeepsMappedReadersIntact) {
  TempDir dir;
  const std::string p = dir.file("m.safetensors");
  io::save(p, {{"w", tern::full({4}, 1.0)}});
  const auto old_file = io::SafetensorsFile::open(p);
  const Tensor old_view = old_file.tensor("w");
  ASSERT_TRUE(old_file.can_view("w"));
  io::save(p, {{"w", tern::full({4}, 2.0)}});
  EXPECT_EQ(fvals(old_view), (std::vector<float>{1, 1, 1, 1}));  // the old inode, still mapped
  EXPECT_EQ(fvals(io::load(p).tensors.at("w")), (std::vector<float>{2, 2, 2, 2}));
  EXPECT_EQ(dir_entries(dir.path()), std::vector<std::string>{"m.safetensors"});  // no temporaries left
}

TEST(SafetensorsWrite, FailedWriteLeavesTheOldFile) {
  TempDir dir;
  const std::string p = dir.file("m.safetensors");
  io::save(p, {{"w", tern::full({2}, 3.0)}});
  const Bytes before = read_file(p);
  EXPECT_THROW(io::save(p, {{"w", tern::zeros({1})}}, {{"k", "\xff"}}), Error);
  EXPECT_TRUE(read_file(p) == before);
  EXPECT_EQ(dir_entries(dir.path()), std::vector<std::string>{"m.safetensors"});
  EXPECT_THROW(io::save(dir.file("no/such/dir/x.safetensors"), {{"w", tern::zeros({1})}}), Error);
}

TEST(SafetensorsWrite, NewFileModeFollowsUmask) {
  TempDir dir;
  const mode_t old = ::umask(027);
  io::save(dir.file("a"), {{"w", tern::zeros({1})}});
  ::umask(old);
  struct stat st {};
  ASSERT_EQ(::stat(dir.file("a").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
}

TEST(SafetensorsWrite, WritesThroughSymlink) {
  TempDir dir;
  io::save(dir.file("real"), {{"w", tern::zeros({1})}});
  ASSERT_EQ(::symlink("real", dir.file("link").c_str()), 0);
  io::save(dir.file("link"), {{"w", tern::ones({3})}});
  EXPECT_TRUE(std::filesystem::is_symlink(dir.file("link")));
  EXPECT_EQ(io::SafetensorsFile::open(dir.file("real")).info("w").shape, (Shape{3}));
}

// ---------------------------------------------------------------- reading tensors

TEST(SafetensorsRead, ViewIsZeroCopyAndOutlivesTheFile) {
  TempDir dir;
  const std::string p = dir.file("v.safetensors");
  io::save(p, {{"w", tern::arange(0, 8, 1, {.dtype = kFloat32})}});
  Tensor view;
  const void* mapped = nullptr;
  {
    const auto f = io::SafetensorsFile::open(p);
    ASSERT_TRUE(f.can_view("w"));
    view = f.tensor("w");
    mapped = f.raw_bytes("w").data();
    EXPECT_EQ(view.raw_data(), mapped);
  }
  EXPECT_EQ(view.raw_data(), mapped);
  EXPECT_EQ(fvals(view), (std::vector<float>{0, 1, 2, 3, 4, 5, 6, 7}));
}

TEST(SafetensorsRead, WritingAViewNeverTouchesTheFile) {
  TempDir dir;
  const std::string p = dir.file("v.safetensors");
  io::save(p, {{"w", tern::ones({4})}});
  const Bytes before = read_file(p);
  {
    const auto f = io::SafetensorsFile::open(p);
    Tensor v = f.tensor("w");
    v.fill_(7.0);
    EXPECT_EQ(fvals(v), (std::vector<float>{7, 7, 7, 7}));
  }
  EXPECT_TRUE(read_file(p) == before);
}

TEST(SafetensorsRead, ConvertingCopies) {
  TempDir dir;
  const std::string p = dir.file("c.safetensors");
  io::save(p, {{"h", tern::tensor({1.5f, -2.0f, 3.25f}).to(kFloat16)}, {"f", tern::tensor({1.0f, 2.0f})}});
  const auto f = io::SafetensorsFile::open(p);
  const Tensor d = f.tensor("h", kFloat64);
  EXPECT_EQ(d.dtype(), kFloat64);
  EXPECT_EQ(fvals(d), (std::vector<float>{1.5f, -2.0f, 3.25f}));
  const Tensor same = f.tensor("f", kFloat32);
  EXPECT_NE(same.raw_data(), static_cast<const void*>(f.raw_bytes("f").data()));  // a copy
  EXPECT_EQ(fvals(same), (std::vector<float>{1, 2}));
  const auto ck = io::load(p, {.dtype = kFloat32});
  EXPECT_EQ(ck.tensors.at("h").dtype(), kFloat32);
  EXPECT_NE(ck.tensors.at("f").raw_data(), static_cast<const void*>(f.raw_bytes("f").data()));
}

TEST(SafetensorsRead, BoolBytesOtherThanZeroOrOneAreCopiedAsTrue) {
  const std::string h = R"({"b":{"dtype":"BOOL","shape":[4],"data_offsets":[0,4]},)"
                        R"("c":{"dtype":"BOOL","shape":[2],"data_offsets":[4,6]}})";
  Bytes bytes = file_of(h);
  for (uint8_t v : {0, 1, 2, 255, 1, 0}) bytes.push_back(v);
  const auto f = parse(bytes);
  EXPECT_FALSE(f.can_view("b"));
  const Tensor b = f.tensor("b");
  const uint8_t* p = static_cast<const uint8_t*>(b.raw_data());
  EXPECT_EQ((std::vector<int>{p[0], p[1], p[2], p[3]}), (std::vector<int>{0, 1, 1, 1}));
  EXPECT_TRUE(f.can_view("c"));
}

TEST(SafetensorsRead, MissingTensorAndBadPaths) {
  const auto f = parse(file_of("{}"));
  const std::string msg = error_of_call([&] { f.tensor("nope"); });
  EXPECT_NE(msg.find("no tensor named 'nope'"), std::string::npos) << msg;
  const std::string m2 = error_of_call([] { io::SafetensorsFile::open("/nonexistent/x.safetensors"); });
  EXPECT_EQ(m2.rfind("[/nonexistent/x.safetensors] cannot open", 0), 0u) << m2;
  TempDir dir;
  EXPECT_NE(error_of_call([&] { io::SafetensorsFile::open(dir.path()); }).find("not a regular file"), std::string::npos);
  // A FIFO is refused at once rather than blocking in open() until a writer comes; a device likewise.
  const std::string fifo = dir.file("fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_EQ(error_of_call([&] { io::SafetensorsFile::open(fifo); }), "[" + fifo + "] not a regular file (a FIFO)");
  EXPECT_EQ(error_of_call([&] { io::load(fifo, {.copy = true}); }), "[" + fifo + "] not a regular file (a FIFO)");
  EXPECT_EQ(error_of_call([] { io::SafetensorsFile::open("/dev/null"); }), "[/dev/null] not a regular file (a device)");
  {
    std::ofstream(dir.file("empty")).flush();
  }
  EXPECT_NE(error_of_call([&] { io::SafetensorsFile::open(dir.file("empty")); }).find("file too short"),
            std::string::npos);
}

// A general checkpoint, as another writer leaves it: every dtype of the spec, and metadata in an order of that
// writer's choosing (the Python library's varies from run to run). load -> save must give the same bytes.
TEST(SafetensorsRoundTrip, EveryDtypeAndTheMetadataOrderSurviveLoadSave) {
  std::vector<std::vector<uint8_t>> data;
  std::vector<io::RawTensor> raw;
  for (int i = 0; i < io::kSafetensorsDTypeCount; ++i) {
    const auto dt = static_cast<io::SafetensorsDType>(i);
    const Shape shape = {2, 4};  // 8 elements: whole bytes for F4 (4) and F6 (6) too
    std::vector<uint8_t> bytes(static_cast<size_t>(8 * io::dtype_bits(dt) / 8));
    for (size_t j = 0; j < bytes.size(); ++j)
      bytes[j] = static_cast<uint8_t>(dt == io::SafetensorsDType::BOOL ? j % 2 : 7 * j + static_cast<size_t>(i));
    data.push_back(std::move(bytes));
    raw.push_back({"t." + std::string(io::dtype_name(dt)), dt, shape, nullptr, data.back().size()});
  }
  for (size_t i = 0; i < raw.size(); ++i) raw[i].data = data[i].data();
  const io::Metadata meta = {{"format", "pt"}, {"zeta", "1"}, {"alpha", "2"}};
  TempDir dir;
  const std::string path = dir.file("general.safetensors");
  io::save_raw(path, raw, meta);
  const Bytes original = read_file(path);
  const std::string head(original.begin() + 8, original.begin() + 80);
  EXPECT_EQ(head.rfind(R"({"__metadata__":{"format":"pt","zeta":"1","alpha":"2"})", 0), 0u) << head;

  for (const bool copy : {false, true}) {
    const io::Checkpoint ck = io::load(path, {.copy = copy});
    EXPECT_EQ(ck.tensors.size() + ck.raw.size(), raw.size());
    EXPECT_EQ(ck.tensors.at("t.F32").dtype(), kFloat32);
    const io::RawEntry& f8 = ck.raw.at("t.F8_E4M3");
    EXPECT_EQ(f8.dtype, io::SafetensorsDType::F8_E4M3);
    EXPECT_EQ(f8.shape, (Shape{2, 4}));
    EXPECT_EQ(f8.bytes.numel(), 8);
    EXPECT_EQ(ck.raw.at("t.F4").bytes.numel(), 4);
    EXPECT_EQ(std::vector<std::string>({ck.metadata.begin()->first, std::next(ck.metadata.begin())->first}),
              std::vector<std::string>({"format", "zeta"}));
    const std::string out = dir.file(copy ? "copy.safetensors" : "view.safetensors");
    io::save(out, ck);
    EXPECT_TRUE(read_file(out) == original) << "copy=" << copy;
  }

  // Metadata added in code keeps the order it was added in; lookups work by key.
  io::Metadata m;
  m["b"] = "1";
  m.emplace("a", "2");
  EXPECT_FALSE(m.emplace("b", "3"));
  EXPECT_EQ(m.at("b"), "1");
  EXPECT_EQ(m.begin()->first, "b");
  EXPECT_EQ(m.count("a"), 1u);
  EXPECT_TRUE(m.erase("b"));
  EXPECT_EQ(m.at("a"), "2");
  EXPECT_EQ(m.size(), 1u);
  EXPECT_THROW(m.at("b"), std::out_of_range);
  // A name in both maps is refused.
  io::Checkpoint both = io::load(path);
  both.raw.emplace("t.F32", both.raw.at("t.U16"));
  EXPECT_NE(error_of_call([&] { io::save(dir.file("dup.safetensors"), both); }).find("duplicate tensor name 't.F32'"),
            std::string::npos);
  EXPECT_EQ(io::SafetensorsFile::open(path).raw_bytes("t.U16").size(), 16u);
}

TEST(SafetensorsDTypes, NamesBitsAndTernMapping) {
  for (int i = 0; i < io::kSafetensorsDTypeCount; ++i) {
    const auto dt = static_cast<io::SafetensorsDType>(i);
    EXPECT_EQ(io::parse_dtype(io::dtype_name(dt)), dt);
    if (auto t = io::to_tern_dtype(dt)) {
      EXPECT_EQ(io::to_safetensors_dtype(*t), dt);
      EXPECT_EQ(static_cast<int>(dtype_size(*t)) * 8, io::dtype_bits(dt));
    }
  }
  EXPECT_EQ(io::parse_dtype("f32"), std::nullopt);
  EXPECT_EQ(io::parse_dtype("F32 "), std::nullopt);
  EXPECT_EQ(io::dtype_bits(io::SafetensorsDType::F6_E3M2), 6);
  EXPECT_EQ(io::dtype_bits(io::SafetensorsDType::C64), 64);
}


}  // namespace
}  // namespace tern::iotest

namespace tern::iotest {
namespace {

void expect_same_header(const Bytes& b, const std::string& what) {
  const io::Header fast = io::parse_header(b.data(), b.size(), "x", true);
  const io::Header slow = io::parse_header(b.data(), b.size(), "x", false);
  ASSERT_EQ(fast.tensors.size(), slow.tensors.size()) << what;
  EXPECT_EQ(fast.metadata, slow.metadata) << what;
  EXPECT_EQ(fast.data_size, slow.data_size) << what;
  for (size_t i = 0; i < fast.tensors.size(); ++i) {
    const auto &a = fast.tensors[i], &c = slow.tensors[i];
    EXPECT_TRUE(a.name == c.name && a.dtype == c.dtype && a.shape == c.shape && a.begin == c.begin && a.end == c.end)
        << what << ": " << a.name;
    EXPECT_EQ(fast.find(a.name), &a);
  }
}

TEST(SafetensorsParsers, FastPathAgreesWithNlohmann) {
  for (const char* f : {"tiny_gpt2/model.safetensors", "tiny_gpt2/fwd_bwd.safetensors", "bitlinear_ref.safetensors",
                        "adamw_ref.safetensors"})
    expect_same_header(read_file(fixture(f)), f);
  expect_same_header(file_of(" {\"b\" : {\"shape\" :[ 2 ], \"dtype\":\"F32\" ,\"data_offsets\":[8,16]},\n"
                             "\"a\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[0,8]}, \"__metadata__\":{\"k\":\"v\"}} ",
                             16),
                     "spaced, reordered");
  expect_same_header(file_of(R"({"caf\u00e9":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})", 1), "escaped name");
  expect_same_header(file_of(R"({"x":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"more":[1]}})", 1), "extra field");
}

TEST(SafetensorsRead, CopiesAndMovesKeepWorking) {
  auto f = io::SafetensorsFile::open(fixture("adamw_ref.safetensors"));
  io::SafetensorsFile copy = f;
  io::SafetensorsFile moved = std::move(f);
  EXPECT_EQ(copy.info("grads").shape, (Shape{10, 7, 5}));
  EXPECT_EQ(moved.info("p0").nbytes(), 140u);
  EXPECT_TRUE(moved.contains("trajectory"));
  EXPECT_FALSE(moved.contains("nope"));
  EXPECT_EQ(copy.tensor("p0").raw_data(), moved.tensor("p0").raw_data());  // one mapping
}

}  // namespace
}  // namespace tern::iotest

namespace tern::iotest {
namespace {

TEST(SafetensorsRead, CopyingLoadValidatesLikeOpen) {
  // load({.copy = true}) reads with pread instead of mapping: the same rules, the same errors.
  TempDir dir;
  const std::string one = R"({"t":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})";
  const std::vector<Bytes> bad = {Bytes{}, Bytes{1, 2, 3}, file_with_length(100'000'001, "{}"),
                                  file_with_length(50, "{}"), file_of(one, 15), file_of(one, 17),
                                  file_of(R"({"t":{"dtype":"f32","shape":[1],"data_offsets":[0,4]}})", 4)};
  io::LoadOptions copy;
  copy.copy = true;
  for (size_t i = 0; i < bad.size(); ++i) {
    const std::string p = dir.file("bad" + std::to_string(i));
    std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(bad[i].data()),
                                             static_cast<std::streamsize>(bad[i].size()));
    const std::string a = error_of_call([&] { io::SafetensorsFile::open(p); });
    const std::string b = error_of_call([&] { io::load(p, copy); });
    EXPECT_FALSE(a.empty()) << i;
    EXPECT_EQ(a, b) << i;
  }
  const std::string good = dir.file("good");
  io::save(good, {{"b", tern::tensor({1, 0, 1}).to(kBool)}, {"x", tern::arange(0, 40000, 1, {.dtype = kFloat32})}});
  const auto ck = io::load(good, copy);
  EXPECT_EQ(fvals(ck.tensors.at("b")), (std::vector<float>{1, 0, 1}));
  EXPECT_EQ(fvals(ck.tensors.at("x"))[39999], 39999.0f);
}

}  // namespace
}  // namespace tern::iotest
