#pragma once
// Reading and writing safetensors files as tern Tensors.
//
//   auto f = tern::io::SafetensorsFile::open("model.safetensors");   // mmap + full validation
//   for (const auto& name : f.names()) std::cout << name << " " << f.info(name).shape.size() << "\n";
//   Tensor w = f.tensor("wte.weight");                    // zero-copy view of the mapping
//   Tensor h = f.tensor("wte.weight", kFloat32, cuda());  // a converted copy
//
//   auto ckpt = tern::io::load("model.safetensors");      // {tensors, raw, metadata}
//   tern::io::save("out.safetensors", ckpt);              // every tensor, any dtype, metadata in order
//
// Views: the file is mapped copy-on-write, so a view can be written in place without
// touching the file; each view keeps the mapping alive after the SafetensorsFile is gone.
// A view is given when the dtype is one tern computes with and the data is aligned for
// its element size (files from the reference writer always are); otherwise tensor()
// copies. BOOL data is viewed only when every byte is 0 or 1 (other bytes become true).
// As with any mmap, a file that another program truncates in place while it is mapped
// faults (SIGBUS) when the lost pages are touched; tern's writer replaces files by
// rename and never does that. load({.copy = true}) maps nothing.
//
// Writing is atomic: a temporary file in the same directory is written, fsync'd and
// renamed over the target, so a crash never leaves half a file under the real name and a
// file that is mapped for reading is never overwritten in place.

#include <map>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <tern/core/io/safetensors_format.h>
#include <tern/core/tensor.h>

namespace tern::io {

class SafetensorsFile {
 public:
  // Maps and validates `path`; throws tern::Error "[path] <rule>: ..." on any malformed input.
  static SafetensorsFile open(const std::string& path);
  // Validates a file held in memory (copied into an aligned buffer). `label` names it in errors.
  static SafetensorsFile from_bytes(const void* data, size_t size, const std::string& label = "<memory>");

  const std::string& path() const { return path_; }
  uint64_t file_size() const { return size_; }
  const Header& header() const { return header_; }
  uint64_t header_size() const { return header_.header_size; }
  // Absolute file offset of the data buffer (8 + header size).
  uint64_t data_start() const { return header_.data_start(); }

  size_t size() const { return header_.tensors.size(); }
  bool contains(const std::string& name) const { return header_.find(name) != nullptr; }
  // Tensor names in the order the header lists them, and sorted.
  std::vector<std::string> names() const;
  std::vector<std::string> sorted_names() const;
  // Every entry, in header order.
  const std::vector<TensorInfo>& tensors() const { return header_.tensors; }
  const TensorInfo& info(const std::string& name) const;
  const Metadata& metadata() const { return header_.metadata; }  // in the header's order

  // The tensor's bytes inside the mapping, for any dtype (valid while this object or a
  // view of it lives).
  std::span<const uint8_t> raw_bytes(const std::string& name) const;
  // Whether tensor(name) would be a zero-copy view.
  bool can_view(const std::string& name) const;
  // A zero-copy view when can_view(name), else a copy. Throws for dtypes tern can't
  // compute with (F8_*, F6_*, F4, I16, U16, U32, U64, C64): use raw_bytes() for those.
  Tensor tensor(const std::string& name) const;
  // Always a fresh tensor of `dtype` on `device`, converted from the file's dtype.
  Tensor tensor(const std::string& name, DType dtype, Device device = kCPU) const;
  // The tensor's bytes, any dtype, as a 1-D u8 tensor: a view of the mapping where views are given, else a copy.
  Tensor bytes(const std::string& name) const;
  // Every tensor of a dtype tern computes with, by name, each as tensor(name) gives it.
  std::map<std::string, Tensor> views() const;
  // Gives the memory of the mapped pages that lie wholly inside the bytes `view` spans
  // (any view of tensor()'s, a slice say) back to the system; a later read faults them in again from the file. For a
  // view that has been copied elsewhere (a dtype conversion, say), so that loading a whole file never holds it beside
  // its copy. Writes made through views of those pages are lost. Returns false, doing nothing, when `view` is not a
  // view of this file's mapping.
  bool release(const Tensor& view) const;

 private:
  SafetensorsFile() = default;
  void init();
  const uint8_t* data_of(const TensorInfo& t) const { return base_ + header_.data_start() + t.begin; }
  Tensor copy_tensor(const TensorInfo& t, DType dtype) const;

  std::string path_;
  std::shared_ptr<void> mapping_;  // keeps base_ valid; shared with every view
  const uint8_t* base_ = nullptr;
  uint64_t size_ = 0;
  bool writable_ = false;  // the mapping is private and writable, so views may be handed out
  Header header_;
};

struct LoadOptions {
  // false: zero-copy views of the mapping where possible. true: every tensor is read into
  // memory of its own with pread, spread over tern's CPU threads (no mapping is kept, and
  // a file truncated while being read is an error, not a SIGBUS).
  bool copy = false;
  // Convert every tensor to this dtype (implies a copy).
  std::optional<DType> dtype;
  // Place every tensor on this device (a copy unless kCPU).
  Device device = kCPU;
};

// A tensor of a dtype tern does not compute with (F8_*, F6_*, F4, I16, U16, U32, U64, C64)
// as the file holds it, so that it can be written back unchanged.
struct RawEntry {
  SafetensorsDType dtype = SafetensorsDType::U8;
  Shape shape;
  Tensor bytes;  // 1-D u8, little-endian row-major, on the CPU
};

struct Checkpoint {
  std::map<std::string, Tensor> tensors;   // the dtypes tern computes with
  std::map<std::string, RawEntry> raw;     // every other dtype
  Metadata metadata;                       // in the file's order
};

// Loads every tensor of `path`, validated as SafetensorsFile::open does: those of dtypes
// tern computes with into `tensors` (converted and placed as `options` say), the others
// into `raw`, bytes unchanged, on the CPU. save(path, checkpoint) writes them all back, so
// load -> save rewrites any valid file byte for byte when the writer used the reference
// layout (the Python library does).
Checkpoint load(const std::string& path, const LoadOptions& options = {});

// Writes `tensors` (any device, any layout: they are written contiguous, in the
// reference layout) and `metadata` to `path`, atomically. Refuses a tensor named
// "__metadata__", duplicate names, undefined tensors and names or metadata that are not
// valid UTF-8. An empty `metadata` writes no "__metadata__" key.
void save(const std::string& path, const std::map<std::string, Tensor>& tensors, const Metadata& metadata = {});
void save(const std::string& path, std::span<const std::pair<std::string, Tensor>> tensors,
          const Metadata& metadata = {});
// Tensors, raw entries and metadata of a checkpoint; names must be unique across the two maps.
void save(const std::string& path, const Checkpoint& checkpoint);
// Raw bytes of any safetensors dtype, written the same way.
void save_raw(const std::string& path, const std::vector<RawTensor>& tensors, const Metadata& metadata = {});

}  // namespace tern::io
