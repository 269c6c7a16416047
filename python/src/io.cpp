// tern.io: safetensors files as dicts of tensors (zero-copy views of the mapping by default).
#include <nanobind/stl/map.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "bindings.h"

namespace tern::py {

void bind_io(nb::module_& m) {
  m.def(
      "load",
      [](const std::string& path, bool copy, std::optional<DType> dtype, Device device) {
        nb::gil_scoped_release unlocked;
        return io::load(path, {.copy = copy, .dtype = dtype, .device = device}).tensors;
      },
      "path"_a, "copy"_a = false, "dtype"_a = nb::none(), "device"_a = kCPU,
      "Every tensor of a safetensors file by name (views of the mapped file unless copy=True)");
  m.def(
      "load_metadata",
      [](const std::string& path) {
        nb::gil_scoped_release unlocked;
        std::map<std::string, std::string> out;
        const auto file = io::SafetensorsFile::open(path);
        for (const auto& [k, v] : file.metadata()) out[k] = v;
        return out;
      },
      "path"_a, "The file's __metadata__ (string to string)");
  m.def(
      "save",
      [](const std::string& path, std::map<std::string, Tensor> tensors,
         std::optional<std::map<std::string, std::string>> metadata) {
        io::Metadata meta;
        if (metadata)
          for (auto& [k, v] : *metadata) meta.emplace(k, v);
        nb::gil_scoped_release unlocked;
        io::save(path, tensors, meta);
      },
      "path"_a, "tensors"_a, "metadata"_a = nb::none(), "Writes the tensors atomically (temporary file + rename)");
}

}  // namespace tern::py
