"""`retrieval bench compress`: does the answer survive context compression? (SQuAD v1.1 format)

The paragraphs of a SQuAD file become a dense bundle with a sentence index (one chunk per
paragraph; built once and cached, see ``bundle_for``). For each question, its context is the
BM25 top-``k`` paragraphs rendered in the context format (``retrieval.context.render``), and
the budget is ``floor(tokens_before / ratio)`` (or a fixed ``budget_tokens``). Three ways to
fit that budget are compared, all counted with the same tokenizer:

- ``ours``: ``ContextCompressor`` (query vector given: its latency excludes the query embedding,
  which the search already paid for);
- ``truncate``: the first N tokens of the uncompressed context;
- ``whole_chunks``: whole paragraphs in rank order while they fit.

Answer retention: of the questions with a gold answer (any of them) in the uncompressed
context, the share with one still in the compressed context. Matching is substring search after
a light normalisation of both sides: Unicode NFKC, lowercase, whitespace runs to one space
(punctuation and articles are kept, so "the 1990s" does not match "1990"). The source headers
(``[n] title``) are part of every context, as the generator would read them.
Compression ratio: total tokens before / total tokens after over the questions.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import time
import unicodedata
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..config import CompressorConfig, IndexConfig
from ..errors import BundleError, ConfigError, CorpusError
from ..types import Document
from .quality import percentiles_ms

DEFAULT_K = 5
# One chunk per paragraph: the longest SQuAD dev paragraph is ~450 embedder tokens. Chunk
# vectors are truncated to the embedder's 256 tokens, which only the dense modes would notice;
# the sentences are embedded one by one.
PARAGRAPH_MAX_TOKENS = 2048
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Question:
    text: str
    answers: tuple[str, ...]
    doc_id: str


def load_squad(path: str | Path) -> tuple[list[Document], list[Question]]:
    """Paragraphs (id ``<article>-<paragraph>``, title = article title) and questions, in file order.

    ``CorpusError`` naming the file and the JSON path of the first element that is not in SQuAD
    v1.1 shape (``data[].paragraphs[].context``, ``.qas[].question``, ``.qas[].answers[].text``).
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CorpusError(f"SQuAD file not found: {path}") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise CorpusError(f"{path}: not a readable JSON file: {exc}") from None
    docs, questions = [], []
    articles = _squad_field(path, data, "data", list, "")
    for a, article in enumerate(articles):
        where = f"data[{a}]"
        title = _squad_field(path, article, "title", str, where, required=False) or ""
        for p, paragraph in enumerate(_squad_field(path, article, "paragraphs", list, where)):
            at = f"{where}.paragraphs[{p}]"
            doc_id = f"{a}-{p}"
            docs.append(Document(id=doc_id, text=_squad_field(path, paragraph, "context", str, at), title=title.replace("_", " ")))
            for n, qa in enumerate(_squad_field(path, paragraph, "qas", list, at)):
                q_at = f"{at}.qas[{n}]"
                text = _squad_field(path, qa, "question", str, q_at)
                answers = _squad_field(path, qa, "answers", list, q_at)
                texts = tuple(_squad_field(path, ans, "text", str, f"{q_at}.answers[{i}]") for i, ans in enumerate(answers))
                questions.append(Question(text, texts, doc_id))
    if not docs or not questions:
        raise CorpusError(f"{path}: no paragraphs or no questions")
    return docs, questions


def _squad_field(path: Path, obj: Any, key: str, kind: type, where: str, required: bool = True) -> Any:
    """``obj[key]`` checked to be a ``kind``; ``CorpusError`` naming the JSON path otherwise."""
    name = f"{where}.{key}" if where else key
    if not isinstance(obj, dict):
        raise CorpusError(f"{path}: not in SQuAD v1.1 format: {where or 'the top level'} must be an object, "
                          f"got {_json_type(obj)}")
    if key not in obj:
        if not required:
            return None
        raise CorpusError(f"{path}: not in SQuAD v1.1 format: {name} is missing")
    value = obj[key]
    if not isinstance(value, kind):
        expected = "an array" if kind is list else "a string"
        raise CorpusError(f"{path}: not in SQuAD v1.1 format: {name} must be {expected}, got {_json_type(value)}")
    return value


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return names.get(type(value), type(value).__name__)


def normalize(text: str) -> str:
    """NFKC, lowercase, whitespace runs collapsed to one space, trimmed."""
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text).lower()).strip()


def contains_answer(context: str, answers: tuple[str, ...]) -> bool:
    norm = normalize(context)
    return any(a and a in norm for a in (normalize(x) for x in answers))


def index_config(sentence_vectors: str = "separate") -> IndexConfig:
    """The bundle the benchmark builds: dense, exact vectors, sentences, one chunk per paragraph."""
    return IndexConfig.from_dict(
        {"dense": True, "sentences": True, "vector": {"kind": "flat"}, "chunker": {"max_tokens": PARAGRAPH_MAX_TOKENS},
         "sentence_vectors": sentence_vectors}
    )


def default_cache_dir() -> Path:
    """``$RETRIEVAL_CACHE/bench``, else ``$XDG_CACHE_HOME/retrieval/bench``, else ``~/.cache/retrieval/bench``."""
    explicit = os.environ.get("RETRIEVAL_CACHE")
    if explicit:
        return Path(explicit).expanduser() / "bench"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "retrieval" / "bench"


def bundle_for(squad_path: str | Path, docs: list[Document], cache_dir: Path, progress: bool = False,
               sentence_vectors: str = "separate") -> Any:
    """The cached bundle of these paragraphs, keyed by the file's sha256 and the index config;
    built (atomically) when absent or unusable (corrupt, other embedder, older format)."""
    from .. import bundle
    from ..engine import Engine

    config = index_config(sentence_vectors)
    file_hash = bundle.sha256_file(Path(squad_path))
    from ..context import sentence_index

    versions = {"bundle": bundle.FORMAT_VERSION, "sentences": sentence_index.FORMAT, "title_words": sentence_index.TITLE_WORDS}
    settings = json.dumps({"config": config.to_dict(), "formats": versions}, sort_keys=True)
    key = f"squad-{file_hash[:16]}-{hashlib.sha256(settings.encode()).hexdigest()[:12]}"
    path = cache_dir / key
    if path.exists():
        try:
            return Engine.open(path)
        except BundleError:
            pass  # rebuilt below
    return Engine.build(docs, path, config, overwrite=True, progress=progress)


def default_tokenizer() -> Any:
    """The generator's tokenizer when ``retrieval.generation`` provides it, else the embedder's."""
    try:
        from ..generation.models import default_model_path
        from ..generation.tokenizer import GeneratorTokenizer
    except ImportError:
        from ..text import TokenCounter

        return TokenCounter()
    return GeneratorTokenizer(default_model_path())


def run(
    squad_path: str | Path,
    *,
    budget_tokens: int | None = None,
    ratio: float = 4.0,
    questions: int = 300,
    first_question: int = 0,
    k: int = DEFAULT_K,
    tokenizer: Any = None,
    config: CompressorConfig | None = None,
    cache_dir: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
    sentence_vectors: str = "separate",
) -> dict[str, Any]:
    """Compression ratio, answer retention and latency of ours and both baselines (module docstring)."""
    if budget_tokens is not None and (isinstance(budget_tokens, bool) or not isinstance(budget_tokens, int) or budget_tokens < 1):
        raise ConfigError(f"budget_tokens must be a positive integer, got {budget_tokens!r}")
    if not 1.0 <= ratio < math.inf:
        raise ConfigError(f"ratio must be a finite number >= 1, got {ratio}")
    if questions < 1 or first_question < 0 or k < 1:
        raise ConfigError("questions and k must be >= 1 and first_question >= 0")
    docs, all_questions = load_squad(squad_path)
    chosen = all_questions[first_question : first_question + questions]
    if not chosen:
        raise ConfigError(f"first_question {first_question} is past the file's {len(all_questions)} questions")
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    with bundle_for(squad_path, docs, cache, progress is not None, sentence_vectors) as engine:
        return _measure(engine, chosen, squad_path, budget_tokens, ratio, first_question, k, tokenizer, config, progress)


def _measure(
    engine: Any,
    chosen: list[Any],
    squad_path: str | Path,
    budget_tokens: int | None,
    ratio: float,
    first_question: int,
    k: int,
    tokenizer: Any,
    config: Any,
    progress: Callable[[str], None] | None,
) -> dict[str, Any]:
    """``run``'s measurement over the opened bundle of the file's paragraphs."""
    from ..context import ContextCompressor
    from ..context.baselines import truncate, whole_chunks
    from ..context.render import Source, render

    tokenizer = tokenizer if tokenizer is not None else default_tokenizer()
    compressor = ContextCompressor.for_engine(engine, tokenizer, config)
    embedder = engine.view().query_embedder
    names = ("ours", "truncate", "whole_chunks")
    after: dict[str, list[int]] = {n: [] for n in names}
    kept: dict[str, int] = {n: 0 for n in names}
    latency: dict[str, list[int]] = {n: [] for n in names}
    before: list[int] = []
    embed_ns: list[int] = []
    answerable = 0
    for i, q in enumerate(chosen):
        hits = engine.search(q.text, k=k, mode="bm25").hits
        whole = [Source(p + 1, h.chunk, h.id, h.doc_id, h.title, h.text) for p, h in enumerate(hits)]
        full = render(whole)
        n_before = tokenizer.count(full) if hits else 0
        budget = budget_tokens if budget_tokens is not None else math.floor(n_before / ratio)
        t0 = time.perf_counter_ns()
        vector = embedder.embed_query(q.text)
        embed_ns.append(time.perf_counter_ns() - t0)
        texts: dict[str, str] = {}
        t0 = time.perf_counter_ns()
        texts["ours"] = compressor.compress(q.text, hits, budget, vector).text
        t1 = time.perf_counter_ns()
        texts["truncate"] = truncate(full, budget, tokenizer)
        t2 = time.perf_counter_ns()
        texts["whole_chunks"] = whole_chunks(whole, budget, tokenizer)
        t3 = time.perf_counter_ns()
        for name, ns in zip(names, (t1 - t0, t2 - t1, t3 - t2)):
            latency[name].append(ns)
        before.append(n_before)
        for name in names:
            after[name].append(tokenizer.count(texts[name]) if texts[name] else 0)
            if after[name][-1] > budget:  # each method guarantees this; a failure is a bug
                raise RuntimeError(f"internal error: {name} went over budget ({after[name][-1]} > {budget})")
        if contains_answer(full, q.answers):
            answerable += 1
            for name in names:
                kept[name] += contains_answer(texts[name], q.answers)
        if progress is not None and (i + 1) % 50 == 0:
            progress(f"{i + 1}/{len(chosen)} questions")

    def summary(name: str) -> dict[str, Any]:
        total_after = sum(after[name])
        return {
            "compression_ratio": sum(before) / total_after if total_after else math.inf,
            "answer_retention": kept[name] / answerable if answerable else 0.0,
            "tokens_after_mean": float(np.mean(after[name])),
            "p50_ms": percentiles_ms(latency[name])["p50"],
        }

    ours = summary("ours")
    return {
        **ours,
        "p95_ms": percentiles_ms(latency["ours"])["p95"],
        "questions": len(chosen),
        "answerable": answerable,
        "tokens_before_mean": float(np.mean(before)),
        "query_embed_p50_ms": percentiles_ms(embed_ns)["p50"],
        "baselines": {"truncate": summary("truncate"), "whole_chunks": summary("whole_chunks")},
        "settings": {
            "squad": str(squad_path),
            "budget_tokens": budget_tokens,
            "ratio": None if budget_tokens is not None else ratio,
            "first_question": first_question,
            "k": k,
            "retrieval": "bm25",
            "compressor": asdict(compressor.config),
            "tokenizer": _describe_tokenizer(tokenizer),
            "bundle": str(engine.path),
            "sentences": engine.manifest.sentences.count if engine.manifest.sentences else None,
            "cache_hit_rate": compressor.cache.hits / max(compressor.cache.hits + compressor.cache.misses, 1),
        },
        "environment": _environment(),
    }


def latency(
    engine: Any,
    queries: list[str],
    *,
    tokenizer: Any = None,
    config: CompressorConfig | None = None,
    k: int = 10,
    min_chunk_tokens: int = 240,
    ratio: float = 4.0,
    mode: str = "hybrid",
) -> dict[str, Any]:
    """Compressor latency for ``k`` full-size chunks (at least ``min_chunk_tokens`` embedder
    tokens each: the chunker's 256-token chunks) per query, query vector given, budget
    ``1/ratio`` of the context. ``cold``: the sentence cache emptied before each call (every
    sentence counted and analyzed); ``warm``: the same call again. Queries without ``k`` such
    chunks among their top ``8 * k`` hits are skipped; the first 5 calls are warm-up."""
    from ..context import ContextCompressor
    from ..context.render import Source, render

    tokenizer = tokenizer if tokenizer is not None else default_tokenizer()
    compressor = ContextCompressor.for_engine(engine, tokenizer, config)
    embedder = engine.view().query_embedder
    samples: dict[str, list[int]] = {"cold": [], "warm": []}
    sizes = []
    for query in queries:
        found = engine.search(query, k=8 * k, mode=mode).hits
        sized = engine.store.get([h.chunk for h in found])
        hits = [h for h, chunk in zip(found, sized) if chunk.n_tokens >= min_chunk_tokens][:k]
        if len(hits) < k:
            continue
        full = tokenizer.count(render([Source(p + 1, h.chunk, h.id, h.doc_id, h.title, h.text) for p, h in enumerate(hits)]))
        budget = math.floor(full / ratio)
        vector = embedder.embed_query(query)
        compressor.cache.clear()
        for name in ("cold", "warm"):
            t0 = time.perf_counter_ns()
            compressor.compress(query, hits, budget, vector)
            samples[name].append(time.perf_counter_ns() - t0)
        sizes.append(full)
    return {
        "queries": len(sizes),
        "chunks": k,
        "context_tokens_mean": float(np.mean(sizes)) if sizes else 0.0,
        "cold_ms": percentiles_ms(samples["cold"][5:]),
        "warm_ms": percentiles_ms(samples["warm"][5:]),
        "tokenizer": _describe_tokenizer(tokenizer),
        "environment": _environment(),
    }


def _describe_tokenizer(tokenizer: Any) -> dict[str, Any]:
    return {
        "type": type(tokenizer).__name__,
        "model_id": getattr(tokenizer, "model_id", None),
        "fingerprint": str(getattr(tokenizer, "fingerprint", "")),
    }


def _environment() -> dict[str, Any]:
    from .. import bundle

    return {**bundle.environment(), "cpu_count": os.cpu_count()}
