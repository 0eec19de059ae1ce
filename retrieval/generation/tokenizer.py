"""Counting text in the generator's own tokens, for token budgets.

``GeneratorTokenizer`` loads only the vocabulary of a GGUF model
(``llama_cpp.Llama(path, vocab_only=True)``: ~0.1 s, no weights). Loaded vocabularies are kept
per file (path, size, modification time), so building a tokenizer again for the same file costs
a ``stat``. Tokenizing calls into llama.cpp, which reads the vocabulary only: safe from many
threads at once.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from ..errors import ConfigError
from .llama_runtime import import_llama_cpp, load_lock
from .models import resolve_model_path

_HEAD_BYTES = 1 << 20  # the GGUF header: metadata (architecture, quantization, vocabulary) lives there


@dataclass(frozen=True)
class _Vocab:
    llama: Any  # llama_cpp.Llama with vocab_only=True
    metadata: dict[str, str]
    bos_token: str
    eos_token: str


_loaded: list[Any] = []  # every vocabulary-only Llama loaded, to free at exit


@functools.lru_cache(maxsize=8)
def _load_vocab(path: str, size: int, mtime_ns: int) -> _Vocab:
    llama_cpp = import_llama_cpp()
    with load_lock:
        try:
            llama = llama_cpp.Llama(path, vocab_only=True, verbose=False)
        except (ValueError, RuntimeError) as exc:
            raise ConfigError(f"cannot load the vocabulary of {path}: {exc}") from None
    _loaded.append(llama)
    vocab = llama_cpp.llama_model_get_vocab(llama.model)

    def token_text(token: int) -> str:
        if token < 0:
            return ""
        return str(llama_cpp.llama_vocab_get_text(vocab, token).decode("utf-8", errors="replace"))

    return _Vocab(llama, dict(llama.metadata), token_text(llama.token_bos()), token_text(llama.token_eos()))


@atexit.register
def _free_vocabularies() -> None:
    # Free them while llama.cpp is still loaded: left to interpreter shutdown, Llama.__del__
    # runs after the library's functions are gone and prints an ignored TypeError.
    _load_vocab.cache_clear()
    while _loaded:
        _loaded.pop().close()


@functools.lru_cache(maxsize=8)
def _fingerprint(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256(str(size).encode())
    with open(path, "rb") as f:
        digest.update(f.read(_HEAD_BYTES))
    return digest.hexdigest()


class GeneratorTokenizer:
    """Tokens of a GGUF model's vocabulary: ``count``, ``count_many``, ``encode``.

    Plain text is tokenized as the model would see it inside a prompt: no BOS added, special
    token markup (``<|im_start|>``) not parsed, so text cannot smuggle control tokens into a count.
    ``encode_rendered`` is for a whole rendered chat template, where the markup is meant.
    """

    def __init__(self, model_path: str | Path | None = None) -> None:
        path = resolve_model_path(model_path).resolve()
        try:
            stat = path.stat()
        except OSError as exc:
            raise ConfigError(f"cannot read generator model {path}: {exc.strerror or exc}") from None
        self.model_path = path
        self._key = (str(path), stat.st_size, stat.st_mtime_ns)
        self._vocab = _load_vocab(*self._key)
        self._llama = self._vocab.llama

    @property
    def fingerprint(self) -> str:
        """sha256 over the file size and its first MiB (GGUF metadata + vocabulary); cached."""
        return _fingerprint(*self._key)

    @property
    def metadata(self) -> dict[str, str]:
        """The GGUF key/value metadata (``tokenizer.chat_template``, ``general.name``, ...)."""
        return self._vocab.metadata

    @property
    def chat_template(self) -> str | None:
        return self._vocab.metadata.get("tokenizer.chat_template")

    @property
    def bos_token(self) -> str:
        return self._vocab.bos_token

    @property
    def eos_token(self) -> str:
        return self._vocab.eos_token

    @property
    def vocab_size(self) -> int:
        return int(self._llama.n_vocab())

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` (no BOS, special-token markup read as plain text)."""
        if not text:
            return []
        return list(self._llama.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def count(self, text: str) -> int:
        """Number of tokens in ``text``."""
        return len(self.encode(text))

    def count_many(self, texts: Sequence[str]) -> list[int]:
        """``count`` of each text, in order."""
        return [len(self.encode(text)) for text in texts]

    def encode_rendered(self, rendered: str) -> list[int]:
        """Token ids of a rendered chat prompt: markup parsed as special tokens, and the BOS the
        model asks for (``tokenizer.ggml.add_bos_token``) unless the template already wrote it."""
        add_bos = not (self.bos_token and rendered.startswith(self.bos_token))
        return list(self._llama.tokenize(rendered.encode("utf-8"), add_bos=add_bos, special=True))

    def decode(self, tokens: Sequence[int]) -> str:
        """Text of ``tokens`` (special tokens left out)."""
        return str(self._llama.detokenize(list(tokens)).decode("utf-8", errors="replace"))

    def describe(self) -> dict[str, Any]:
        """Identity of the tokenizer, for manifests and benchmark records."""
        return {
            "model_path": str(self.model_path),
            "model_name": self.metadata.get("general.name", ""),
            "sha256_head": self.fingerprint,
            "vocab_size": self.vocab_size,
        }

    def __repr__(self) -> str:
        return f"GeneratorTokenizer({self.model_path.name!r}, sha256_head={self.fingerprint[:12]}...)"
