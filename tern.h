#pragma once
// The umbrella header: everything a research project needs.

#include <tern/autograd/function.h>
#include <tern/autograd/gradcheck.h>
#include <tern/autograd/grad_mode.h>
#include <tern/backends/backend.h>
#include <tern/core/dtype.h>
#include <tern/core/device.h>
#include <tern/core/error.h>
#include <tern/core/generator.h>
#include <tern/core/io/safetensors.h>
#include <tern/core/op_registry.h>
#include <tern/core/ops.h>
#include <tern/core/tensor.h>
#include <tern/nn/init.h>
#include <tern/nn/layers.h>
#include <tern/nn/module.h>
#include <tern/nn/optim/optimizer.h>
#include <tern/nn/transformer.h>
#include <tern/quant/bitlinear.h>
#include <tern/quant/compressed_model.h>
#include <tern/quant/config.h>
#include <tern/quant/convert.h>
#include <tern/quant/packing.h>
#include <tern/quant/quant_ops.h>
#include <tern/quant/quantizer.h>
