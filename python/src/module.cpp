// The extension module tern._tern: tern::Error becomes tern.Error (a RuntimeError), and each
// layer of the C++ library gets a submodule that python/tern re-exports.
#include "bindings.h"

NB_MODULE(_tern, m) {
  using namespace tern::py;
  m.doc() = "tern's C++ core; import tern instead";
  nb::exception<tern::Error>(m, "Error", PyExc_RuntimeError);

  bind_tensor(m);
  bind_interop(m);
  bind_ops(m);
  bind_bench(m);
  nb::module_ cuda = m.def_submodule("cuda", "The GPU: availability, memory counters, synchronization");
  bind_cuda(m, cuda);

  nb::module_ nn = m.def_submodule("nn", "Modules and layers");
  bind_nn(nn);
  bind_gpt2(nn);
  nb::module_ optim = m.def_submodule("optim", "Optimizers, gradient clipping and schedules");
  bind_optim(optim);
  nb::module_ io = m.def_submodule("io", "safetensors files");
  bind_io(io);
  nb::module_ tok = m.def_submodule("tokenizers", "GPT-2 byte-level BPE and character tokenizers");
  bind_tokenizers(tok);
  nb::module_ quant = m.def_submodule("quant", "BitNet b1.58");
  bind_quant(quant);
  bind_phase4(quant);
}
