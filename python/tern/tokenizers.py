"""GPT-2's byte-level BPE and the character tokenizer."""

import os as _os

from ._tern.tokenizers import CharTokenizer, Tokenizer  # noqa: F401
from ._tern.tokenizers import GPT2Tokenizer as _GPT2Tokenizer


class GPT2Tokenizer(_GPT2Tokenizer):
    """GPT-2's tokenizer; without a directory, the vocabulary that ships with tern."""

    def __init__(self, directory: "str | None" = None):
        if directory is None:
            directory = _os.path.join(_os.environ.get("TERN_DATA_DIR", ""), "gpt2")
        super().__init__(directory)
