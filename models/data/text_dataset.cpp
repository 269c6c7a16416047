#include <tern/models/data/text_dataset.h>

#include <filesystem>
#include <sstream>
#include <unordered_set>
#include <variant>

#include <tern/core/error.h>
#include <tern/core/io/file.h>
#include <tern/models/data/token_file.h>

namespace tern::data {

namespace {
constexpr const char* kWhere = "data";
}  // namespace

const char* split_name(Split s) { return s == Split::train ? "train" : "val"; }

uint64_t random_below(Generator& gen, uint64_t n) {
  TERN_CHECK(n > 0, "random_below", "empty range");
  unsigned __int128 m = static_cast<unsigned __int128>(gen.next_u64()) * n;
  uint64_t low = static_cast<uint64_t>(m);
  if (low < n) {
    const uint64_t threshold = (0 - n) % n;
    while (low < threshold) {
      m = static_cast<unsigned __int128>(gen.next_u64()) * n;
      low = static_cast<uint64_t>(m);
    }
  }
  return static_cast<uint64_t>(m >> 64);
}

struct TextDataset::Impl {
  // The tokens: a mapped cache file or an owned vector.
  std::variant<TokenFile, std::vector<TokenId>> store;
  int64_t n = 0, n_train = 0, vocab = 0, specials = 0;
  CacheStatus status = CacheStatus::in_memory;
  std::string cache_path, message;

  TokenId at(int64_t i) const {
    if (const auto* f = std::get_if<TokenFile>(&store)) return (*f)[i];
    return std::get<std::vector<TokenId>>(store)[static_cast<size_t>(i)];
  }
  int64_t begin(Split s) const { return s == Split::train ? 0 : n_train; }
  int64_t len(Split s) const { return s == Split::train ? n_train : n - n_train; }
};

namespace {
int64_t train_count(int64_t n, double frac) {
  TERN_CHECK(frac > 0.0 && frac <= 1.0, kWhere, "train_fraction must be in (0, 1], got ", frac);
  return static_cast<int64_t>(static_cast<double>(n) * frac);  // Python's int(n * 0.9)
}
}  // namespace

TextDataset TextDataset::load(const std::string& text_path, const Tokenizer& tokenizer, TextDatasetOptions opts) {
  auto impl = std::make_shared<Impl>();
  const std::string text = io::read_file(text_path, kWhere);
  // Ordinary encoding is another tokenization of the same text: its own fingerprint and cache file.
  const uint64_t ordinary_salt = opts.special_tokens ? 0 : fnv1a64("encode_ordinary");
  const TokenSource source{.source_bytes = text.size(),
                           .source_hash = fnv1a64(text),
                           .tokenizer_fingerprint = tokenizer.fingerprint() ^ ordinary_salt,
                           .vocab_size = tokenizer.vocab_size()};
  impl->vocab = tokenizer.vocab_size();
  impl->cache_path = opts.cache_path.empty()
                         ? text_path + "." + tokenizer.tag() + (opts.special_tokens ? "" : ".ordinary") + ".tokens"
                         : opts.cache_path;
  bool loaded = false;
  if (opts.use_cache) {
    std::error_code ec;
    if (std::filesystem::exists(impl->cache_path, ec)) {
      try {
        TokenFile f = TokenFile::open(impl->cache_path);
        if (f.matches(source)) {
          impl->store = std::move(f);
          impl->status = CacheStatus::hit;
          loaded = true;
        } else {
          impl->message = "stale cache (the text or the tokenizer changed); rebuilt";
        }
      } catch (const Error& e) {
        impl->message = std::string("unreadable cache (") + e.what() + "); rebuilt";
      }
    }
  }
  if (!loaded) {
    std::vector<TokenId> tokens;
    try {
      tokens = opts.special_tokens ? tokenizer.encode(text) : tokenizer.encode_ordinary(text);
    } catch (const Error& e) {
      TERN_FAIL(text_path, e.what());
    }
    if (!opts.use_cache) {
      impl->status = CacheStatus::disabled;
    } else {
      try {
        write_token_file(impl->cache_path, tokens, source);
        impl->status = CacheStatus::built;
      } catch (const Error& e) {
        impl->status = CacheStatus::unwritable;
        impl->message = e.what();
      }
    }
    impl->store = std::move(tokens);
  }
  impl->n = std::visit([](const auto& s) { return static_cast<int64_t>(s.size()); }, impl->store);
  impl->n_train = train_count(impl->n, opts.train_fraction);
  if (opts.special_tokens && !tokenizer.special_tokens().empty()) {
    std::unordered_set<TokenId> ids;
    for (const auto& sp : tokenizer.special_tokens()) ids.insert(sp.id);
    for (int64_t i = 0; i < impl->n; ++i) impl->specials += ids.count(impl->at(i)) > 0;
  }
  return TextDataset(std::move(impl));
}

TextDataset TextDataset::from_tokens(std::vector<TokenId> tokens, int64_t vocab_size, double train_fraction) {
  TERN_CHECK(vocab_size > 0, kWhere, "vocab_size must be positive, got ", vocab_size);
  for (size_t i = 0; i < tokens.size(); ++i)
    TERN_CHECK(tokens[i] >= 0 && tokens[i] < vocab_size, kWhere, "token ", tokens[i], " at position ", i,
               " is outside [0, ", vocab_size, ")");
  auto impl = std::make_shared<Impl>();
  impl->n = static_cast<int64_t>(tokens.size());
  impl->n_train = train_count(impl->n, train_fraction);
  impl->vocab = vocab_size;
  impl->store = std::move(tokens);
  return TextDataset(std::move(impl));
}

int64_t TextDataset::size() const { return impl_->n; }
int64_t TextDataset::size(Split split) const { return impl_->len(split); }
int64_t TextDataset::vocab_size() const { return impl_->vocab; }
int64_t TextDataset::special_count() const { return impl_->specials; }
CacheStatus TextDataset::cache_status() const { return impl_->status; }
const std::string& TextDataset::cache_path() const { return impl_->cache_path; }
const std::string& TextDataset::cache_message() const { return impl_->message; }

TokenId TextDataset::token(Split split, int64_t i) const {
  TERN_CHECK(i >= 0 && i < impl_->len(split), kWhere, "index ", i, " outside the ", split_name(split),
             " split of ", impl_->len(split), " tokens");
  return impl_->at(impl_->begin(split) + i);
}

Tensor TextDataset::tokens(Split split) const {
  const int64_t len = impl_->len(split), b = impl_->begin(split);
  Tensor t = empty({len}, {.dtype = kInt64});
  int64_t* d = t.data_ptr<int64_t>();
  for (int64_t i = 0; i < len; ++i) d[i] = impl_->at(b + i);
  return t;
}

Batch TextDataset::get_batch(Split split, int64_t batch, int64_t block, Generator& gen, Device device) const {
  TERN_CHECK(batch > 0 && block > 0, kWhere, "batch and block size must be positive, got ", batch, " and ", block);
  const int64_t len = impl_->len(split), b0 = impl_->begin(split);
  TERN_CHECK(len >= block + 1, kWhere, "the ", split_name(split), " split has ", len, " tokens; block size ", block,
             " needs at least ", block + 1);
  Tensor x = empty({batch, block}, {.dtype = kInt64});
  Tensor y = empty({batch, block}, {.dtype = kInt64});
  int64_t* xd = x.data_ptr<int64_t>();
  int64_t* yd = y.data_ptr<int64_t>();
  const uint64_t range = static_cast<uint64_t>(len - block);  // offsets in [0, len - block - 1]
  for (int64_t r = 0; r < batch; ++r) {
    const int64_t off = b0 + static_cast<int64_t>(random_below(gen, range));
    for (int64_t t = 0; t < block; ++t) {
      xd[r * block + t] = impl_->at(off + t);
      yd[r * block + t] = impl_->at(off + t + 1);
    }
  }
  if (device != kCPU) return {x.to(device), y.to(device)};
  return {x, y};
}

BatchSampler::BatchSampler(TextDataset dataset, Split split, int64_t batch, int64_t block, uint64_t seed)
    : dataset_(std::move(dataset)), split_(split), batch_(batch), block_(block), gen_(seed) {
  TERN_CHECK(batch > 0 && block > 0, kWhere, "batch and block size must be positive, got ", batch, " and ", block);
}

Batch BatchSampler::next(Device device) {
  Batch b = dataset_.get_batch(split_, batch_, block_, gen_, device);
  ++step_;
  return b;
}

std::string BatchSampler::state() const {
  std::ostringstream os;
  os << "tern-batch-sampler 1 " << split_name(split_) << ' ' << batch_ << ' ' << block_ << ' ' << step_ << ' '
     << gen_.state();
  return os.str();
}

void BatchSampler::set_state(const std::string& state) {
  std::istringstream is(state);
  std::string magic, split;
  int version = 0;
  int64_t batch = 0, block = 0, step = 0;
  is >> magic >> version >> split >> batch >> block >> step;
  TERN_CHECK(!is.fail() && magic == "tern-batch-sampler", "BatchSampler", "malformed sampler state");
  TERN_CHECK(version == 1, "BatchSampler", "unsupported sampler state version ", version);
  TERN_CHECK(split == split_name(split_) && batch == batch_ && block == block_, "BatchSampler",
             "state is for split ", split, ", batch ", batch, ", block ", block, " but this sampler has split ",
             split_name(split_), ", batch ", batch_, ", block ", block_);
  std::string rest;
  std::getline(is >> std::ws, rest);
  Generator g;
  g.set_state(rest);
  gen_ = g;
  step_ = step;
}

}  // namespace tern::data
