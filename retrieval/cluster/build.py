"""``retrieval index CORPUS --out DIR --shards N --ray [ADDRESS]``: a collection built by Ray Data.

    parts    the corpus split where it lies (``partitions``): each worker reads its own part
    chunk    tasks: every document becomes a document row and its chunk rows, tagged with its
             shard (``routing``) and its place in the corpus (part, position, chunk ordinal)
    embed    an actor pool, one model per actor (``map_batches``): each chunk's vector and its
             sentences' rows (CPU actors: the ONNX embedder runs on onnxruntime's CPU provider)
    write    one task per shard (``groupby(shard).map_groups``): the rows in corpus order into
             a ``BundleBuild`` at DIR's temporary path (a filesystem every worker shares)
    commit   here: the shards' chunks numbered in corpus order across all shards, their BM25
             statistics reduced to the corpus's, and the collection manifest written last

The shard bundles are written by the code the in-process build uses, fed the same chunks in the
same order, so the collection equals ``retrieval index --shards N`` without ``--ray``: the same
chunks and BM25 ids and scores, vectors within fp32 rounding (other batches). Ray retries a
task whose worker died (a shard is then rewritten from the start); a build that fails leaves
no collection (the temporary directory is removed).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CorpusError
from .connect import ClusterError, connect

# Columns of the rows between the stages (one row per document, ``seq`` -1, then its chunks).
KEY = ("part", "pos", "seq")
EMBED_BLOCK_ROWS = 256  # rows an embedding actor takes at a time (documents' rows included)


def build_on_ray(
    corpus: Any,
    path: str | Path,
    config: Any,
    shards: int,
    *,
    address: str | None,
    overwrite: bool = False,
    embed_actors: int | None = None,
    part_bytes: int | None = None,
) -> dict[str, Any]:
    """Build the collection at ``path`` on the Ray cluster at ``address`` (None: a local one).
    Returns the stage timings (seconds)."""
    from ..bundle import directory
    from ..bundle.build import check_indexed
    from ..collection.build import write_collection
    from ..collection.layout import MANIFEST
    from ..collection.routing import check_shard_count
    from ..ingest.corpus import describe
    from ..embedding.choice import recorded
    from .partitions import PART_BYTES, plan_parts

    config = recorded(config)
    n = check_shard_count(shards)
    final = Path(path).resolve()
    _check_output(final)  # here first: a path no one can write fails before the cluster is asked
    ray = connect(address)
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    started = time.perf_counter()
    parts, sync = plan_parts(corpus, max_parts=4 * cpus, part_bytes=part_bytes or PART_BYTES)
    stages: dict[str, float] = {"plan_s": time.perf_counter() - started}
    with directory.writing(final, overwrite=overwrite, manifest_name=MANIFEST) as tmp:
        check_writable(ray, tmp)
        t0 = time.perf_counter()
        written = _run_pipeline(ray, parts, tmp, config, n, cpus, embed_actors, describe(corpus))
        stages["pipeline_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        documents = [0] * n
        for row in written:
            documents[row["shard"]] = row["documents"]
        ids = _collection_ids(written, n)
        check_indexed(sum(len(i) for i in ids), sum(row["terms"] for row in written), describe(corpus), config.analyzer)
        _remove_strays(tmp)
        write_collection(tmp, documents, ids, describe(corpus), sync)
        stages["commit_s"] = time.perf_counter() - t0
    return stages


def _check_output(final: Path) -> None:
    from ..errors import ConfigError

    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot write the output {final}: {exc.strerror or exc} ({exc.filename or final.parent})") from None


def check_writable(ray: Any, directory: Path) -> None:
    """Every node must be able to write into ``directory`` (the shared output path): one probe
    task per alive node, refused with one line naming the node and the reason."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    probe = ray.remote(num_cpus=0, max_retries=0)(_probe_write)
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    refs = [
        probe.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)).remote(str(directory))
        for n in nodes
    ]
    for node, problem in zip(nodes, ray.get(refs)):
        if problem:
            raise ClusterError(f"a Ray worker on node {node.get('NodeManagerAddress')} cannot write the output: {problem}")


def _probe_write(directory: str) -> str | None:
    target = Path(directory) / f".probe-{os.getpid()}-{time.monotonic_ns()}"
    try:
        target.write_bytes(b"")
        target.unlink()
    except OSError as exc:
        return f"{directory}: {exc.strerror or exc}"
    return None


def _run_pipeline(ray: Any, parts: list[dict[str, Any]], tmp: Path, config: Any, shards: int, cpus: int,
                  embed_actors: int | None, source: str) -> list[dict[str, Any]]:
    """Read, chunk, embed and write; returns one summary row per shard that got documents."""
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True  # parts stay in corpus order (not needed for
    # correctness, the keys sort them, but it keeps the writers' sort nearly free)
    config_json = json.dumps(config.to_dict())
    rows = ray.data.from_items(parts, override_num_blocks=len(parts))
    rows = rows.map_batches(chunk_parts, batch_size=1, batch_format="pyarrow",
                            fn_kwargs={"config_json": config_json, "shards": shards})
    if config.dense:
        # CPU actors only: the ONNX embedder runs onnxruntime's CPU provider (a GPU actor would
        # hold a GPU and embed on the CPU; GPU embedding comes with a CUDA embedder).
        threads = config.embedding.threads or 1  # one model thread per actor, an actor per CPU
        actors = embed_actors or max(1, cpus // threads)
        # The actors reserve no logical CPU: the chunking tasks and the shuffle, which run while
        # they do, must always find room (reserving every CPU for actors deadlocks the shuffle).
        # Their count bounds what they use.
        # Blocks of a few hundred rows: every actor gets work however few parts the corpus has.
        rows = rows.repartition(target_num_rows_per_block=EMBED_BLOCK_ROWS)
        rows = rows.map_batches(EmbedRows, batch_format="pyarrow", batch_size=EMBED_BLOCK_ROWS,
                                fn_constructor_kwargs={"config_json": config_json, "threads": threads},
                                compute=ray.data.ActorPoolStrategy(size=actors),
                                num_cpus=0)
    summaries = rows.groupby("shard", num_partitions=shards).map_groups(
        write_shard, batch_format="pyarrow",
        fn_kwargs={"root": str(tmp), "config_json": config_json, "source": source},
    )
    try:
        return summaries.take_all()
    except Exception as exc:  # a stage raised: its own error (a CorpusError, say) if Ray kept it
        cause = _user_error(exc)
        if cause is not None:
            raise cause from None
        raise ClusterError(f"the distributed build failed: {str(exc).strip().splitlines()[0]}") from None


def _user_error(exc: BaseException) -> BaseException | None:
    from ..errors import RetrievalError

    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, RetrievalError):
            return exc
        cause = getattr(exc, "cause", None)
        exc = cause if isinstance(cause, BaseException) else (exc.__cause__ or exc.__context__)  # type: ignore[assignment]
    return None


# -- the stages (run on workers) -------------------------------------------------------------


def _index_config(config_json: str) -> Any:
    from ..config import IndexConfig

    return IndexConfig.from_dict(json.loads(config_json))


ROW_FIELDS = ("part", "pos", "seq", "shard", "doc_id", "text", "title", "metadata",
              "chunk_id", "ordinal", "start", "end", "n_tokens")


def chunk_parts(batch: Any, config_json: str, shards: int) -> Any:
    """Each part's documents as rows: a document row (``seq`` -1, with its text and metadata),
    then one row per chunk, each with the document's shard."""
    import pyarrow as pa

    from ..collection.routing import shard_of
    from ..ingest import Chunker
    from ..text import TokenCounter
    from .partitions import read_part

    config = _index_config(config_json)
    chunker = Chunker(config.chunker, TokenCounter())
    out: dict[str, list[Any]] = {name: [] for name in ROW_FIELDS}

    def append(*values: Any) -> None:
        for name, value in zip(ROW_FIELDS, values):
            out[name].append(value)

    for part in batch.to_pylist():
        docs = list(read_part(part))
        routed = [shard_of(doc.id, shards) for doc in docs]
        for pos, (doc, shard) in enumerate(zip(docs, routed)):
            append(part["part"], pos, -1, shard, doc.id, doc.text, doc.title,
                   json.dumps(dict(doc.metadata), ensure_ascii=False), "", 0, 0, 0, 0)
        pos = -1
        for chunk in chunker.chunk_many(docs):  # in document order, ordinals from 0 for each
            if chunk.ordinal == 0:
                pos += 1
                while docs[pos].id != chunk.doc_id:  # documents without chunks (no text)
                    pos += 1
            append(part["part"], pos, chunk.ordinal, routed[pos], chunk.doc_id, chunk.text, chunk.title, "",
                   chunk.id, chunk.ordinal, chunk.start, chunk.end, chunk.n_tokens)
    types = {
        "part": pa.int32(), "pos": pa.int64(), "seq": pa.int32(), "shard": pa.int32(),
        "doc_id": pa.string(), "text": pa.large_string(), "title": pa.string(), "metadata": pa.string(),
        "chunk_id": pa.string(), "ordinal": pa.int32(), "start": pa.int64(), "end": pa.int64(), "n_tokens": pa.int32(),
    }
    return pa.table({name: pa.array(out[name], type=types[name]) for name in ROW_FIELDS})


class EmbedRows:
    """An embedding actor: adds each chunk row's vector (float32 bytes) and its sentences' spans
    (int32 bytes) and vectors (float16 bytes), embedded as the in-process build embeds them."""

    def __init__(self, config_json: str, threads: int) -> None:
        import dataclasses

        from ..dense_index import make_embedder

        self.config = _index_config(config_json)
        self.embedder = make_embedder(dataclasses.replace(self.config.embedding, threads=threads))

    def __call__(self, batch: Any) -> Any:
        import pyarrow as pa

        from ..context.chunk_vectors import embed_window

        rows = batch.to_pydict()
        chunk_rows = [i for i, seq in enumerate(rows["seq"]) if seq >= 0]
        chunks = [_chunk_of(rows, i) for i in chunk_rows]
        window = embed_window(self.embedder, chunks, self.config.chunker.include_title, self.config.sentences,
                              self.config.sentence_vectors)
        spans_out: list[bytes] = [b""] * len(rows["seq"])
        sentence_out: list[bytes] = [b""] * len(rows["seq"])
        vector_out: list[bytes] = [b""] * len(rows["seq"])
        for j, i in enumerate(chunk_rows):
            vector_out[i] = np.asarray(window.vectors[j], dtype=np.float32).tobytes()
            if window.sentences is not None:
                spans, vectors = window.sentences[j]
                spans_out[i], sentence_out[i] = spans.tobytes(), vectors.tobytes()
        return batch.append_column("vector", pa.array(vector_out, pa.binary())) \
            .append_column("sentence_spans", pa.array(spans_out, pa.binary())) \
            .append_column("sentence_vectors", pa.array(sentence_out, pa.binary()))


def _chunk_of(rows: dict[str, list[Any]], i: int) -> Any:
    from ..types import Chunk

    return Chunk(id=rows["chunk_id"][i], doc_id=rows["doc_id"][i], ordinal=rows["ordinal"][i], text=rows["text"][i],
                 title=rows["title"][i], start=rows["start"][i], end=rows["end"][i], n_tokens=rows["n_tokens"][i])


def write_shard(group: Any, root: str, config_json: str, source: str) -> Any:
    """One shard's rows, sorted into corpus order, written as its bundle; returns its summary:
    counts and the (part, position, ordinal) key of each chunk in the order written."""
    import pyarrow as pa

    from ..bundle.build import BundleBuild
    from ..collection.layout import shard_name
    from ..dense_index import make_embedder
    from ..text import Analyzer, TokenCounter
    from ..types import Document

    started = time.perf_counter()
    config = _index_config(config_json)
    group = group.sort_by([(k, "ascending") for k in KEY])
    rows = group.to_pydict()
    shard = int(rows["shard"][0])
    dense = "vector" in rows
    embedder = make_embedder(config.embedding) if config.dense else None
    target = BundleBuild(Path(root) / shard_name(shard), config, analyzer=Analyzer(config.analyzer),
                         counter=TokenCounter(), embedder=embedder, overwrite=True)
    keys: list[int] = []
    seen: set[str] = set()
    with target:
        for i, seq in enumerate(rows["seq"]):
            if seq < 0:
                doc_id = rows["doc_id"][i]
                if doc_id in seen:
                    raise CorpusError(f"duplicate document id {doc_id!r}")
                seen.add(doc_id)
                target.add_document(Document(doc_id, rows["text"][i], rows["title"][i], json.loads(rows["metadata"][i])))
                continue
            vector = sentences = None
            if dense:
                vector = np.frombuffer(rows["vector"][i], dtype=np.float32)
                if config.sentences:
                    sentences = (np.frombuffer(rows["sentence_spans"][i], dtype=np.int32).reshape(-1, 2),
                                 np.frombuffer(rows["sentence_vectors"][i], dtype=np.float16).reshape(-1, vector.shape[0]))
            target.add_chunk(_chunk_of(rows, i), vector, sentences)
            keys.append(i)
        terms = target.terms  # distinct terms analyzed (the commit checks the corpus has some)
        target.finish({"source": source, "sync": None}, {}, started)
    key_columns = {k: np.asarray(rows[k], dtype=np.int64)[keys] for k in KEY}
    return pa.table({
        "shard": [shard], "documents": [target.documents], "chunks": [len(keys)], "terms": [terms],
        **{k: [v.tobytes()] for k, v in key_columns.items()},
    })


# -- the commit (here) -----------------------------------------------------------------------


def _collection_ids(written: list[dict[str, Any]], shards: int) -> list[np.ndarray]:
    """Each shard's collection chunk ids: its chunks' ranks in corpus order (part, position,
    ordinal) across every shard, the ids the in-process build gives them."""
    keys = {row["shard"]: [np.frombuffer(row[k], dtype=np.int64) for k in KEY] for row in written}
    order = [s for s in range(shards) if s in keys]
    if not order:
        return [np.empty(0, dtype=np.int64) for _ in range(shards)]
    columns = [np.concatenate([keys[s][j] for s in order]) for j in range(len(KEY))]
    ranked = np.lexsort(columns[::-1])  # part first, then position, then ordinal
    rank = np.empty(len(ranked), dtype=np.int64)
    rank[ranked] = np.arange(len(ranked), dtype=np.int64)
    out, at = [np.empty(0, dtype=np.int64) for _ in range(shards)], 0
    for s in order:
        size = len(keys[s][0])
        out[s] = rank[at : at + size]
        at += size
    return out


def _remove_strays(tmp: Path) -> None:
    """Temporary directories of shard writers that died (Ray retried them) go before the commit."""
    import shutil

    for entry in tmp.iterdir():
        if entry.name.startswith("."):
            shutil.rmtree(entry, ignore_errors=True)
