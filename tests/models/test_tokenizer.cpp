// GPT-2 byte-level BPE and char-level tokenizers: known GPT-2 ids, the
// pre-tokenization regex (contractions, whitespace runs, numbers, Unicode),
// special tokens, UTF-8 errors, round trips, tinyshakespeare's token count.

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <tern/core/error.h>
#include <tern/core/utf8.h>
#include <tern/models/tokenizer/char_tokenizer.h>
#include <tern/models/tokenizer/gpt2_tokenizer.h>

#include "models_test_util.h"

using namespace tern;
using namespace std::literals;
using tern::modelstest::data_dir;
using tern::modelstest::TempDir;
using tern::testutil::expect_error;

namespace {

const GPT2Tokenizer& gpt2() {
  static const GPT2Tokenizer tok = GPT2Tokenizer::from_dir(data_dir() + "/gpt2");
  return tok;
}

std::vector<TokenId> ids(std::initializer_list<TokenId> l) { return l; }

struct Case {
  const char* name;
  std::string_view text;
  std::vector<TokenId> expected;
};

// Expected ids from a pure-Python port of openai/gpt-2's encoder.py (Python
// `regex` 2026.5.9 for the pattern, the same encoder.json and vocab.bpe, "<|endoftext|>"
// split out first). That port also gives 338,025 tokens for tinyshakespeare.
const std::vector<Case> kCases = {
    {"basic", "Hello world"sv, {15496, 995}},
    {"punct", "Hello, world! How's it going?"sv, {15496, 11, 995, 0, 1374, 338, 340, 1016, 30}},
    {"contractions", "I'm you're we've they'll he'd it's don't can't"sv, {40, 1101, 345, 821, 356, 1053, 484, 1183, 339, 1549, 340, 338, 836, 470, 460, 470}},
    {"contractions_upper", "IT'S HE'D WE'RE YOU'VE I'M THEY'LL DON'T"sv, {2043, 6, 50, 11179, 6, 35, 12887, 6, 2200, 7013, 6, 6089, 314, 6, 44, 33302, 6, 3069, 23917, 6, 51}},
    {"contractions_run", "'s't're've'm'll'd'S'T"sv, {338, 470, 821, 1053, 1101, 1183, 1549, 6, 50, 6, 51}},
    {"spaces", "hello   world  "sv, {31373, 220, 220, 995, 220, 220}},
    {"trailing_spaces", "trailing spaces   "sv, {9535, 4386, 9029, 220, 220, 220}},
    {"newlines", "a\012\012\012b\012"sv, {64, 628, 198, 65, 198}},
    {"tabs", "\011tab\011\011indent\011"sv, {197, 8658, 197, 197, 521, 298, 197}},
    {"crlf", "line1\015\012line2\015\012\015\012"sv, {1370, 16, 201, 198, 1370, 17, 201, 198, 201, 198}},
    {"leading_ws", "  leading  \012  x"sv, {220, 3756, 220, 220, 198, 220, 2124}},
    {"mixed_ws", " \012 \012\011 \302\240\343\200\200end"sv, {220, 198, 220, 198, 197, 5624, 5099, 222, 437}},
    {"numbers", "123 4567 3.14159 1,000,000 2024-01-01 0x1F 12345678901234567890"sv, {10163, 4153, 3134, 513, 13, 1415, 19707, 352, 11, 830, 11, 830, 48609, 12, 486, 12, 486, 657, 87, 16, 37, 17031, 2231, 3134, 4531, 486, 1954, 2231, 30924, 3829}},
    {"unicode_digits", "\331\243\331\244\331\245 \302\262\302\263 \342\205\253 \357\274\221\357\274\222"sv, {149, 96, 149, 97, 149, 98, 1587, 110, 126, 111, 2343, 227, 104, 27332, 120, 239, 171, 120, 240}},
    {"accents", "h\303\251llo na\303\257ve caf\303\251 \303\234ber stra\303\237e"sv, {71, 2634, 18798, 41492, 40304, 49363, 527, 3534, 39683, 68}},
    {"combining", "e\314\201 a\314\210 n\314\203o Z\315\221\314\210\314\275"sv, {68, 136, 223, 257, 136, 230, 299, 136, 225, 78, 1168, 137, 239, 136, 230, 136, 121}},
    {"cjk", "\346\227\245\346\234\254\350\252\236\343\201\256\343\203\206\343\202\255\343\202\271\343\203\210\343\200\202\344\270\255\346\226\207\345\210\206\350\257\215\346\265\213\350\257\225"sv, {33768, 98, 17312, 105, 45739, 252, 5641, 24336, 25084, 43302, 16764, 40792, 23877, 229, 26344, 228, 46237, 235, 38184, 233, 46237, 243}},
    {"emoji", "\360\237\230\200\360\237\221\215\360\237\217\275 \360\237\221\250\342\200\215\360\237\221\251\342\200\215\360\237\221\247\342\200\215\360\237\221\246 \360\237\207\272\360\237\207\270!"sv, {47249, 222, 41840, 235, 8582, 237, 121, 50169, 101, 447, 235, 41840, 102, 447, 235, 41840, 100, 447, 235, 41840, 99, 12520, 229, 118, 8582, 229, 116, 0}},
    {"cyrillic_arabic", "\320\237\321\200\320\270\320\262\320\265\321\202 \320\274\320\270\321\200 \331\205\330\261\330\255\330\250\330\247"sv, {140, 253, 21169, 18849, 38857, 16843, 20375, 12466, 120, 18849, 21169, 47048, 26897, 148, 255, 39848, 12919}},
    {"odd_spaces", "a\341\240\216b c\302\205d e\342\200\250f\342\200\213g"sv, {64, 157, 254, 236, 65, 269, 126, 227, 67, 304, 447, 101, 69, 9525, 70}},
    {"control", "nul\000 bel\007 esc\033[0m \034\035"sv, {77, 377, 188, 894, 195, 3671, 215, 58, 15, 76, 220, 216, 217}},
    {"code", "def f(x):\012    return x**2  # square\012"sv, {4299, 277, 7, 87, 2599, 198, 220, 220, 220, 1441, 2124, 1174, 17, 220, 1303, 6616, 198}},
    {"eot", "Hello<|endoftext|>World<|endoftext|>"sv, {15496, 50256, 10603, 50256}},
};

}  // namespace

TEST(Gpt2Tokenizer, LoadsVocabulary) {
  const auto& tok = gpt2();
  EXPECT_EQ(tok.base_vocab_size(), 50257);
  EXPECT_EQ(tok.vocab_size(), 50257);
  ASSERT_TRUE(tok.eot_id().has_value());
  EXPECT_EQ(*tok.eot_id(), 50256);
  EXPECT_EQ(tok.special_token_id("<|endoftext|>"), 50256);
  EXPECT_EQ(tok.kind(), "bpe");
  EXPECT_TRUE(tok.uses_fast_bpe());  // GPT-2's merges are rank-consistent
  EXPECT_EQ(tok.token_string(262), "\xC4\xA0the");  // "Ġthe"
  EXPECT_EQ(tok.token_bytes(262), " the");
  EXPECT_EQ(tok.token_string_id("\xC4\xA0the"), 262);
  EXPECT_EQ(tok.token_bytes(198), "\n");
}

TEST(Gpt2Tokenizer, KnownIds) {
  const auto& tok = gpt2();
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(tok.encode(c.text), c.expected);
    EXPECT_EQ(tok.decode(c.expected), c.text);
  }
}

TEST(Gpt2Tokenizer, ReferenceMergeLoopAgrees) {
  GPT2Tokenizer tok = gpt2();
  tok.set_reference_bpe(true);
  EXPECT_FALSE(tok.uses_fast_bpe());
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(tok.encode(c.text), c.expected);
  }
}

TEST(Gpt2Tokenizer, PretokenizeContractions) {
  const auto& tok = gpt2();
  using V = std::vector<std::string>;
  EXPECT_EQ(tok.pretokenize("he's we'll I'd"), (V{"he", "'s", " we", "'ll", " I", "'d"}));
  // Only lowercase contractions: "'S" is punctuation then a letter run.
  EXPECT_EQ(tok.pretokenize("HE'S"), (V{"HE", "'", "S"}));
  EXPECT_EQ(tok.pretokenize("they'RE"), (V{"they", "'", "RE"}));
  EXPECT_EQ(tok.pretokenize("'tis"), (V{"'t", "is"}));
  EXPECT_EQ(tok.pretokenize("rock'n'roll"), (V{"rock", "'", "n", "'", "roll"}));
}

TEST(Gpt2Tokenizer, PretokenizeWhitespace) {
  const auto& tok = gpt2();
  using V = std::vector<std::string>;
  // \s+(?!\S) leaves the last space to prefix the next word.
  EXPECT_EQ(tok.pretokenize("a   b"), (V{"a", "  ", " b"}));
  EXPECT_EQ(tok.pretokenize("a  "), (V{"a", "  "}));
  EXPECT_EQ(tok.pretokenize("a\n\n\nb"), (V{"a", "\n\n", "\n", "b"}));
  EXPECT_EQ(tok.pretokenize("x\t\ty"), (V{"x", "\t", "\t", "y"}));
  EXPECT_EQ(tok.pretokenize("  \n  x"), (V{"  \n ", " x"}));
  EXPECT_EQ(tok.pretokenize(" 123 4.5"), (V{" 123", " 4", ".", "5"}));
  EXPECT_EQ(tok.pretokenize(" ?!x"), (V{" ?!", "x"}));
  // Unicode classes: letters with marks split off, CJK letters, Arabic-Indic digits.
  EXPECT_EQ(tok.pretokenize("e\xCC\x81"), (V{"e", "\xCC\x81"}));
  EXPECT_EQ(tok.pretokenize(" \xE6\x97\xA5\xE6\x9C\xAC"), (V{" \xE6\x97\xA5\xE6\x9C\xAC"}));
  EXPECT_EQ(tok.pretokenize("\xD9\xA3\xD9\xA4x"), (V{"\xD9\xA3\xD9\xA4", "x"}));
  // U+180E is not White_Space (Python's regex agrees); U+0085 and U+3000 are.
  EXPECT_EQ(tok.pretokenize("a\xE1\xA0\x8E" "b"), (V{"a", "\xE1\xA0\x8E", "b"}));
  EXPECT_EQ(tok.pretokenize("a\xC2\x85\xE3\x80\x80" "b"), (V{"a", "\xC2\x85", "\xE3\x80\x80", "b"}));
}

TEST(Gpt2Tokenizer, EmptyAndSingleBytes) {
  const auto& tok = gpt2();
  EXPECT_TRUE(tok.encode("").empty());
  EXPECT_EQ(tok.decode(std::vector<TokenId>{}), "");
  for (int b = 0; b < 128; ++b) {
    const std::string s(1, static_cast<char>(b));
    const auto e = tok.encode(s);
    ASSERT_EQ(e.size(), 1u) << b;
    EXPECT_EQ(tok.decode(e), s);
  }
}

// Random valid UTF-8 drawn from many scripts, whitespace and punctuation.
std::string random_text(std::mt19937_64& rng, size_t n_cps) {
  static const std::vector<std::pair<char32_t, char32_t>> ranges = {
      {0x20, 0x7E},     {0x20, 0x20},     {0x09, 0x0D},     {0x30, 0x39},       {0x27, 0x27},   {0xA0, 0x17F},
      {0x300, 0x36F},   {0x391, 0x3C9},   {0x410, 0x44F},   {0x5D0, 0x5EA},     {0x620, 0x669}, {0x900, 0x97F},
      {0x1680, 0x1680}, {0x180E, 0x180E}, {0x2000, 0x206F}, {0x3000, 0x30FF},   {0x4E00, 0x4FFF}, {0xAC00, 0xACFF},
      {0xFF00, 0xFFEF}, {0x1F300, 0x1F6FF}, {0x1F900, 0x1F9FF}, {0x10000, 0x10FFFF}, {0x00, 0x1F}, {0x85, 0x85}};
  std::string s;
  for (size_t i = 0; i < n_cps; ++i) {
    const auto& r = ranges[rng() % ranges.size()];
    char32_t cp = r.first + static_cast<char32_t>(rng() % (r.second - r.first + 1));
    if (cp >= 0xD800 && cp < 0xE000) cp = 'x';
    utf8::append(s, cp);
  }
  return s;
}

TEST(Gpt2Tokenizer, RoundTripRandomUtf8) {
  GPT2Tokenizer fast = gpt2();
  GPT2Tokenizer ref = gpt2();
  ref.set_reference_bpe(true);
  std::mt19937_64 rng(1234);
  for (int i = 0; i < 300; ++i) {
    const std::string s = random_text(rng, 1 + rng() % 80);
    const auto e = fast.encode(s);
    ASSERT_EQ(fast.decode(e), s);
    ASSERT_EQ(fast.decode_utf8(e), s);
    ASSERT_EQ(ref.encode(s), e);
    for (TokenId id : e) ASSERT_TRUE(id >= 0 && id < 50257);
  }
}

TEST(Gpt2Tokenizer, LongPiecesStayFast) {
  const auto& tok = gpt2();
  // One 200 kB letter run, one digit run and one whitespace run: single pieces
  // for BPE (heap merge loop) and deep backtracking for (?!\S).
  const std::string letters(200000, 'a');
  const std::string digits(100000, '7');
  const std::string spaces = std::string(100000, ' ') + "x" + std::string(100000, '\n') + "y";
  const auto t0 = std::chrono::steady_clock::now();
  for (const std::string* s : {&letters, &digits, &spaces}) {
    const auto e = tok.encode(*s);
    EXPECT_EQ(tok.decode(e), *s);
    EXPECT_LT(e.size(), s->size());
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(secs, 5.0);
  // The reference loop agrees on a medium-size piece.
  GPT2Tokenizer ref = gpt2();
  ref.set_reference_bpe(true);
  const std::string medium = std::string(3000, 'a') + " " + std::string(3000, '1');
  EXPECT_EQ(ref.encode(medium), tok.encode(medium));
}

TEST(Gpt2Tokenizer, InvalidUtf8IsAnError) {
  const auto& tok = gpt2();
  const std::vector<std::pair<std::string, size_t>> bad = {
      {"abc\x80", 3},             // lone continuation byte
      {"\xC0\x80", 0},            // overlong NUL
      {"ok \xC1\xBF", 3},         // overlong
      {"\xE0\x80\xAF", 0},        // overlong 3-byte
      {"x\xED\xA0\x80", 1},       // UTF-16 surrogate
      {"\xF4\x90\x80\x80", 0},    // above U+10FFFF
      {"\xF5\x80\x80\x80", 0},    // invalid lead
      {"\xFF", 0},                // never valid
      {"\xE2\x82", 0},            // truncated euro sign
      {"abc\xF0\x9F\x98", 3},     // truncated emoji
      {"caf\xE9", 3},             // Latin-1
  };
  for (const auto& [s, at] : bad) {
    SCOPED_TRACE(s);
    expect_error([&] { tok.encode(s); }, "[gpt2 tokenizer] invalid UTF-8 at byte " + std::to_string(at));
    expect_error([&] { tok.pretokenize(s); }, "invalid UTF-8");
  }
}

TEST(Gpt2Tokenizer, DecodeErrorsAndPartialUtf8) {
  const auto& tok = gpt2();
  expect_error([&] { tok.decode({-1}); }, "[gpt2 tokenizer] token id -1 at position 0 is outside the vocabulary");
  expect_error([&] { tok.decode({15496, 50257}); }, "token id 50257 at position 1");
  // "😀" is two tokens, each half of its bytes.
  const auto e = tok.encode("\xF0\x9F\x98\x80");
  ASSERT_EQ(e, ids({47249, 222}));
  const std::string first = tok.decode({e[0]});
  EXPECT_FALSE(utf8::is_valid(first));
  EXPECT_EQ(utf8::incomplete_tail(first), first.size());
  EXPECT_EQ(utf8::replace_invalid(first), "\xEF\xBF\xBD");
  expect_error([&] { tok.decode_utf8(std::vector<TokenId>{e[0]}); }, "[gpt2 tokenizer] invalid UTF-8 at byte 0");
  EXPECT_EQ(tok.decode_utf8(e), "\xF0\x9F\x98\x80");
  EXPECT_EQ(utf8::incomplete_tail("ab"), 0u);
  EXPECT_EQ(utf8::incomplete_tail("a\xC3"), 1u);
  EXPECT_EQ(utf8::incomplete_tail("a\xED\xA0"), 0u);  // a surrogate can never complete
  EXPECT_EQ(utf8::replace_invalid("a\xFF" "b\xE2\x82"), "a\xEF\xBF\xBD" "b\xEF\xBF\xBD");
}

TEST(Gpt2Tokenizer, SpecialTokens) {
  GPT2Tokenizer tok = gpt2();
  const uint64_t fp0 = tok.fingerprint();
  EXPECT_EQ(tok.add_special_tokens({"<think>", "</think>"}), ids({50257, 50258}));
  EXPECT_EQ(tok.vocab_size(), 50259);
  EXPECT_EQ(tok.base_vocab_size(), 50257);
  EXPECT_EQ(tok.add_special_token("<think>"), 50257);         // already known
  EXPECT_EQ(tok.add_special_token("<|endoftext|>"), 50256);   // in the vocabulary
  EXPECT_NE(tok.fingerprint(), fp0);
  EXPECT_EQ(gpt2().vocab_size(), 50257);  // the copy it came from is unchanged

  // Never split, never merged with neighbouring spaces or text.
  std::vector<TokenId> want = gpt2().encode("Hi ");
  want.push_back(50257);
  for (TokenId t : gpt2().encode(" x")) want.push_back(t);
  want.push_back(50258);
  want.push_back(50256);
  const std::string text = "Hi <think> x</think><|endoftext|>";
  EXPECT_EQ(tok.encode(text), want);
  EXPECT_EQ(tok.decode(want), text);
  EXPECT_EQ(tok.encode("<think><think>"), ids({50257, 50257}));
  EXPECT_EQ(tok.decode({50258}), "</think>");
  // encode_ordinary treats them as text.
  EXPECT_EQ(tok.encode_ordinary("<|endoftext|>"), ids({27, 91, 437, 1659, 5239, 91, 29}));
  EXPECT_EQ(tok.encode_ordinary("<think>").size(), 3u);
  // A partial special token is ordinary text.
  EXPECT_EQ(tok.encode("<think"), gpt2().encode("<think"));

  // Overlapping specials: leftmost wins, then the longest.
  tok.add_special_token("<th");
  tok.add_special_token("ink>");
  EXPECT_EQ(tok.encode("<think>"), ids({50257}));
  EXPECT_EQ(tok.encode("<thX"), ids({50259, 55}));

  expect_error([&] { tok.add_special_token(""); }, "[gpt2 tokenizer] a special token cannot be empty");
  expect_error([&] { tok.add_special_token("\xFF"); }, "[gpt2 tokenizer] invalid UTF-8");
}

TEST(Gpt2Tokenizer, FileErrors) {
  expect_error([] { GPT2Tokenizer::from_dir("/nonexistent/dir"); }, "[gpt2 tokenizer] cannot open /nonexistent/dir/encoder.json");
  TempDir dir("tok_files");
  tern::modelstest::write_file(dir / "bad.json", "{\"a\": ");
  tern::modelstest::write_file(dir / "enc.json", "{\"a\": 0, \"b\": 1}");
  tern::modelstest::write_file(dir / "gap.json", "{\"a\": 0, \"b\": 5}");
  tern::modelstest::write_file(dir / "merges.bpe", "#version: 0.2\na b\n\xC4\x80 \xC4\x80\n");  // "Ā Ā": bytes 0 0
  tern::modelstest::write_file(dir / "three.bpe", "#version: 0.2\na b c\n");
  const std::string vocab = data_dir() + "/gpt2/vocab.bpe";
  expect_error([&] { GPT2Tokenizer::from_files(dir / "bad.json", vocab); }, "not valid JSON");
  expect_error([&] { GPT2Tokenizer::from_files(dir / "gap.json", vocab); }, "id 5 of \"b\" is outside [0, 2)");
  expect_error([&] { GPT2Tokenizer::from_files(dir / "enc.json", vocab); }, "has no token");
  expect_error([&] { GPT2Tokenizer::from_files(data_dir() + "/gpt2/encoder.json", dir / "merges.bpe"); },
               "merges.bpe:3: the merge \"\xC4\x80 \xC4\x80\" makes a token that is not in");
  expect_error([&] { GPT2Tokenizer::from_files(data_dir() + "/gpt2/encoder.json", dir / "three.bpe"); },
               "three.bpe:2: expected two space-separated tokens");
}

TEST(Gpt2Tokenizer, ConcurrentEncode) {
  const auto& tok = gpt2();
  const std::string text = tern::modelstest::read_file(data_dir() + "/tinyshakespeare/input.txt").substr(0, 200000);
  const auto want = tok.encode(text);
  std::vector<std::vector<TokenId>> got(2);
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i)
    threads.emplace_back([&, i] {
      GPT2Tokenizer copy = tok;
      copy.clear_cache();
      got[i] = copy.encode(text);
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(got[0], want);
  EXPECT_EQ(got[1], want);
}

TEST(Gpt2Tokenizer, TinyShakespeareTokenCount) {
  const std::string text = tern::modelstest::read_file(data_dir() + "/tinyshakespeare/input.txt");
  ASSERT_EQ(text.size(), 1115394u);
  const auto& tok = gpt2();
  tok.clear_cache();
  const auto t0 = std::chrono::steady_clock::now();
  const auto e = tok.encode(text);
  const double cold = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const auto t1 = std::chrono::steady_clock::now();
  const auto e2 = tok.encode(text);
  const double warm = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  EXPECT_EQ(e.size(), 338025u);
  EXPECT_EQ(e2, e);
  EXPECT_EQ(tok.decode(e), text);
  std::cout << "[ tokenize ] tinyshakespeare: " << e.size() << " tokens; cold cache " << cold * 1e3 << " ms ("
            << e.size() / cold / 1e6 << " M tok/s), warm " << warm * 1e3 << " ms (" << e.size() / warm / 1e6
            << " M tok/s)\n";
}

// ---- char-level

TEST(CharTokenizer, TinyShakespeareLikeNanoGPT) {
  const CharTokenizer tok = CharTokenizer::from_file(data_dir() + "/tinyshakespeare/input.txt");
  EXPECT_EQ(tok.vocab_size(), 65);
  EXPECT_EQ(tok.kind(), "char");
  EXPECT_EQ(tok.chars().front(), "\n");
  EXPECT_EQ(tok.chars()[1], " ");
  EXPECT_EQ(tok.chars().back(), "z");
  // nanoGPT's shakespeare_char: encode("hii there").
  EXPECT_EQ(tok.encode("hii there"), ids({46, 47, 47, 1, 58, 46, 43, 56, 43}));
  EXPECT_EQ(tok.decode(ids({46, 47, 47, 1, 58, 46, 43, 56, 43})), "hii there");
  expect_error([&] { tok.encode("caf\xC3\xA9"); },
               "[char tokenizer] character U+00E9 '\xC3\xA9' at byte 3 is not in the vocabulary (65 characters)");
  expect_error([&] { tok.encode("a\tb"); }, "character U+0009 at byte 1");
  expect_error([&] { tok.decode({65}); }, "[char tokenizer] token id 65 at position 0 is outside the vocabulary [0, 65)");
  expect_error([&] { tok.encode("\xC3"); }, "[char tokenizer] invalid UTF-8 at byte 0");
}

TEST(CharTokenizer, UnicodeVocabularyAndSpecials) {
  CharTokenizer tok = CharTokenizer::from_text("h\xC3\xA9llo \xF0\x9F\x98\x80 \xE6\x97\xA5");
  // Sorted by code point: ' ', 'h', 'l', 'o', U+00E9, U+65E5, U+1F600.
  ASSERT_EQ(tok.vocab_size(), 7);
  EXPECT_EQ(tok.chars()[4], "\xC3\xA9");
  EXPECT_EQ(tok.chars()[6], "\xF0\x9F\x98\x80");
  const std::string s = "\xF0\x9F\x98\x80h\xC3\xA9 \xE6\x97\xA5";
  EXPECT_EQ(tok.encode(s), ids({6, 1, 4, 0, 5}));
  EXPECT_EQ(tok.decode(tok.encode(s)), s);
  EXPECT_EQ(tok.add_special_tokens({"<think>", "</think>"}), ids({7, 8}));
  EXPECT_EQ(tok.add_special_token("h"), 1);  // a single vocabulary character keeps its id
  EXPECT_EQ(tok.encode("<think>hol</think>"), ids({7, 1, 3, 2, 8}));
}

TEST(CharTokenizer, SaveLoadJson) {
  TempDir dir("char_vocab");
  CharTokenizer tok = CharTokenizer::from_text("abc\n \xC3\xA9");
  tok.add_special_token("<|endoftext|>");
  tok.save(dir / "vocab.json");
  const CharTokenizer back = CharTokenizer::load(dir / "vocab.json");
  EXPECT_EQ(back.chars(), tok.chars());
  EXPECT_EQ(back.vocab_size(), tok.vocab_size());
  EXPECT_EQ(back.fingerprint(), tok.fingerprint());
  EXPECT_EQ(back.encode("ab<|endoftext|>\xC3\xA9"), tok.encode("ab<|endoftext|>\xC3\xA9"));
  // Only the file itself remains: the temp file was renamed.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path), std::filesystem::directory_iterator()), 1);

  tern::modelstest::write_file(dir / "bad.json", "[1, 2]");
  expect_error([&] { CharTokenizer::load(dir / "bad.json"); }, "not a char tokenizer vocabulary");
  tern::modelstest::write_file(dir / "dup.json", R"({"type": "char", "version": 1, "vocab": ["a", "a"]})");
  expect_error([&] { CharTokenizer::load(dir / "dup.json"); }, "vocabulary entry 1 (U+0061) appears twice");
  tern::modelstest::write_file(dir / "two.json", R"({"type": "char", "version": 1, "vocab": ["ab"]})");
  expect_error([&] { CharTokenizer::load(dir / "two.json"); }, "is not exactly one UTF-8 character");
  expect_error([&] { CharTokenizer::from_text(""); }, "[char tokenizer] cannot build a vocabulary from empty text");
}

TEST(Tokenizer, MakeTokenizerByKind) {
  auto bpe = make_tokenizer("bpe", data_dir() + "/gpt2");
  EXPECT_EQ(bpe->kind(), "bpe");
  EXPECT_EQ(bpe->encode("Hello world"), ids({15496, 995}));
  auto chr = make_tokenizer("char", data_dir() + "/tinyshakespeare/input.txt");
  EXPECT_EQ(chr->vocab_size(), 65);
  EXPECT_EQ(chr->tag().substr(0, 5), "char-");
  EXPECT_EQ(bpe->tag().size(), 12u);  // "bpe-" + 8 hex digits
  expect_error([] { make_tokenizer("wordpiece"); }, "[tokenizer] unknown tokenizer kind 'wordpiece'");
  EXPECT_FALSE(default_data_dir().empty());
}
