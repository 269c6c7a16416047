// tern.tokenizers: GPT-2's byte-level BPE and the character tokenizer.
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/string_view.h>
#include <nanobind/stl/vector.h>

#include "bindings.h"

namespace tern::py {
namespace {

// Token runs may end inside a UTF-8 sequence; Python gets U+FFFD there rather than an error.
nb::str to_str(const std::string& bytes) {
  PyObject* s = PyUnicode_DecodeUTF8(bytes.data(), static_cast<Py_ssize_t>(bytes.size()), "replace");
  if (!s) throw nb::python_error();
  return nb::steal<nb::str>(s);
}

}  // namespace

void bind_tokenizers(nb::module_& m) {
  nb::class_<Tokenizer>(m, "Tokenizer", "The interface of every tokenizer; special tokens are never split")
      .def("encode", &Tokenizer::encode, "text"_a)
      .def("encode_ordinary", &Tokenizer::encode_ordinary, "text"_a,
           "Like encode, but special-token text is encoded as ordinary text")
      .def(
          "decode", [](const Tokenizer& t, const std::vector<TokenId>& ids) { return to_str(t.decode(ids)); }, "ids"_a)
      .def(
          "decode_bytes",
          [](const Tokenizer& t, const std::vector<TokenId>& ids) {
            const std::string s = t.decode(ids);
            return nb::bytes(s.data(), s.size());
          },
          "ids"_a)
      .def_prop_ro("vocab_size", &Tokenizer::vocab_size)
      .def_prop_ro("kind", &Tokenizer::kind)
      .def_prop_ro("eot_id", &Tokenizer::eot_id)
      .def("add_special_token", &Tokenizer::add_special_token, "text"_a)
      .def("add_special_tokens", &Tokenizer::add_special_tokens, "texts"_a)
      .def("special_token_id", &Tokenizer::special_token_id, "text"_a)
      .def("__len__", &Tokenizer::vocab_size);

  nb::class_<GPT2Tokenizer, Tokenizer>(m, "GPT2Tokenizer", "GPT-2's byte-level BPE (encoder.json + vocab.bpe)")
      .def(
          "__init__",
          [](GPT2Tokenizer* self, const std::string& dir) { new (self) GPT2Tokenizer(GPT2Tokenizer::from_dir(dir)); },
          "directory"_a)
      .def_static("from_files", &GPT2Tokenizer::from_files, "encoder_json"_a, "vocab_bpe"_a);

  nb::class_<CharTokenizer, Tokenizer>(m, "CharTokenizer", "One token per Unicode code point of a vocabulary")
      .def(nb::init<std::vector<std::string>>(), "chars"_a)
      .def_static("from_text", &CharTokenizer::from_text, "text"_a)
      .def_static("from_file", &CharTokenizer::from_file, "path"_a)
      .def_static("from_json", &CharTokenizer::from_json, "json"_a, "origin"_a = "char tokenizer")
      .def_static("load", &CharTokenizer::load, "path"_a)
      .def("save", &CharTokenizer::save, "path"_a)
      .def("to_json", &CharTokenizer::to_json)
      .def_prop_ro("chars", &CharTokenizer::chars);
}

}  // namespace tern::py
