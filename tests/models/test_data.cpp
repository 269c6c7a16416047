// The text data loader: the token cache file (format, atomic writes, staleness),
// the 90/10 split, nanoGPT-style seeded batches and exact sampler resume.

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <set>
#include <string>
#include <vector>

#include <tern/core/error.h>
#include <tern/core/ops.h>
#include <tern/models/data/text_dataset.h>
#include <tern/models/data/token_file.h>
#include <tern/models/tokenizer/char_tokenizer.h>
#include <tern/models/tokenizer/gpt2_tokenizer.h>

#include "models_test_util.h"

using namespace tern;
using namespace tern::data;
using tern::modelstest::data_dir;
using tern::modelstest::read_file;
using tern::modelstest::TempDir;
using tern::modelstest::write_file;
using tern::testutil::expect_error;

namespace {

std::vector<int64_t> values(const Tensor& t) {
  const Tensor c = t.contiguous();
  const int64_t* d = c.data_ptr<int64_t>();
  return std::vector<int64_t>(d, d + c.numel());
}

std::string shakespeare() { return data_dir() + "/tinyshakespeare/input.txt"; }

}  // namespace

TEST(DataTokenFile, RoundTripU16AndU32) {
  TempDir dir("tokfile");
  for (int64_t vocab : {65, 50257, 65536, 70000}) {
    SCOPED_TRACE(vocab);
    std::vector<TokenId> toks = {0, 1, vocab - 1, 42 % vocab, vocab / 2};
    const TokenSource src{.source_bytes = 123, .source_hash = 0xabcdef, .tokenizer_fingerprint = 77, .vocab_size = vocab};
    const std::string path = dir / ("t" + std::to_string(vocab) + ".tokens");
    write_token_file(path, toks, src);
    const TokenFile f = TokenFile::open(path);
    EXPECT_EQ(f.token_bytes(), vocab <= 65536 ? 2u : 4u);
    EXPECT_EQ(std::filesystem::file_size(path), 64 + toks.size() * f.token_bytes());
    ASSERT_EQ(f.size(), 5);
    for (int64_t i = 0; i < 5; ++i) EXPECT_EQ(f[i], toks[i]);
    EXPECT_TRUE(f.matches(src));
    EXPECT_FALSE(f.matches({.source_bytes = 123, .source_hash = 0xabcdee, .tokenizer_fingerprint = 77, .vocab_size = vocab}));
    EXPECT_EQ(std::memcmp(f.header().magic, "TERNTOK1", 8), 0);
    EXPECT_EQ(f.header().version, 1u);
  }
  // No temp files left behind.
  for (const auto& e : std::filesystem::directory_iterator(dir.path))
    EXPECT_EQ(e.path().extension(), ".tokens") << e.path();
  expect_error([&] { write_token_file(dir / "x.tokens", std::vector<TokenId>{5}, {.vocab_size = 5}); },
               "token 5 at position 0 is outside [0, 5)");
}

TEST(DataTokenFile, RejectsDamagedFiles) {
  TempDir dir("tokfile_bad");
  const std::string path = dir / "a.tokens";
  write_token_file(path, std::vector<TokenId>{1, 2, 3, 4}, {.vocab_size = 10});
  const std::string good = read_file(path);

  expect_error([&] { TokenFile::open(dir / "missing.tokens"); }, "cannot open");
  write_file(path, good.substr(0, 30));
  expect_error([&] { TokenFile::open(path); }, "truncated token file");
  write_file(path, good.substr(0, good.size() - 1));
  expect_error([&] { TokenFile::open(path); }, "does not match 4 tokens of 2 bytes");
  std::string bad = good;
  bad[0] = 'X';
  write_file(path, bad);
  expect_error([&] { TokenFile::open(path); }, "bad magic");
  bad = good;
  bad[8] = 9;
  write_file(path, bad);
  expect_error([&] { TokenFile::open(path); }, "unsupported token file version 9");
  bad = good;
  bad[64] ^= 1;
  write_file(path, bad);
  expect_error([&] { TokenFile::open(path); }, "corrupt");
}

TEST(DataTextDataset, CacheIsBuiltReusedAndRebuiltWhenStale) {
  TempDir dir("dataset_cache");
  const std::string text_path = dir / "text.txt";
  write_file(text_path, "hello world, hello tern!\n");
  const CharTokenizer tok = CharTokenizer::from_text("hello world, tern!\nX");

  const TextDataset a = TextDataset::load(text_path, tok);
  EXPECT_EQ(a.cache_status(), CacheStatus::built);
  EXPECT_EQ(a.cache_path(), text_path + "." + tok.tag() + ".tokens");
  EXPECT_TRUE(std::filesystem::exists(a.cache_path()));
  EXPECT_EQ(a.size(), 25);
  EXPECT_EQ(a.size(Split::train), 22);  // int(25 * 0.9)
  EXPECT_EQ(a.size(Split::val), 3);

  const TextDataset b = TextDataset::load(text_path, tok);
  EXPECT_EQ(b.cache_status(), CacheStatus::hit);
  EXPECT_EQ(values(b.tokens(Split::train)), values(a.tokens(Split::train)));
  EXPECT_EQ(values(b.tokens(Split::val)), values(a.tokens(Split::val)));
  EXPECT_EQ(tok.decode(values(b.tokens(Split::val))), "n!\n");

  // Same size, different text: the hash catches it.
  write_file(text_path, "hello world, hello tern!X");
  const TextDataset c = TextDataset::load(text_path, tok);
  EXPECT_EQ(c.cache_status(), CacheStatus::built);
  EXPECT_NE(c.cache_message().find("stale"), std::string::npos);
  EXPECT_EQ(c.token(Split::val, 2), *tok.encode("X").begin());

  // Another tokenizer (an added special token) gets its own cache file.
  CharTokenizer tok2 = tok;
  tok2.add_special_token("<|endoftext|>");
  const TextDataset d = TextDataset::load(text_path, tok2);
  EXPECT_EQ(d.cache_status(), CacheStatus::built);
  EXPECT_NE(d.cache_path(), c.cache_path());
  EXPECT_EQ(d.vocab_size(), tok.vocab_size() + 1);

  // A stale cache at an explicit path (made by another tokenizer) is rebuilt too.
  const TextDataset e = TextDataset::load(text_path, tok2, {.cache_path = c.cache_path()});
  EXPECT_EQ(e.cache_status(), CacheStatus::built);
  EXPECT_EQ(TextDataset::load(text_path, tok2, {.cache_path = c.cache_path()}).cache_status(), CacheStatus::hit);

  // A damaged cache is rebuilt, not an error.
  write_file(c.cache_path(), "garbage");
  const TextDataset f = TextDataset::load(text_path, tok2, {.cache_path = c.cache_path()});
  EXPECT_EQ(f.cache_status(), CacheStatus::built);
  EXPECT_NE(f.cache_message().find("unreadable cache"), std::string::npos);

  // No cache: nothing read or written.
  const TextDataset g = TextDataset::load(text_path, tok, {.cache_path = dir / "none.tokens", .use_cache = false});
  EXPECT_EQ(g.cache_status(), CacheStatus::disabled);
  EXPECT_FALSE(std::filesystem::exists(dir / "none.tokens"));

  // An unwritable cache location still gives a working data set.
  const TextDataset h = TextDataset::load(text_path, tok, {.cache_path = dir / "no/such/dir/x.tokens"});
  EXPECT_EQ(h.cache_status(), CacheStatus::unwritable);
  EXPECT_FALSE(h.cache_message().empty());
  EXPECT_EQ(h.size(), 25);
}

// Text that spells a special token: matched as that token by default (and counted), or read as plain text, each
// with its own cache.
TEST(DataTextDataset, SpecialTokensInTheTextMatchedOrNot) {
  TempDir dir("dataset_special");
  const std::string text_path = dir / "text.txt";
  write_file(text_path, "ab<|endoftext|>ba<|endoftext|>");
  const GPT2Tokenizer tok;  // GPT-2 from the data dir, <|endoftext|> its special token
  const TextDataset all = TextDataset::load(text_path, tok);
  EXPECT_EQ(all.special_count(), 2);
  EXPECT_EQ(all.size(), 4);  // ab, <|endoftext|>, ba, <|endoftext|>
  const TextDataset plain = TextDataset::load(text_path, tok, {.special_tokens = false});
  EXPECT_EQ(plain.special_count(), 0);
  EXPECT_EQ(plain.cache_status(), CacheStatus::built);  // not the cache of `all`
  EXPECT_NE(plain.cache_path(), all.cache_path());
  EXPECT_GT(plain.size(), 4);
  std::vector<TokenId> ids;
  for (int64_t i = 0; i < plain.size(Split::train); ++i) ids.push_back(plain.token(Split::train, i));
  EXPECT_EQ(std::count(ids.begin(), ids.end(), 50256), 0);
  // Reloaded from the caches, each keeps its count.
  EXPECT_EQ(TextDataset::load(text_path, tok).special_count(), 2);
  EXPECT_EQ(TextDataset::load(text_path, tok, {.special_tokens = false}).cache_status(), CacheStatus::hit);
}

TEST(DataTextDataset, Errors) {
  TempDir dir("dataset_err");
  const CharTokenizer tok = CharTokenizer::from_text("abc");
  expect_error([&] { TextDataset::load(dir / "missing.txt", tok); }, "[data] cannot open");
  write_file(dir / "t.txt", "abcd");
  expect_error([&] { TextDataset::load(dir / "t.txt", tok); }, "character U+0064 'd' at byte 3 is not in the vocabulary");
  write_file(dir / "u.txt", "ab\xFF");
  expect_error([&] { TextDataset::load(dir / "u.txt", tok); }, "invalid UTF-8 at byte 2");
  expect_error([&] { TextDataset::from_tokens({1, 2, 3}, 3); }, "[data] token 3 at position 2 is outside [0, 3)");
  expect_error([&] { TextDataset::from_tokens({1, 2}, 3, 0.0); }, "train_fraction must be in (0, 1]");
}

TEST(DataTextDataset, TinyShakespeareSplits) {
  TempDir dir("dataset_shakespeare");
  const GPT2Tokenizer bpe = GPT2Tokenizer::from_dir(data_dir() + "/gpt2");
  const auto t0 = std::chrono::steady_clock::now();
  const TextDataset ds = TextDataset::load(shakespeare(), bpe, {.cache_path = dir / "bpe.tokens"});
  const double build = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(ds.cache_status(), CacheStatus::built);
  EXPECT_EQ(ds.size(), 338025);
  EXPECT_EQ(ds.size(Split::train), 304222);  // int(338025 * 0.9)
  EXPECT_EQ(ds.size(Split::val), 33803);
  EXPECT_EQ(std::filesystem::file_size(dir / "bpe.tokens"), 64u + 2u * 338025u);
  const auto t1 = std::chrono::steady_clock::now();
  const TextDataset again = TextDataset::load(shakespeare(), bpe, {.cache_path = dir / "bpe.tokens"});
  const double hit = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  EXPECT_EQ(again.cache_status(), CacheStatus::hit);
  EXPECT_EQ(values(again.tokens(Split::val)), values(ds.tokens(Split::val)));
  // The first tokens: "First Citizen:\n".
  EXPECT_EQ(bpe.decode(std::vector<TokenId>{ds.token(Split::train, 0), ds.token(Split::train, 1)}), "First Citizen");
  std::cout << "[ data ] tinyshakespeare bpe: tokenize + cache " << build * 1e3 << " ms, cache hit " << hit * 1e3
            << " ms\n";

  // Char level, as nanoGPT's shakespeare_char: 1,003,854 train and 111,540 val.
  const CharTokenizer chr = CharTokenizer::from_file(shakespeare());
  const TextDataset cds = TextDataset::load(shakespeare(), chr, {.cache_path = dir / "char.tokens"});
  EXPECT_EQ(cds.size(Split::train), 1003854);
  EXPECT_EQ(cds.size(Split::val), 111540);
}

TEST(DataTextDataset, BatchesLikeNanoGPT) {
  std::vector<TokenId> toks(1000);
  for (size_t i = 0; i < toks.size(); ++i) toks[i] = static_cast<TokenId>((i * 7) % 97);
  const TextDataset ds = TextDataset::from_tokens(toks, 97);
  EXPECT_EQ(ds.cache_status(), CacheStatus::in_memory);
  ASSERT_EQ(ds.size(Split::train), 900);

  Generator gen(1337);
  const Batch b = ds.get_batch(Split::train, 4, 8, gen);
  ASSERT_EQ(b.x.shape(), (Shape{4, 8}));
  ASSERT_EQ(b.y.shape(), (Shape{4, 8}));
  EXPECT_EQ(b.x.dtype(), kInt64);
  EXPECT_EQ(b.y.dtype(), kInt64);
  const auto x = values(b.x), y = values(b.y);
  for (int r = 0; r < 4; ++r) {
    // Find the row's offset, then check x and y against the data.
    int64_t off = -1;
    for (int64_t o = 0; o + 8 < 900 && off < 0; ++o) {
      bool ok = true;
      for (int t = 0; t < 8 && ok; ++t) ok = toks[o + t] == x[r * 8 + t];
      if (ok) off = o;
    }
    ASSERT_GE(off, 0);
    for (int t = 0; t < 8; ++t) EXPECT_EQ(y[r * 8 + t], toks[off + t + 1]);
  }
  // Deterministic for a seed; a different seed differs.
  Generator g1(1337), g2(1337), g3(7);
  EXPECT_EQ(values(ds.get_batch(Split::val, 3, 5, g1).x), values(ds.get_batch(Split::val, 3, 5, g2).x));
  EXPECT_NE(values(ds.get_batch(Split::train, 3, 5, g1).x), values(ds.get_batch(Split::train, 3, 5, g3).x));

  // Val batches come from the val split: 100 tokens, block 98, so offsets 900 or 901.
  Generator gv(3);
  std::set<int64_t> firsts;
  for (int i = 0; i < 200; ++i) {
    const auto vx = values(ds.get_batch(Split::val, 1, 98, gv).x);
    firsts.insert(vx[0]);
    EXPECT_TRUE(vx[0] == toks[900] || vx[0] == toks[901]);
  }
  EXPECT_EQ(firsts.size(), 2u);  // both offsets 0 and 1 of the val split occur
  Generator ge(0);
  expect_error([&] { ds.get_batch(Split::val, 1, 100, ge); },
               "[data] the val split has 100 tokens; block size 100 needs at least 101");
  expect_error([&] { ds.get_batch(Split::train, 0, 4, ge); }, "must be positive");
}

TEST(DataTextDataset, RandomBelowIsUniformAndInRange) {
  Generator gen(42);
  std::vector<int> counts(7, 0);
  for (int i = 0; i < 70000; ++i) {
    const uint64_t v = random_below(gen, 7);
    ASSERT_LT(v, 7u);
    ++counts[v];
  }
  for (int c : counts) EXPECT_NEAR(c, 10000, 500);
  EXPECT_EQ(random_below(gen, 1), 0u);
}

TEST(DataBatchSampler, ResumesExactly) {
  std::vector<TokenId> toks(5000);
  for (size_t i = 0; i < toks.size(); ++i) toks[i] = static_cast<TokenId>((i * 31 + i / 7) % 50257);
  const TextDataset ds = TextDataset::from_tokens(toks, 50257);

  BatchSampler straight(ds, Split::train, 4, 16, 1337);
  std::vector<std::vector<int64_t>> want;
  for (int i = 0; i < 10; ++i) want.push_back(values(straight.next().x));

  BatchSampler first(ds, Split::train, 4, 16, 1337);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(values(first.next().x), want[i]);
  const std::string state = first.state();
  EXPECT_EQ(first.step(), 4);

  BatchSampler resumed(ds, Split::train, 4, 16, /*seed=*/999);
  resumed.set_state(state);
  EXPECT_EQ(resumed.step(), 4);
  for (int i = 4; i < 10; ++i) EXPECT_EQ(values(resumed.next().x), want[i]);

  BatchSampler other(ds, Split::val, 4, 16, 1);
  expect_error([&] { other.set_state(state); }, "[BatchSampler] state is for split train, batch 4, block 16");
  expect_error([&] { resumed.set_state("nonsense"); }, "[BatchSampler] malformed sampler state");
}
