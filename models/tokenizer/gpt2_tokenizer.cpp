#include <tern/models/tokenizer/gpt2_tokenizer.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <queue>
#include <sstream>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include <tern/core/error.h>
#include <tern/core/io/file.h>
#include <tern/core/utf8.h>

namespace tern {

namespace {

constexpr const char* kWhere = "gpt2 tokenizer";

// GPT-2's pre-tokenization regex. \s is Unicode's White_Space property, written
// out because PCRE2's \s under UCP also matches U+180E, which Python's `regex`
// module (the reference implementation's) does not.
#define TERN_WS "\\t-\\r\\x{20}\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}"
constexpr const char* kPattern =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^" TERN_WS "\\p{L}\\p{N}]+|[" TERN_WS
    "]+(?![^" TERN_WS "])|[" TERN_WS "]+";
#undef TERN_WS

// Pieces longer than this are not cached (they are rare and would bloat the cache).
constexpr size_t kMaxCachedPiece = 128;
constexpr size_t kMaxCacheEntries = size_t{1} << 18;

std::atomic<uint64_t> g_next_impl_id{1};


// openai/gpt-2's bytes_to_unicode(): every byte gets a printable code point.
std::array<char32_t, 256> bytes_to_unicode() {
  std::array<char32_t, 256> table{};
  std::array<bool, 256> printable{};
  for (int b = '!'; b <= '~'; ++b) printable[b] = true;
  for (int b = 0xA1; b <= 0xAC; ++b) printable[b] = true;
  for (int b = 0xAE; b <= 0xFF; ++b) printable[b] = true;
  int n = 0;
  for (int b = 0; b < 256; ++b) table[b] = printable[b] ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + n++);
  return table;
}

inline uint64_t pair_key(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}

// Open-addressing hash map from a token pair to its merge: one probe, usually
// one cache line, per lookup in the BPE inner loop.
class MergeTable {
 public:
  struct Merge {
    int32_t rank;
    int32_t merged;
  };
  void reserve(size_t n) {
    size_t cap = 16;
    while (cap < n * 2) cap <<= 1;
    slots_.assign(cap, Slot{kEmpty, {}});
    mask_ = cap - 1;
  }
  // Inserts or overwrites (a repeated pair keeps its last rank, like encoder.py's dict).
  void put(uint64_t key, Merge m) {
    for (size_t i = hash(key) & mask_;; i = (i + 1) & mask_) {
      if (slots_[i].key == kEmpty) ++size_;
      if (slots_[i].key == kEmpty || slots_[i].key == key) {
        slots_[i] = Slot{key, m};
        return;
      }
    }
  }
  const Merge* find(uint64_t key) const {
    for (size_t i = hash(key) & mask_;; i = (i + 1) & mask_) {
      if (slots_[i].key == key) return &slots_[i].m;
      if (slots_[i].key == kEmpty) return nullptr;
    }
  }
  template <typename F>
  void for_each(F&& f) const {
    for (const Slot& s : slots_)
      if (s.key != kEmpty) f(s.key, s.m);
  }

 private:
  static constexpr uint64_t kEmpty = ~uint64_t{0};  // ids are < 2^31, so never a real key
  static size_t hash(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return static_cast<size_t>(k);
  }
  struct Slot {
    uint64_t key;
    Merge m;
  };
  std::vector<Slot> slots_;
  size_t mask_ = 0, size_ = 0;
};

// Reads encoder.json's {"key": id, ...} without building a DOM.
struct EncoderSax : nlohmann::json_sax<nlohmann::json> {
  std::vector<std::pair<std::string, int64_t>> entries;
  std::string current, error;
  int depth = 0;
  bool bad(const std::string& what) {
    error = what;
    return false;
  }
  bool null() override { return bad("the id of \"" + current + "\" is not an integer"); }
  bool boolean(bool) override { return null(); }
  bool number_float(double, const std::string&) override { return null(); }
  bool string(std::string&) override { return null(); }
  bool binary(binary_t&) override { return null(); }
  bool number_integer(int64_t v) override {
    if (depth != 1) return bad("expected a JSON object of ids");
    entries.emplace_back(std::move(current), v);
    return true;
  }
  bool number_unsigned(uint64_t v) override {
    return number_integer(v > static_cast<uint64_t>(INT64_MAX) ? INT64_MAX : static_cast<int64_t>(v));
  }
  bool start_object(size_t) override { return ++depth == 1 ? true : null(); }
  bool end_object() override {
    --depth;
    return true;
  }
  bool key(std::string& k) override {
    current = std::move(k);
    return true;
  }
  bool start_array(size_t) override { return depth == 0 ? bad("expected a JSON object, not an array") : null(); }
  bool end_array() override { return true; }
  bool parse_error(size_t, const std::string&, const nlohmann::detail::exception& e) override {
    return bad(std::string("not valid JSON: ") + e.what());
  }
};

// Per-thread PCRE2 scratch: match data and a JIT stack, independent of the pattern.
struct MatchScratch {
  pcre2_match_data* md = nullptr;
  pcre2_match_context* mctx = nullptr;
  pcre2_jit_stack* jit_stack = nullptr;
  MatchScratch() {
    md = pcre2_match_data_create(1, nullptr);
    mctx = pcre2_match_context_create(nullptr);
    jit_stack = pcre2_jit_stack_create(32 * 1024, 16 * 1024 * 1024, nullptr);
    TERN_CHECK(md && mctx && jit_stack, kWhere, "out of memory creating PCRE2 match data");
    pcre2_jit_stack_assign(mctx, nullptr, jit_stack);
  }
  ~MatchScratch() {
    pcre2_jit_stack_free(jit_stack);
    pcre2_match_context_free(mctx);
    pcre2_match_data_free(md);
  }
  MatchScratch(const MatchScratch&) = delete;
  MatchScratch& operator=(const MatchScratch&) = delete;
};

MatchScratch& scratch() {
  thread_local MatchScratch s;
  return s;
}

uint64_t hash_piece(std::string_view s) {
  uint64_t h = 0x9E3779B97F4A7C15ull ^ s.size();
  size_t i = 0;
  auto mix = [&](uint64_t w) {
    h = (h ^ w) * 0xbf58476d1ce4e5b9ull;
    h ^= h >> 31;
  };
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    mix(w);
  }
  if (i < s.size()) {
    uint64_t w = 0;
    std::memcpy(&w, s.data() + i, s.size() - i);
    mix(w);
  }
  h ^= h >> 29;
  h *= 0x94d049bb133111ebull;
  h ^= h >> 32;
  return h | 1;  // 0 marks an empty slot
}

// The piece -> ids cache: an open-addressing table over two arenas. One per
// thread and tokenizer (see cache_for), so lookups take no lock.
class PieceCache {
 public:
  bool find(std::string_view piece, uint64_t h, std::vector<TokenId>& out) const {
    if (table_.empty()) return false;
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      const Entry& e = table_[i];
      if (e.hash == 0) return false;
      if (e.hash == h && e.key_len == piece.size() && std::memcmp(keys_.data() + e.key_off, piece.data(), piece.size()) == 0) {
        out.insert(out.end(), ids_.begin() + e.ids_off, ids_.begin() + e.ids_off + e.n_ids);
        return true;
      }
    }
  }
  void insert(std::string_view piece, uint64_t h, const TokenId* ids, size_t n) {
    if (size_ >= kMaxCacheEntries) clear();
    if ((size_ + 1) * 2 > table_.size()) grow();
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      Entry& e = table_[i];
      if (e.hash == 0) {
        e = Entry{h, static_cast<uint32_t>(keys_.size()), static_cast<uint32_t>(ids_.size()),
                  static_cast<uint16_t>(piece.size()), static_cast<uint16_t>(n)};
        keys_.append(piece);
        ids_.insert(ids_.end(), ids, ids + n);
        ++size_;
        return;
      }
    }
  }
  size_t size() const { return size_; }
  void clear() {
    table_.clear();
    keys_.clear();
    ids_.clear();
    size_ = 0;
    mask_ = 0;
  }

 private:
  struct Entry {
    uint64_t hash;
    uint32_t key_off, ids_off;
    uint16_t key_len, n_ids;
  };
  void grow() {
    std::vector<Entry> old;
    old.swap(table_);
    table_.assign(old.empty() ? 4096 : old.size() * 2, Entry{0, 0, 0, 0, 0});
    mask_ = table_.size() - 1;
    for (const Entry& e : old)
      if (e.hash)
        for (size_t i = e.hash & mask_;; i = (i + 1) & mask_)
          if (table_[i].hash == 0) {
            table_[i] = e;
            break;
          }
  }
  std::vector<Entry> table_;
  std::string keys_;
  std::vector<TokenId> ids_;
  size_t size_ = 0, mask_ = 0;
};

// This thread's cache for the tokenizer data `owner` (an Impl id). A thread keeps
// the caches of its two most recently used tokenizers.
PieceCache& cache_for(uint64_t owner) {
  struct Slot {
    uint64_t owner = 0;
    PieceCache cache;
  };
  thread_local Slot slots[2];
  thread_local int victim = 0;
  for (Slot& s : slots)
    if (s.owner == owner) return s.cache;
  Slot& s = slots[victim];
  victim ^= 1;
  s.owner = owner;
  s.cache.clear();
  return s.cache;
}

std::string pcre2_message(int code) {
  PCRE2_UCHAR buf[256];
  pcre2_get_error_message(code, buf, sizeof buf);
  return reinterpret_cast<const char*>(buf);
}

}  // namespace

struct GPT2Tokenizer::Impl {
  std::vector<std::string> id_bytes;                    // raw bytes of each id
  std::unordered_map<std::string, TokenId> bytes_to_id;  // the inverse
  std::array<int32_t, 256> byte_id{};                    // id of each single byte
  using Merge = MergeTable::Merge;
  MergeTable merges;
  bool fast_ok = true;
  uint64_t fingerprint = 0;
  std::array<char32_t, 256> byte_to_cp{};
  pcre2_code* code = nullptr;
  bool jit = false;

  const uint64_t id = g_next_impl_id++;  // keys the per-thread piece caches

  ~Impl() {
    if (code) pcre2_code_free(code);
  }

  const Merge* find_merge(int32_t a, int32_t b) const {
    return merges.find(pair_key(a, b));
  }

  void load(const std::string& encoder_path, const std::string& bpe_path);
  void compile_regex();
  template <typename F>
  void for_each_piece(std::string_view text, F&& f) const;
  void bpe_fast(std::string_view piece, std::vector<TokenId>& out) const;
  void bpe_reference(std::string_view piece, std::vector<TokenId>& out) const;
};

void GPT2Tokenizer::Impl::load(const std::string& encoder_path, const std::string& bpe_path) {
  byte_to_cp = bytes_to_unicode();
  // Inverse of bytes_to_unicode(); its code points are all below 324.
  std::array<int16_t, 324> cp_to_byte;
  cp_to_byte.fill(-1);
  for (int b = 0; b < 256; ++b) cp_to_byte[byte_to_cp[b]] = static_cast<int16_t>(b);
  auto byte_of = [&](char32_t cp) { return cp < cp_to_byte.size() ? cp_to_byte[cp] : int16_t{-1}; };

  // encoder.json: {"<byte-level string>": id, ...}
  EncoderSax sax;
  {
    const std::string json = io::read_file(encoder_path, kWhere);
    const bool ok = nlohmann::json::sax_parse(json, &sax);
    TERN_CHECK(ok && sax.error.empty(), kWhere, encoder_path, ": ", sax.error.empty() ? "not valid JSON" : sax.error);
  }
  TERN_CHECK(!sax.entries.empty(), kWhere, encoder_path, ": expected a non-empty JSON object");
  const size_t n = sax.entries.size();
  id_bytes.assign(n, std::string());
  std::vector<bool> seen(n, false);
  bytes_to_id.reserve(n * 2);
  for (const auto& [key, id] : sax.entries) {
    TERN_CHECK(id >= 0 && static_cast<size_t>(id) < n, kWhere, encoder_path, ": id ", id, " of \"", key,
               "\" is outside [0, ", n, ")");
    TERN_CHECK(!seen[id], kWhere, encoder_path, ": id ", id, " appears twice");
    seen[id] = true;
    TERN_CHECK(utf8::is_valid(key), kWhere, encoder_path, ": a key is not valid UTF-8");
    std::string bytes;
    for (size_t i = 0; i < key.size();) {
      size_t len = 0;
      const char32_t cp = utf8::decode_at(key, i, &len);
      const int16_t b = byte_of(cp);
      TERN_CHECK(b >= 0, kWhere, encoder_path, ": key \"", key, "\" holds ", utf8::codepoint_name(cp),
                 ", which is not one of GPT-2's byte characters");
      bytes += static_cast<char>(b);
      i += len;
    }
    TERN_CHECK(!bytes.empty(), kWhere, encoder_path, ": empty key");
    TERN_CHECK(bytes_to_id.emplace(bytes, id).second, kWhere, encoder_path, ": key \"", key, "\" appears twice");
    id_bytes[id] = std::move(bytes);
  }
  for (int b = 0; b < 256; ++b) {
    auto it = bytes_to_id.find(std::string(1, static_cast<char>(b)));
    TERN_CHECK(it != bytes_to_id.end(), kWhere, encoder_path, ": byte ", b, " has no token");
    byte_id[b] = static_cast<int32_t>(it->second);
  }

  // vocab.bpe: "#version: ..." then one "left right" merge per line, best first.
  const std::string text = io::read_file(bpe_path, kWhere);
  std::vector<int32_t> created_rank(n, -1);  // the latest merge that creates each id
  std::vector<std::array<int32_t, 3>> list;  // left, right, merged
  size_t line_no = 0;
  for (size_t pos = 0; pos < text.size();) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || (line_no == 1 && line.starts_with("#version"))) continue;
    const size_t sp = line.find(' ');
    TERN_CHECK(sp != std::string_view::npos && sp > 0 && sp + 1 < line.size() &&
                   line.find(' ', sp + 1) == std::string_view::npos,
               kWhere, bpe_path, ":", line_no, ": expected two space-separated tokens");
    auto lookup = [&](std::string_view s) -> int32_t {
      std::string bytes;
      for (size_t i = 0; i < s.size();) {
        size_t len = 0;
        TERN_CHECK(utf8::sequence_length(s, i) > 0, kWhere, bpe_path, ":", line_no, ": invalid UTF-8");
        const char32_t cp = utf8::decode_at(s, i, &len);
        const int16_t byte = byte_of(cp);
        TERN_CHECK(byte >= 0, kWhere, bpe_path, ":", line_no, ": ", utf8::codepoint_name(cp),
                   " is not one of GPT-2's byte characters");
        bytes += static_cast<char>(byte);
        i += len;
      }
      auto it = bytes_to_id.find(bytes);
      TERN_CHECK(it != bytes_to_id.end(), kWhere, bpe_path, ":", line_no, ": \"", s, "\" is not in ",
                 encoder_path);
      return static_cast<int32_t>(it->second);
    };
    const int32_t a = lookup(line.substr(0, sp));
    const int32_t b = lookup(line.substr(sp + 1));
    auto it = bytes_to_id.find(id_bytes[a] + id_bytes[b]);
    TERN_CHECK(it != bytes_to_id.end(), kWhere, bpe_path, ":", line_no, ": the merge \"", line,
               "\" makes a token that is not in ", encoder_path);
    list.push_back({a, b, static_cast<int32_t>(it->second)});
  }
  merges.reserve(list.size());
  for (size_t r = 0; r < list.size(); ++r) {
    const auto [a, b, m] = list[r];
    // Like encoder.py's dict(zip(merges, range(...))): a repeated pair keeps its last rank.
    merges.put(pair_key(a, b), Merge{static_cast<int32_t>(r), m});
    created_rank[m] = std::max(created_rank[m], static_cast<int32_t>(r));
  }
  // The heap loop equals encoder.py's when every merge ranks after those creating its parts.
  merges.for_each([&](uint64_t key, const Merge& mg) {
    const int32_t a = static_cast<int32_t>(key >> 32), b = static_cast<int32_t>(key & 0xffffffffu);
    if (created_rank[a] >= mg.rank || created_rank[b] >= mg.rank) fast_ok = false;
  });

  uint64_t h = fnv1a64("gpt2-bpe");
  for (const auto& s : id_bytes) {
    const uint64_t len = s.size();
    h = fnv1a64(std::string_view(reinterpret_cast<const char*>(&len), sizeof len), h);
    h = fnv1a64(s, h);
  }
  for (const auto& m : list) h = fnv1a64(std::string_view(reinterpret_cast<const char*>(m.data()), sizeof m), h);
  fingerprint = h;
}

void GPT2Tokenizer::Impl::compile_regex() {
  int err = 0;
  PCRE2_SIZE off = 0;
  code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(kPattern), PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &err,
                       &off, nullptr);
  TERN_CHECK(code, kWhere, "PCRE2 cannot compile the GPT-2 pattern at offset ", off, ": ", pcre2_message(err));
  jit = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
}

// Calls f(piece) for each regex match, in order (Python's re.findall).
template <typename F>
void GPT2Tokenizer::Impl::for_each_piece(std::string_view text, F&& f) const {
  MatchScratch& s = scratch();
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  const PCRE2_SIZE n = text.size();
  PCRE2_SIZE offset = 0;
  while (offset < n) {
    // The caller validated the UTF-8 once; skipping PCRE2's check keeps this linear.
    int rc = jit ? pcre2_jit_match(code, subject, n, offset, PCRE2_NO_UTF_CHECK, s.md, s.mctx)
                 : pcre2_match(code, subject, n, offset, PCRE2_NO_UTF_CHECK, s.md, s.mctx);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT)  // pathological input: fall back to the interpreter
      rc = pcre2_match(code, subject, n, offset, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, s.md, s.mctx);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    TERN_CHECK(rc >= 0, kWhere, "PCRE2 match failed at byte ", offset, ": ", pcre2_message(rc));
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(s.md);
    const PCRE2_SIZE start = ov[0], end = ov[1];
    if (end <= start) {  // cannot happen with this pattern; never loop forever
      offset = start + std::max<size_t>(1, utf8::sequence_length(text, start));
      continue;
    }
    f(text.substr(start, end - start));
    offset = end;
  }
}

// Merge loop with a min-heap of (rank, position) over a linked list of symbols:
// O(n log n). Equivalent to bpe_reference when fast_ok (see load()).
void GPT2Tokenizer::Impl::bpe_fast(std::string_view piece, std::vector<TokenId>& out) const {
  const int n = static_cast<int>(piece.size());
  struct Sym {
    int32_t id;
    int prev, next;
  };
  std::vector<Sym> sym(n);
  for (int i = 0; i < n; ++i) sym[i] = {byte_id[static_cast<unsigned char>(piece[i])], i - 1, i + 1 < n ? i + 1 : -1};
  struct Cand {
    int32_t rank;
    int pos;
    int32_t left, right, merged;
    bool operator>(const Cand& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::vector<Cand> storage;
  storage.reserve(n);
  std::priority_queue<Cand, std::vector<Cand>, std::greater<Cand>> heap(std::greater<Cand>(), std::move(storage));
  auto push = [&](int pos) {
    if (pos < 0) return;
    const int nx = sym[pos].next;
    if (nx < 0) return;
    if (const Merge* m = find_merge(sym[pos].id, sym[nx].id)) heap.push({m->rank, pos, sym[pos].id, sym[nx].id, m->merged});
  };
  for (int i = 0; i + 1 < n; ++i) push(i);
  while (!heap.empty()) {
    const Cand c = heap.top();
    heap.pop();
    Sym& s = sym[c.pos];
    if (s.id != c.left || s.next < 0 || sym[s.next].id != c.right) continue;  // stale
    const int nx = s.next;
    s.id = c.merged;
    s.next = sym[nx].next;
    if (s.next >= 0) sym[s.next].prev = c.pos;
    sym[nx].id = -1;
    push(s.prev);
    push(c.pos);
  }
  for (int i = 0; i >= 0 && i < n; i = sym[i].next) out.push_back(sym[i].id);
}

// openai/gpt-2 encoder.py's loop, on ids: find the best-ranked adjacent pair,
// merge all its occurrences left to right, repeat. O(n²) in the piece length.
void GPT2Tokenizer::Impl::bpe_reference(std::string_view piece, std::vector<TokenId>& out) const {
  std::vector<int32_t> word(piece.size());
  for (size_t i = 0; i < piece.size(); ++i) word[i] = byte_id[static_cast<unsigned char>(piece[i])];
  std::vector<int32_t> next;
  while (word.size() > 1) {
    const Merge* best = nullptr;
    int32_t bl = 0, br = 0;
    for (size_t i = 0; i + 1 < word.size(); ++i)
      if (const Merge* m = find_merge(word[i], word[i + 1]); m && (!best || m->rank < best->rank)) {
        best = m;
        bl = word[i];
        br = word[i + 1];
      }
    if (!best) break;
    next.clear();
    for (size_t i = 0; i < word.size();) {
      if (i + 1 < word.size() && word[i] == bl && word[i + 1] == br) {
        next.push_back(best->merged);
        i += 2;
      } else {
        next.push_back(word[i++]);
      }
    }
    word.swap(next);
  }
  out.insert(out.end(), word.begin(), word.end());
}

GPT2Tokenizer::GPT2Tokenizer() : GPT2Tokenizer(from_dir(default_data_dir() + "/gpt2")) {}

GPT2Tokenizer::GPT2Tokenizer(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {
  if (base_token_id("<|endoftext|>")) eot_ = add_special_token("<|endoftext|>");
}

GPT2Tokenizer GPT2Tokenizer::from_dir(const std::string& dir) {
  return from_files(dir + "/encoder.json", dir + "/vocab.bpe");
}

GPT2Tokenizer GPT2Tokenizer::from_files(const std::string& encoder_json, const std::string& vocab_bpe) {
  auto impl = std::make_shared<Impl>();
  impl->load(encoder_json, vocab_bpe);
  impl->compile_regex();
  return GPT2Tokenizer(std::move(impl));
}

int64_t GPT2Tokenizer::base_vocab_size() const { return static_cast<int64_t>(impl_->id_bytes.size()); }

void GPT2Tokenizer::encode_piece(std::string_view text, std::vector<TokenId>& out) const {
  const Impl& im = *impl_;
  const bool fast = im.fast_ok && !reference_bpe_;
  PieceCache* cache = reference_bpe_ ? nullptr : &cache_for(im.id);
  im.for_each_piece(text, [&](std::string_view piece) {
    if (piece.size() == 1) {
      out.push_back(im.byte_id[static_cast<unsigned char>(piece[0])]);
      return;
    }
    const bool cacheable = cache && piece.size() <= kMaxCachedPiece;
    uint64_t h = 0;
    if (cacheable) {
      h = hash_piece(piece);
      if (cache->find(piece, h, out)) return;
    }
    const size_t before = out.size();
    if (fast)
      im.bpe_fast(piece, out);
    else
      im.bpe_reference(piece, out);
    if (cacheable) cache->insert(piece, h, out.data() + before, out.size() - before);
  });
}

void GPT2Tokenizer::append_base_bytes(TokenId id, std::string& out) const { out += impl_->id_bytes[id]; }

std::optional<TokenId> GPT2Tokenizer::base_token_id(std::string_view text) const {
  auto it = impl_->bytes_to_id.find(std::string(text));
  if (it == impl_->bytes_to_id.end()) return std::nullopt;
  return it->second;
}

uint64_t GPT2Tokenizer::base_fingerprint() const { return impl_->fingerprint; }

std::vector<std::string> GPT2Tokenizer::pretokenize(std::string_view text) const {
  utf8::check_valid(text, kWhere);
  std::vector<std::string> pieces;
  impl_->for_each_piece(text, [&](std::string_view p) { pieces.emplace_back(p); });
  return pieces;
}

std::vector<TokenId> GPT2Tokenizer::bpe(std::string_view piece) const {
  std::vector<TokenId> out;
  if (piece.empty()) return out;
  if (impl_->fast_ok && !reference_bpe_)
    impl_->bpe_fast(piece, out);
  else
    impl_->bpe_reference(piece, out);
  return out;
}

std::string GPT2Tokenizer::token_string(TokenId id) const {
  TERN_CHECK(id >= 0 && id < base_vocab_size(), kWhere, "token id ", id, " is outside the base vocabulary [0, ",
             base_vocab_size(), ")");
  std::string s;
  for (unsigned char c : impl_->id_bytes[id]) utf8::append(s, impl_->byte_to_cp[c]);
  return s;
}

std::optional<TokenId> GPT2Tokenizer::token_string_id(std::string_view s) const {
  if (!utf8::is_valid(s)) return std::nullopt;
  std::string bytes;
  for (size_t i = 0; i < s.size();) {
    size_t len = 0;
    const char32_t cp = utf8::decode_at(s, i, &len);
    const auto* it = std::find(impl_->byte_to_cp.begin(), impl_->byte_to_cp.end(), cp);
    if (it == impl_->byte_to_cp.end()) return std::nullopt;
    bytes += static_cast<char>(it - impl_->byte_to_cp.begin());
    i += len;
  }
  return base_token_id(bytes);
}

size_t GPT2Tokenizer::cache_size() const { return cache_for(impl_->id).size(); }

void GPT2Tokenizer::clear_cache() const { cache_for(impl_->id).clear(); }

bool GPT2Tokenizer::uses_fast_bpe() const { return impl_->fast_ok && !reference_bpe_; }

void GPT2Tokenizer::set_reference_bpe(bool on) { reference_bpe_ = on; }

}  // namespace tern
