// tern inspect FILE [--json]: every tensor's name, dtype, shape and bytes, the totals and
// the metadata of a safetensors file. The file is validated in full first; a malformed
// file exits non-zero with the validation error.

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <tern/core/io/safetensors.h>

#include "commands.h"

namespace tern::cli {
namespace {

// Names and metadata come from a stranger's file: escape control characters so that
// they cannot drive the terminal.
std::string printable(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f) {
      char buf[5];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += ch;
    }
  }
  return out;
}

std::string grouped(uint64_t v) {
  std::string s = std::to_string(v);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(static_cast<size_t>(i), ",");
  return s;
}

std::string human(uint64_t bytes) {
  static const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 6) v /= 1024, ++u;
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

std::string shape_text(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

struct Totals {
  uint64_t tensors = 0, elements = 0, bytes = 0;
  void add(const io::TensorInfo& t) {
    ++tensors;
    elements += static_cast<uint64_t>(t.numel());
    bytes += t.nbytes();
  }
};

void print_text(const io::SafetensorsFile& f) {
  Totals all;
  std::map<io::SafetensorsDType, Totals, std::greater<>> by_dtype;
  size_t wname = 4, wshape = 5, wbytes = 5;
  for (const auto& t : f.tensors()) {
    all.add(t);
    by_dtype[t.dtype].add(t);
    wname = std::max(wname, printable(t.name).size());
    wshape = std::max(wshape, shape_text(t.shape).size());
    wbytes = std::max(wbytes, grouped(t.nbytes()).size());
  }
  std::ostream& o = std::cout;
  o << printable(f.path()) << ": " << grouped(all.tensors) << " tensor" << (all.tensors == 1 ? "" : "s") << ", "
    << grouped(all.elements) << " elements, " << grouped(all.bytes) << " bytes (" << human(all.bytes) << ")\n";
  o << "file " << grouped(f.file_size()) << " bytes = 8 (length) + " << grouped(f.header_size()) << " (header) + "
    << grouped(f.header().data_size) << " (data)\n";
  if (!f.tensors().empty()) {
    char line[64];
    o << "\n  " << std::left;
    o.width(static_cast<std::streamsize>(wname));
    o << "name" << "  ";
    o.width(13);
    o << "dtype";
    o.width(static_cast<std::streamsize>(wshape));
    o << "shape" << "  " << std::right;
    o.width(static_cast<std::streamsize>(wbytes));
    o << "bytes" << "  data_offsets\n";
    for (const auto& t : f.tensors()) {
      o << "  " << std::left;
      o.width(static_cast<std::streamsize>(wname));
      o << printable(t.name) << "  ";
      o.width(13);
      o << std::string(io::dtype_name(t.dtype));
      o.width(static_cast<std::streamsize>(wshape));
      o << shape_text(t.shape) << "  " << std::right;
      o.width(static_cast<std::streamsize>(wbytes));
      std::snprintf(line, sizeof line, "[%llu, %llu]", static_cast<unsigned long long>(t.begin),
                    static_cast<unsigned long long>(t.end));
      o << grouped(t.nbytes()) << "  " << line << "\n";
    }
    o << "\nby dtype:\n";
    for (const auto& [dt, tot] : by_dtype) {
      o << "  " << std::left;
      o.width(13);
      o << std::string(io::dtype_name(dt)) << std::right << grouped(tot.tensors) << " tensor"
        << (tot.tensors == 1 ? "" : "s") << ", " << grouped(tot.elements) << " elements, " << grouped(tot.bytes)
        << " bytes\n";
    }
  }
  const auto& meta = f.metadata();
  o << "\nmetadata (" << meta.size() << " key" << (meta.size() == 1 ? "" : "s") << ")" << (meta.empty() ? "\n" : ":\n");
  for (const auto& [k, v] : meta) o << "  " << printable(k) << " = " << printable(v) << "\n";
}

void print_json(const io::SafetensorsFile& f) {
  using json = nlohmann::ordered_json;
  Totals all;
  std::map<io::SafetensorsDType, Totals, std::greater<>> by_dtype;
  json tensors = json::array();
  for (const auto& t : f.tensors()) {
    all.add(t);
    by_dtype[t.dtype].add(t);
    tensors.push_back({{"name", t.name},
                       {"dtype", std::string(io::dtype_name(t.dtype))},
                       {"shape", t.shape},
                       {"bytes", t.nbytes()},
                       {"data_offsets", {t.begin, t.end}}});
  }
  json dtypes = json::object();
  for (const auto& [dt, tot] : by_dtype)
    dtypes[std::string(io::dtype_name(dt))] = {{"tensors", tot.tensors}, {"elements", tot.elements}, {"bytes", tot.bytes}};
  json meta = json::object();
  for (const auto& [k, v] : f.metadata()) meta[k] = v;
  const json out = {{"file", f.path()},
                    {"file_size", f.file_size()},
                    {"header_size", f.header_size()},
                    {"data_size", f.header().data_size},
                    {"tensors", tensors},
                    {"totals", {{"tensors", all.tensors}, {"elements", all.elements}, {"bytes", all.bytes},
                                {"by_dtype", dtypes}}},
                    {"metadata", meta}};
  std::cout << out.dump(2) << "\n";
}

}  // namespace

void add_inspect(CLI::App& app) {
  struct Opts {
    std::string file;
    bool json = false;
  };
  auto opts = std::make_shared<Opts>();
  CLI::App* cmd = app.add_subcommand(
      "inspect", "List a safetensors file's tensors (name, dtype, shape, bytes), totals and metadata");
  cmd->add_option("FILE", opts->file, "the .safetensors file")->required();
  cmd->add_flag("--json", opts->json, "print JSON instead of a table");
  cmd->callback([opts] {
    const auto f = io::SafetensorsFile::open(opts->file);
    if (opts->json)
      print_json(f);
    else
      print_text(f);
  });
}

}  // namespace tern::cli
