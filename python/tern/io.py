"""safetensors files: load(path) -> {name: Tensor}, save(path, tensors, metadata)."""

from ._tern.io import load, load_metadata, save  # noqa: F401
