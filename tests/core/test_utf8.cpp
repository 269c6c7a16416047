// UTF-8 validation (core/utf8.h), which the safetensors header and the tokenizers share: every class of
// ill-formed input is refused at the offset of the sequence it spoils, with the reason the messages quote.

#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include <tern/core/utf8.h>

namespace {

using tern::utf8::is_valid;

TEST(Utf8, AcceptsWellFormedText) {
  EXPECT_TRUE(is_valid(""));
  EXPECT_TRUE(is_valid("plain ascii, long enough for the 8-byte fast path"));
  EXPECT_TRUE(is_valid("\xc2\x80 \xdf\xbf \xe0\xa0\x80 \xed\x9f\xbf \xee\x80\x80 \xf0\x90\x80\x80 \xf4\x8f\xbf\xbf"));
}

TEST(Utf8, NamesWhatIsWrongAndWhere) {
  struct Case {
    std::string_view text;
    size_t at;
    std::string_view why;
  };
  const Case cases[] = {
      {"ab\xc0\x80", 2, "overlong encoding"},
      {"\xc1\xbf", 0, "overlong encoding"},
      {"\xe0\x9f\xbf", 0, "overlong encoding"},
      {"\xf0\x8f\xbf\xbf", 0, "overlong encoding"},
      {"x\xed\xa0\x80", 1, "encoded UTF-16 surrogate"},
      {"\xed\xbf\xbf", 0, "encoded UTF-16 surrogate"},
      {"\xf4\x90\x80\x80", 0, "code point beyond U+10FFFF"},
      {"\xf5\x80\x80\x80", 0, "invalid byte (beyond U+10FFFF)"},
      {"\xff", 0, "invalid byte (beyond U+10FFFF)"},
      {"abc\x80", 3, "unexpected continuation byte"},
      {"0123456789\xe2\x82", 10, "truncated multi-byte sequence"},
      {"\xe2\x28\xa1", 0, "invalid continuation byte"},
  };
  for (const Case& c : cases) {
    size_t at = 99;
    const char* why = "";
    EXPECT_FALSE(is_valid(c.text, &at, &why)) << ::testing::PrintToString(std::string(c.text));
    EXPECT_EQ(at, c.at) << ::testing::PrintToString(std::string(c.text));
    EXPECT_EQ(std::string_view(why), c.why) << ::testing::PrintToString(std::string(c.text));
  }
}

}  // namespace
