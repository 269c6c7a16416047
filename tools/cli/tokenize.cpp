// tern tokenize: text -> token ids as one JSON array, or (--decode) a JSON array of
// ids -> text. Input is --text, or else all of stdin.
//   echo -n "Hello world" | tern tokenize             [15496, 995]
//   tern tokenize --decode --text '[15496, 995]'      Hello world
//   tern tokenize --tokenizer char --text "hii there"
//   tern tokenize --add-tokens '<think>,</think>' --text '<think>hm</think>'
//   tern tokenize --special none --text '<|endoftext|>'   the string as text, not id 50256

#include <iostream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <tern/core/error.h>
#include <tern/models/tokenizer/tokenizer.h>

#include "commands.h"

namespace tern::cli {
namespace {

struct TokenizeOptions {
  std::string tokenizer = "bpe";
  std::string vocab;
  std::vector<std::string> add_tokens;
  std::string text;
  bool has_text = false;
  bool decode = false;
  std::string special = "all";
};

std::string read_stdin() {
  std::ios::sync_with_stdio(false);
  return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
}

void run_tokenize(const TokenizeOptions& o) {
  std::unique_ptr<Tokenizer> tok = make_tokenizer(o.tokenizer, o.vocab);
  for (const auto& t : o.add_tokens)
    if (!t.empty()) tok->add_special_token(t);
  const std::string input = o.has_text ? o.text : read_stdin();
  if (!o.decode) {
    const std::vector<TokenId> ids = o.special == "all" ? tok->encode(input) : tok->encode_ordinary(input);
    std::string out = "[";
    for (size_t i = 0; i < ids.size(); ++i) {
      if (i) out += ", ";
      out += std::to_string(ids[i]);
    }
    std::cout << out << "]\n";
    return;
  }
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(input);
  } catch (const nlohmann::json::exception& e) {
    TERN_FAIL("tokenize", "--decode expects a JSON array of token ids: ", e.what());
  }
  TERN_CHECK(j.is_array(), "tokenize", "--decode expects a JSON array of token ids, got ", j.type_name());
  std::vector<TokenId> ids;
  ids.reserve(j.size());
  for (size_t i = 0; i < j.size(); ++i) {
    TERN_CHECK(j[i].is_number_integer(), "tokenize", "--decode: element ", i, " (", j[i].dump(),
               ") is not an integer token id");
    ids.push_back(j[i].get<TokenId>());
  }
  // Raw bytes: a partial sequence of tokens may end inside a UTF-8 character.
  std::cout << tok->decode(ids);
  std::cout.flush();
}

}  // namespace

void add_tokenize(CLI::App& app) {
  auto opts = std::make_shared<TokenizeOptions>();
  CLI::App* cmd = app.add_subcommand(
      "tokenize", "Encode text (from --text or stdin) to token ids, printed as one JSON array; "
                  "--decode turns a JSON array of ids back into text");
  cmd->add_option("--tokenizer", opts->tokenizer, "bpe (GPT-2) or char")
      ->check(CLI::IsMember({"bpe", "char"}))
      ->capture_default_str();
  cmd->add_option("--vocab", opts->vocab,
                  "bpe: a directory with encoder.json and vocab.bpe (default: the data dir's gpt2/); "
                  "char: a saved vocab .json or a text file to take the characters from "
                  "(default: tinyshakespeare)");
  cmd->add_option("--add-tokens", opts->add_tokens, "comma-separated special tokens to add, e.g. '<think>,</think>'")
      ->delimiter(',');
  cmd->add_option("--special", opts->special,
                  "all: text that spells a special token (<|endoftext|>, --add-tokens) becomes its id, as Hugging "
                  "Face's tokenizer does; none: it is encoded as ordinary text (tiktoken's encode_ordinary)")
      ->check(CLI::IsMember({"all", "none"}))
      ->capture_default_str();
  cmd->add_option("--text", opts->text, "the input (instead of stdin)");
  cmd->add_flag("--decode", opts->decode, "read a JSON array of ids and print the text");
  cmd->callback([opts, cmd] {
    opts->has_text = cmd->count("--text") > 0;
    run_tokenize(*opts);
  });
}

}  // namespace tern::cli
