"""What a local embedding model directory says: architecture, pooling, normalisation, prompts.

Two layouts are read:

- a sentence-transformers directory (``config.json``, ``model.safetensors``, ``tokenizer.json``,
  ``modules.json`` with a Transformer, a Pooling and optionally a Normalize module,
  ``1_Pooling/config.json``, ``sentence_bert_config.json``, ``config_sentence_transformers.json``
  with its ``prompts``): exported once to ONNX (``export.py``);
- an ONNX directory (``model.onnx``, ``tokenizer.json`` and ``retrieval_embedder.json`` naming
  ``pooling``, ``normalize``, ``max_seq_length`` and ``prompts``): used as it is.

Prompts are applied asymmetrically: queries get the query prompt, chunks and sentences the document
prompt, both prepended to the text as sentence-transformers' ``encode(prompt_name=...)`` does.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError

# The families whose ONNX export is tested against sentence-transformers.
ARCHITECTURES = ("bert", "roberta", "xlm-roberta")
POOLINGS = ("mean", "cls", "lasttoken")
ONNX_CONFIG = "retrieval_embedder.json"
# config_sentence_transformers.json names the document prompt in several ways across models.
DOCUMENT_PROMPT_KEYS = ("document", "passage", "corpus", "doc")
_SUPPORTED_MODULES = ("Transformer", "Pooling", "Normalize")


@dataclass(frozen=True)
class ModelSpec:
    """Everything about a local model that decides its vectors, and where its files are."""

    path: Path
    layout: str  # "sentence-transformers" or "onnx"
    model_id: str
    architecture: str  # config.json model_type (an ONNX directory: "onnx")
    pooling: str
    normalize: bool
    max_tokens: int
    query_prompt: str = ""
    document_prompt: str = ""
    lowercase: bool = False
    dim: int | None = None  # known before export for sentence-transformers directories

    @property
    def weights_file(self) -> Path:
        return self.path / ("model.onnx" if self.layout == "onnx" else "model.safetensors")

    @property
    def tokenizer_file(self) -> Path:
        return self.path / "tokenizer.json"

    @property
    def slug(self) -> str:
        """A file-name-safe short name (the ONNX cache names files after it)."""
        return re.sub(r"[^A-Za-z0-9._-]+", "-", self.model_id.rsplit("/", 1)[-1]).strip("-") or "model"


def read_model_dir(path: str | Path, *, model_id: str | None = None) -> ModelSpec:
    """The ``ModelSpec`` of the directory at ``path``, or a ``ConfigError`` saying what is missing."""
    root = Path(path).expanduser()
    if not root.is_dir():
        raise ConfigError(f"embedding model {root} is not a directory (give a sentence-transformers or ONNX model directory, or openai:MODEL@URL)")
    if not (root / "tokenizer.json").is_file():
        raise ConfigError(f"embedding model {root} has no tokenizer.json (a fast tokenizer is needed; save it with tokenizer.save_pretrained)")
    if (root / ONNX_CONFIG).is_file() or ((root / "model.onnx").is_file() and not (root / "model.safetensors").is_file()):
        return _read_onnx_dir(root, model_id)
    return _read_st_dir(root, model_id)


def _read_st_dir(root: Path, model_id: str | None) -> ModelSpec:
    config = _json(root / "config.json", required=True)
    if not (root / "model.safetensors").is_file():
        raise ConfigError(f"embedding model {root} has no model.safetensors (save it with safe_serialization=True)")
    arch = str(config.get("model_type", ""))
    if arch not in ARCHITECTURES:
        raise ConfigError(f"embedding model {root} is a {arch or 'unknown'!r} model; supported: {', '.join(ARCHITECTURES)}")
    pooling, normalize, dim = _modules(root)
    st_config = _json(root / "sentence_bert_config.json")
    prompts = _json(root / "config_sentence_transformers.json").get("prompts") or {}
    if not isinstance(prompts, dict):
        raise ConfigError(f"{root / 'config_sentence_transformers.json'}: prompts must be an object")
    return ModelSpec(
        path=root,
        layout="sentence-transformers",
        model_id=model_id or root.name,
        architecture=arch,
        pooling=pooling,
        normalize=normalize,
        max_tokens=_max_tokens(root, config, st_config),
        query_prompt=str(prompts.get("query", "")),
        document_prompt=_document_prompt(prompts),
        lowercase=bool(st_config.get("do_lower_case", False)),
        dim=dim or int(config.get("hidden_size", 0)) or None,
    )


def _modules(root: Path) -> tuple[str, bool, int | None]:
    """(pooling, normalize, dim) from ``modules.json``; a directory without it gets
    sentence-transformers' own default: mean pooling, no normalisation."""
    modules = _json(root / "modules.json")
    if not modules:
        return "mean", False, None
    if not isinstance(modules, list):
        raise ConfigError(f"{root / 'modules.json'} must be a list of modules")
    kinds = [str(m.get("type", "")).rsplit(".", 1)[-1] for m in modules]
    unsupported = [k for k in kinds if k not in _SUPPORTED_MODULES]
    if unsupported or kinds[:1] != ["Transformer"]:
        raise ConfigError(f"embedding model {root}: modules {kinds} are not supported (a Transformer, then Pooling, then optionally Normalize)")
    pooling, dim = "mean", None
    for module, kind in zip(modules, kinds):
        if kind == "Pooling":
            pooling, dim = _pooling(root / str(module.get("path", "1_Pooling")) / "config.json")
    return pooling, "Normalize" in kinds, dim


def _pooling(path: Path) -> tuple[str, int | None]:
    """(mode, dimension) from a Pooling config: sentence-transformers 6's ``pooling_mode`` and
    ``embedding_dimension``, or the older ``pooling_mode_*_token(s)`` flags."""
    config = _json(path, required=True)
    if isinstance(config.get("pooling_mode"), str):
        mode = {"mean_tokens": "mean", "cls_token": "cls"}.get(config["pooling_mode"], config["pooling_mode"])
        if mode not in POOLINGS:
            raise ConfigError(f"{path}: pooling {[mode]} is not supported (exactly one of {', '.join(POOLINGS)})")
        if config.get("include_prompt", True) is False:
            raise ConfigError(f"{path}: include_prompt=false (pooling without the prompt's tokens) is not supported")
        dim = config.get("embedding_dimension") or config.get("word_embedding_dimension")
        return mode, int(dim) if dim else None
    modes = {
        "cls": config.get("pooling_mode_cls_token", False),
        "mean": config.get("pooling_mode_mean_tokens", False),
        "lasttoken": config.get("pooling_mode_lasttoken", False),
        "max": config.get("pooling_mode_max_tokens", False),
        "mean_sqrt_len": config.get("pooling_mode_mean_sqrt_len_tokens", False),
        "weightedmean": config.get("pooling_mode_weightedmean_tokens", False),
    }
    chosen = [mode for mode, on in modes.items() if on]
    if len(chosen) != 1 or chosen[0] not in POOLINGS:
        raise ConfigError(f"{path}: pooling {chosen or 'none'} is not supported (exactly one of {', '.join(POOLINGS)})")
    if config.get("include_prompt", True) is False:
        raise ConfigError(f"{path}: include_prompt=false (pooling without the prompt's tokens) is not supported")
    dim = config.get("word_embedding_dimension")
    return chosen[0], int(dim) if dim else None


def _max_tokens(root: Path, config: dict[str, Any], st_config: dict[str, Any]) -> int:
    """sentence-transformers' rule: ``max_seq_length`` if given, else the smaller of the model's
    positions (RoBERTa-style models reserve two) and the tokenizer's ``model_max_length``."""
    explicit = st_config.get("max_seq_length")
    if explicit:
        return int(explicit)
    positions = int(config.get("max_position_embeddings", 512))
    if config.get("model_type") in ("roberta", "xlm-roberta"):
        positions -= 2
    tokenizer_limit = _json(root / "tokenizer_config.json").get("model_max_length")
    if isinstance(tokenizer_limit, (int, float)) and 0 < tokenizer_limit < 1e6:
        positions = min(positions, int(tokenizer_limit))
    return positions


def _document_prompt(prompts: dict[str, Any]) -> str:
    for key in DOCUMENT_PROMPT_KEYS:
        if key in prompts:
            return str(prompts[key])
    return ""


def _read_onnx_dir(root: Path, model_id: str | None) -> ModelSpec:
    if not (root / "model.onnx").is_file():
        raise ConfigError(f"embedding model {root} has {ONNX_CONFIG} but no model.onnx")
    config = _json(root / ONNX_CONFIG, required=True)
    known = {"pooling", "normalize", "max_seq_length", "prompts", "model_id", "lowercase"}
    unknown = sorted(set(config) - known)
    if unknown:
        raise ConfigError(f"{root / ONNX_CONFIG}: unknown keys {unknown} (known: {', '.join(sorted(known))})")
    pooling = config.get("pooling", "mean")
    if pooling not in POOLINGS:
        raise ConfigError(f"{root / ONNX_CONFIG}: pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}")
    max_tokens = config.get("max_seq_length")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 8:
        raise ConfigError(f"{root / ONNX_CONFIG}: max_seq_length must be an integer >= 8, got {max_tokens!r}")
    prompts = config.get("prompts") or {}
    if not isinstance(prompts, dict):
        raise ConfigError(f"{root / ONNX_CONFIG}: prompts must be an object like {{\"query\": \"query: \", \"document\": \"passage: \"}}")
    return ModelSpec(
        path=root,
        layout="onnx",
        model_id=model_id or str(config.get("model_id") or root.name),
        architecture="onnx",
        pooling=pooling,
        normalize=bool(config.get("normalize", True)),
        max_tokens=max_tokens,
        query_prompt=str(prompts.get("query", "")),
        document_prompt=_document_prompt(prompts),
        lowercase=bool(config.get("lowercase", False)),
    )


def _json(path: Path, required: bool = False) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        if required:
            raise ConfigError(f"embedding model file {path} not found") from None
        return {}
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
