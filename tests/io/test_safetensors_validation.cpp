// Every validation rule of the safetensors reader, one test per case, with the bytes
// crafted here. Rejections must name their rule (and tensor); accepted layouts must load.

#include <string>

#include "io_test_util.h"

namespace tern::iotest {
namespace {

const std::string kOne = R"({"t":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})";

// ---------------------------------------------------------------- header framing

TEST(SafetensorsReject, EmptyFile) { EXPECT_REJECTED(Bytes{}, "file too short", "0 bytes"); }

TEST(SafetensorsReject, ShorterThanEightBytes) {
  EXPECT_REJECTED((Bytes{2, 0, 0, 0, 0, 0, 0}), "file too short", "7 bytes");
}

TEST(SafetensorsReject, HeaderLengthOverLimit) {
  EXPECT_REJECTED(file_with_length(100'000'001, "{}"), "header too large", "100000001");
}

TEST(SafetensorsReject, HeaderLengthMaxU64) {
  // n + 8 would wrap: the limit check must come first.
  EXPECT_REJECTED(file_with_length(~uint64_t{0}, "{}"), "header too large");
}

TEST(SafetensorsReject, HeaderRunsPastEndOfFile) {
  EXPECT_REJECTED(file_with_length(10, "{}"), "header runs past the end of the file", "header length 10");
}

TEST(SafetensorsReject, HeaderLengthZero) { EXPECT_REJECTED(file_of(""), "header is not valid JSON"); }

// ---------------------------------------------------------------- UTF-8

TEST(SafetensorsReject, InvalidUtf8Byte) {
  EXPECT_REJECTED(file_of("{\"\xff\":{}}"), "header is not valid UTF-8", "header byte 2");
}

TEST(SafetensorsReject, Utf8OverlongTwoByte) {
  // 0xC0 0xAF is an overlong '/'.
  EXPECT_REJECTED(file_of("{\"a\xc0\xaf\":1}"), "header is not valid UTF-8", "overlong");
}

TEST(SafetensorsReject, Utf8OverlongThreeByte) {
  EXPECT_REJECTED(file_of("{\"a\xe0\x80\xaf\":1}"), "header is not valid UTF-8", "overlong");
}

TEST(SafetensorsReject, Utf8OverlongFourByte) {
  EXPECT_REJECTED(file_of("{\"a\xf0\x80\x80\xaf\":1}"), "header is not valid UTF-8", "overlong");
}

TEST(SafetensorsReject, Utf8EncodedSurrogate) {
  // U+D800 encoded directly in UTF-8 (CESU style).
  EXPECT_REJECTED(file_of("{\"a\xed\xa0\x80\":1}"), "header is not valid UTF-8", "surrogate");
}

TEST(SafetensorsReject, Utf8BeyondU10FFFF) {
  EXPECT_REJECTED(file_of("{\"a\xf4\x90\x80\x80\":1}"), "header is not valid UTF-8", "U+10FFFF");
}

TEST(SafetensorsReject, Utf8TruncatedSequence) {
  EXPECT_REJECTED(file_of("{\"a\":1}\xe2\x82"), "header is not valid UTF-8", "truncated");
}

TEST(SafetensorsReject, Utf8LoneContinuationByte) {
  EXPECT_REJECTED(file_of("{\"a\x80\":1}"), "header is not valid UTF-8", "continuation");
}

TEST(SafetensorsReject, EscapedLoneSurrogate) {
  // Valid UTF-8 bytes, but the \u escape names half a surrogate pair.
  EXPECT_REJECTED(file_of(R"({"\ud800":{"dtype":"F32","shape":[],"data_offsets":[0,4]}})", 4),
                  "header is not valid JSON");
}

TEST(SafetensorsReject, ByteOrderMark) { EXPECT_REJECTED(file_of("\xef\xbb\xbf{}"), "byte-order mark"); }

// ---------------------------------------------------------------- JSON and types

TEST(SafetensorsReject, InvalidJson) {
  EXPECT_REJECTED(file_of(R"({"t":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]})", 16),
                  "header is not valid JSON");
}

TEST(SafetensorsReject, TrailingGarbageAfterJson) { EXPECT_REJECTED(file_of("{}x"), "header is not valid JSON"); }

TEST(SafetensorsReject, NulPadding) {
  // Other writers pad with spaces; NUL is not JSON whitespace, and the reference refuses it too.
  EXPECT_REJECTED(file_of(std::string("{}\0\0\0\0\0\0", 8)), "header is not valid JSON");
}

TEST(SafetensorsReject, HeaderNotAnObject) { EXPECT_REJECTED(file_of("[]"), "header is not a JSON object"); }

TEST(SafetensorsReject, EntryNotAnObject) {
  EXPECT_REJECTED(file_of(R"({"t":"F32"})"), "tensor entry is not an object", "'t'");
}

TEST(SafetensorsReject, EntryIsAnArray) {
  EXPECT_REJECTED(file_of(R"({"t":["F32",[2,2],[0,16]]})", 16), "tensor entry is not an object", "'t'");
}

TEST(SafetensorsReject, MissingDtype) {
  EXPECT_REJECTED(file_of(R"({"t":{"shape":[2,2],"data_offsets":[0,16]}})", 16), "missing field", "'t'", "'dtype'");
}

TEST(SafetensorsReject, MissingShape) {
  EXPECT_REJECTED(file_of(R"({"t":{"dtype":"F32","data_offsets":[0,16]}})", 16), "missing field", "'shape'");
}

TEST(SafetensorsReject, MissingDataOffsets) {
  EXPECT_REJECTED(file_of(R"({"t":{"dtype":"F32","shape":[2,2]}})", 16), "missing field", "'data_offsets'");
}

TEST(SafetensorsReject, DuplicateField) {
  EXPECT_REJECTED(file_of(R"({"t":{"dtype":"F32","dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})", 16),
                  "duplicate field", "'t'", "'dtype'");
}

TEST(SafetensorsReject, LowercaseDtype) {
  EXPECT_REJECTED(file_of(R"({"t":{"dtype":"f32","shape":[2,2],"data_offsets":[0,16]}})", 16), "unknown dtype",
                  "'t'", "'f32'");
}

TEST(SafetensorsReject, UnknownDtype) {
  EXPECT_REJECTED(file_of(R"({"t":{"dtype":"F128","shape":[2,2],"data_offsets":[0,16]}})", 16), "unknown dtype",
                  "'F128'");
}

TEST(SafetensorsReject, DtypeNotAString) {
  EXPECT_REJECTED(file_of(R"({"t":{"dtype":4,"shape":[2,2],"data_offsets":[0,16]}})", 16), "invalid dtype",
                  "not a string");
}

// ---------------------------------------------------------------- shape

TEST(SafetensorsReject, ShapeNegative) {
  EXPECT_REJECTED(file_of(R"({"t":{"dtype":"F32","shape":[-2,-2],"data_offsets":[0,16]}})", 16), "invalid shape",
                  "'t'", "negative");
}

TEST(SafetensorsReject, ShapeNegativeZero) {
  // The reference reads -0 as a float; it is no shape entry.
  EXPECT_REJECTED(file_of(R"({"t":{"dtype":"F32","shape":[-0],"data_offsets":[0,0]}})"), "invalid shape", "-0");
}

TEST(SafetensorsReject, ShapeFractional) {
  EXPECT_REJECTED(file_of(R"({"t":{"dtype":"F32","shape":[2.5,2],"data_offsets":[0,16]}})", 16), "invalid shape",
                  "not an integer (2.5)");
}

TEST(SafetensorsReject, ShapeIntegralFloat) {
  EXPECT_REJECTED(file_of(R"({"t":{"dtype":"F32","shape":[2.0,2],"data_offsets":[0,16]}})", 16), "invalid shape",
                  "not an integer");
}

TEST(SafetensorsReject, ShapeString) {
  EXPECT_REJECTED(file_of(R"({"t":{"dtype":"F32","shape":["2",2],"data_offsets":[0,16]}})", 16), "invalid shape",
                  "shape[0] is a string");
}

TEST(SafetensorsReject, ShapeTooLargeForU64) {
  EXPECT_REJECTED(file_of(R"({"t":{"dtype":"F32","shape":[18446744073709551616],"data_offsets":[0,16]}})", 16),
                  "invalid shape", "too large");
}

TEST(SafetensorsReject, ShapeTooLargeForI64) {
  EXPECT_REJECTED(file_of(R"({"t":{"dtype":"F32","shape":[9223372036854775808,0],"data_offsets":[0,0]}})"),
                  "invalid shape", "too large");
}

TEST(SafetensorsReject, ShapeNotAnArray) {
  EXPECT_REJECTED(file_of(R"({"t":{"dtype":"F32","shape":4,"data_offsets":[0,16]}})", 16), "invalid shape",
                  "not an array");
}

TEST(SafetensorsReject, ShapeNestedArray) {
  EXPECT_REJECTED(file_of(R"({"t":{"dtype":"F32","shape":[[2],2],"data_offsets":[0,16]}})", 16), "invalid shape",
                  "an array");
}

// ---------------------------------------------------------------- data_offsets

TEST(SafetensorsReject, OffsetsThreeEntries) {
  EXPECT_REJECTED(file_of(R"({"t":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16,32]}})", 16),
                  "invalid data_offsets", "'t'", "exactly two");
}

TEST(SafetensorsReject, OffsetsOneEntry) {
  EXPECT_REJECTED(file_of(R"({"t":{"dtype":"F32","shape":[2,2],"data_offsets":[16]}})", 16), "invalid data_offsets",
                  "exactly two", "got 1 entry");
}

TEST(SafetensorsReject, OffsetsEmpty) {
  EXPECT_REJECTED(file_of(R"({"t":{"dtype":"F32","shape":[],"data_offsets":[]}})", 4), "invalid data_offsets",
                  "got 0 entries");
}

TEST(SafetensorsReject, OffsetsNegative) {
  EXPECT_REJECTED(file_of(R"({"t":{"dtype":"F32","shape":[2,2],"data_offsets":[-16,0]}})", 16),
                  "invalid data_offsets", "negative");
}

TEST(SafetensorsReject, OffsetsFractional) {
  EXPECT_REJECTED(file_of(R"({"t":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16.5]}})", 16),
                  "invalid data_offsets", "not an integer (16.5)");
}

TEST(SafetensorsReject, OffsetsStrings) {
  EXPECT_REJECTED(file_of(R"({"t":{"dtype":"F32","shape":[2,2],"data_offsets":["0","16"]}})", 16),
                  "invalid data_offsets", "is a string");
}

TEST(SafetensorsReject, OffsetsNotAnArray) {
  EXPECT_REJECTED(file_of(R"({"t":{"dtype":"F32","shape":[2,2],"data_offsets":{"begin":0,"end":16}}})", 16),
                  "invalid data_offsets", "not an array");
}

TEST(SafetensorsReject, OffsetsBeginPastEnd) {
  EXPECT_REJECTED(file_of(R"({"t":{"dtype":"F32","shape":[0],"data_offsets":[16,0]}})", 16), "invalid data_offsets",
                  "'t'", "begin 16 is past end 0");
}

// ---------------------------------------------------------------- tiling

TEST(SafetensorsReject, GapBetweenTensors) {
  EXPECT_REJECTED(file_of(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                          R"("b":{"dtype":"F32","shape":[2],"data_offsets":[12,20]}})",
                          20),
                  "gap in the data", "[8, 12)", "'a'", "'b'");
}

TEST(SafetensorsReject, OverlappingTensors) {
  EXPECT_REJECTED(file_of(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                          R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                          12),
                  "overlapping tensors", "'b'", "'a'");
}

TEST(SafetensorsReject, DataDoesNotStartAtZero) {
  EXPECT_REJECTED(file_of(R"({"t":{"dtype":"F32","shape":[2,2],"data_offsets":[4,20]}})", 20),
                  "data does not start at offset 0", "'t'", "begins at 4");
}

TEST(SafetensorsReject, TenTensorsAllAtTheSameRange) {
  std::string h = "{";
  for (int i = 0; i < 10; ++i) {
    if (i) h += ",";
    h += "\"t" + std::to_string(i) + R"(":{"dtype":"F32","shape":[4],"data_offsets":[0,16]})";
  }
  h += "}";
  EXPECT_REJECTED(file_of(h, 16), "overlapping tensors");
}

TEST(SafetensorsReject, SizeMismatch) {
  EXPECT_REJECTED(file_of(R"({"t":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}})", 12), "size mismatch", "'t'",
                  "16 bytes", "hold 12");
}

TEST(SafetensorsReject, SizeMismatchSubByte) {
  // Four F4 values are two bytes, not four.
  EXPECT_REJECTED(file_of(R"({"t":{"dtype":"F4","shape":[4],"data_offsets":[0,4]}})", 4), "size mismatch",
                  "2 bytes");
}

TEST(SafetensorsReject, ElementCountOverflow) {
  EXPECT_REJECTED(file_of(R"({"t":{"dtype":"F32","shape":[4294967296,4294967296,2],"data_offsets":[0,16]}})", 16),
                  "size overflow", "'t'");
}

TEST(SafetensorsReject, ElementCountWrapsToZero) {
  // 2^32 · 2^32 = 2^64 wraps to 0 in unchecked 64-bit arithmetic, which would "match" [0,0].
  EXPECT_REJECTED(file_of(R"({"t":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}})"),
                  "size overflow", "'t'");
}

TEST(SafetensorsReject, ByteSizeOverflow) {
  // 2^61 elements fit, but 2^61 · 64 bits do not; unchecked, the bit count wraps to 0.
  EXPECT_REJECTED(file_of(R"({"t":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,0]}})"),
                  "size overflow", "'t'");
}

TEST(SafetensorsReject, SubByteNotWholeBytes) {
  EXPECT_REJECTED(file_of(R"({"t":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}})", 2), "sub-byte size", "'t'");
}

TEST(SafetensorsReject, TrailingBytes) {
  EXPECT_REJECTED(file_of(kOne, 20), "trailing bytes", "4 bytes");
}

TEST(SafetensorsReject, TrailingBytesAfterEmptyHeader) {
  // A polyglot: a valid "{}" header followed by another format's bytes.
  EXPECT_REJECTED(file_of("{}", 100), "trailing bytes");
}

TEST(SafetensorsReject, TruncatedData) {
  EXPECT_REJECTED(file_of(kOne, 15), "truncated data", "need 16", "only 15");
}

// ---------------------------------------------------------------- metadata, names, depth

TEST(SafetensorsReject, MetadataNotAnObject) {
  EXPECT_REJECTED(file_of(R"({"__metadata__":"pt"})"), "invalid __metadata__", "a string");
}

TEST(SafetensorsReject, MetadataNull) {
  EXPECT_REJECTED(file_of(R"({"__metadata__":null})"), "invalid __metadata__");
}

TEST(SafetensorsReject, MetadataValueNotAString) {
  EXPECT_REJECTED(file_of(R"({"__metadata__":{"format":"pt","epoch":3}})"), "invalid __metadata__", "'epoch'",
                  "not a string");
}

TEST(SafetensorsReject, MetadataNestedObject) {
  EXPECT_REJECTED(file_of(R"({"__metadata__":{"cfg":{"lr":"0.1"}}})"), "invalid __metadata__", "'cfg'");
}

TEST(SafetensorsReject, MetadataDuplicateKey) {
  EXPECT_REJECTED(file_of(R"({"__metadata__":{"a":"1","a":"2"}})"), "invalid __metadata__", "duplicate key 'a'");
}

TEST(SafetensorsReject, MetadataTwice) {
  EXPECT_REJECTED(file_of(R"({"__metadata__":{},"__metadata__":{}})"), "duplicate key", "__metadata__");
}

TEST(SafetensorsReject, DuplicateTensorName) {
  // The reference keeps the last entry; a file that says two things about 't' is refused.
  EXPECT_REJECTED(file_of(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                          R"("t":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
                          16),
                  "duplicate tensor name", "'t'");
}

TEST(SafetensorsReject, AbsurdNestingDepth) {
  const std::string deep = R"({"t":{"dtype":"F32","shape":[],"data_offsets":[0,4],"x":)" + std::string(100000, '[') +
                           std::string(100000, ']') + "}}";
  EXPECT_REJECTED(file_of(deep, 4), "nesting too deep");
}

TEST(SafetensorsReject, NestingDepthAtTopLevel) {
  EXPECT_REJECTED(file_of(std::string(5000, '{')), "header is not valid JSON");
}

TEST(SafetensorsReject, EveryRejectionIsATernError) {
  // Not std::out_of_range, not nlohmann's exceptions: a tern::Error every time.
  for (const std::string& h : {std::string("{"), std::string("{\"a\":"), std::string("nul"), std::string("1e999")}) {
    EXPECT_THROW(parse(file_of(h)), Error) << h;
  }
}

// ---------------------------------------------------------------- accepted layouts

TEST(SafetensorsAccept, EmptyObject) {
  const auto f = parse(file_of("{}"));
  EXPECT_EQ(f.size(), 0u);
  EXPECT_TRUE(f.metadata().empty());
}

TEST(SafetensorsAccept, WhitespaceBeforeAndAfter) {
  const auto f = parse(file_of(" \n\t\r" + kOne + "   \n ", 16));
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f.info("t").shape, (Shape{2, 2}));
}

TEST(SafetensorsAccept, OutOfOffsetOrder) {
  const auto f = parse(file_of(R"({"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]},)"
                               R"("a":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}})",
                               16));
  EXPECT_EQ(f.names(), (std::vector<std::string>{"b", "a"}));  // header order
  EXPECT_EQ(f.sorted_names(), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(f.info("b").begin, 8u);
  EXPECT_EQ(f.tensor("a").item<int64_t>(), int64_t{0x0706050403020100});
}

TEST(SafetensorsAccept, ZeroSizeTensorsAtOneOffset) {
  const auto f = parse(file_of(R"({"z1":{"dtype":"F32","shape":[0],"data_offsets":[8,8]},)"
                               R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                               R"("z2":{"dtype":"F64","shape":[3,0],"data_offsets":[8,8]},)"
                               R"("z0":{"dtype":"U8","shape":[0],"data_offsets":[0,0]},)"
                               R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]},)"
                               R"("z3":{"dtype":"BF16","shape":[0,5],"data_offsets":[12,12]}})",
                               12));
  EXPECT_EQ(f.size(), 6u);
  EXPECT_EQ(f.tensor("z2").shape(), (Shape{3, 0}));
  EXPECT_EQ(f.tensor("z2").numel(), 0);
  EXPECT_EQ(f.tensor("z3").dtype(), kBFloat16);
}

TEST(SafetensorsAccept, OnlyZeroSizeTensors) {
  const auto f = parse(file_of(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},)"
                               R"("b":{"dtype":"F32","shape":[0,7],"data_offsets":[0,0]}})"));
  EXPECT_EQ(f.size(), 2u);
}

TEST(SafetensorsAccept, Scalar) {
  Bytes b = file_of(R"({"s":{"dtype":"F32","shape":[],"data_offsets":[0,4]}})");
  const float v = 2.5f;
  const auto* p = reinterpret_cast<const uint8_t*>(&v);
  b.insert(b.end(), p, p + 4);
  const auto f = parse(b);
  const Tensor t = f.tensor("s");
  EXPECT_EQ(t.dim(), 0);
  EXPECT_FLOAT_EQ(t.item<float>(), 2.5f);
}

TEST(SafetensorsAccept, UnpaddedHeaderFromAnotherWriter) {
  // 57-byte header: the data starts at byte 65, misaligned for F32, so tensor() copies.
  const std::string h = R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  ASSERT_NE((8 + h.size()) % 4, 0u);
  Bytes b = file_of(h);
  const float vals[2] = {1.5f, -3.0f};
  const auto* p = reinterpret_cast<const uint8_t*>(vals);
  b.insert(b.end(), p, p + 8);
  const auto f = parse(b);
  EXPECT_FALSE(f.can_view("t"));
  const Tensor t = f.tensor("t");
  EXPECT_FLOAT_EQ(t.select(0, 0).item<float>(), 1.5f);
  EXPECT_FLOAT_EQ(t.select(0, 1).item<float>(), -3.0f);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.raw_data()) % 4, 0u);
}

TEST(SafetensorsAccept, Metadata) {
  const auto f = parse(file_of(R"({"__metadata__":{"format":"pt","note":"caf\u00e9 \"x\""},"t":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})",
                               16));
  EXPECT_EQ(f.metadata().at("format"), "pt");
  EXPECT_EQ(f.metadata().at("note"), "caf\xc3\xa9 \"x\"");
  EXPECT_EQ(f.names(), (std::vector<std::string>{"t"}));
}

TEST(SafetensorsAccept, EmptyMetadata) {
  const auto f = parse(file_of(R"({"__metadata__":{}})"));
  EXPECT_TRUE(f.metadata().empty());
}

TEST(SafetensorsAccept, UnknownFieldsAreIgnored) {
  // As in the reference (serde ignores unknown fields), however deeply they nest within the limit.
  const auto f = parse(file_of(R"({"t":{"dtype":"F32","extra":{"a":[1,[2,{"b":null}]],"c":-0},"shape":[2,2],"data_offsets":[0,16]}})", 16));
  EXPECT_EQ(f.info("t").nbytes(), 16u);
}

TEST(SafetensorsAccept, NegativeZeroOutsideShapesIsFine) {
  const auto f = parse(file_of(R"({"t":{"x":-0,"dtype":"F32","shape":[0],"data_offsets":[0,0],"y":[-0,-0.0]}})"));
  EXPECT_EQ(f.size(), 1u);
}

TEST(SafetensorsAccept, EveryDtype) {
  // One tensor per spec dtype, sized so sub-byte types fill whole bytes.
  std::string h = "{";
  uint64_t off = 0;
  for (int i = 0; i < io::kSafetensorsDTypeCount; ++i) {
    const auto dt = static_cast<io::SafetensorsDType>(i);
    const uint64_t n = 8;  // 8 elements: whole bytes for 4- and 6-bit types
    const uint64_t bytes = n * io::dtype_bits(dt) / 8;
    if (i) h += ",";
    h += "\"x" + std::string(io::dtype_name(dt)) + "\":{\"dtype\":\"" + std::string(io::dtype_name(dt)) +
         "\",\"shape\":[8],\"data_offsets\":[" + std::to_string(off) + "," + std::to_string(off + bytes) + "]}";
    off += bytes;
  }
  h += "}";
  const auto f = parse(file_of(h, off));
  ASSERT_EQ(f.size(), static_cast<size_t>(io::kSafetensorsDTypeCount));
  EXPECT_EQ(f.info("xF4").nbytes(), 4u);
  EXPECT_EQ(f.info("xF6_E2M3").nbytes(), 6u);
  EXPECT_EQ(f.info("xC64").nbytes(), 64u);
  EXPECT_EQ(f.info("xF8_E4M3FNUZ").dtype, io::SafetensorsDType::F8_E4M3FNUZ);
  EXPECT_EQ(f.raw_bytes("xU16").size(), 16u);
  // Dtypes tern can't compute with are listed and readable as bytes, but not as tensors.
  EXPECT_THROW(f.tensor("xF8_E5M2"), Error);
  EXPECT_THROW(f.tensor("xU32", kFloat32), Error);
  EXPECT_EQ(f.tensor("xF16").dtype(), kFloat16);
  EXPECT_EQ(f.tensor("xI64").dtype(), kInt64);
}

}  // namespace
}  // namespace tern::iotest
