"""``retrieval index CORPUS --out DIR``: build an index bundle from a corpus."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from .args import override
from .choices import VECTOR_INDEX_CHOICES
from .output import print_json


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("index", help="build an index bundle from a corpus")
    p.add_argument("corpus", help="BEIR dir, .jsonl, .parquet, a postgresql:// DSN (with --sql), or 'demo' (the Python stdlib docs)")
    p.add_argument("--out", required=True, help="bundle directory to create")
    p.add_argument("--sql", help="with a postgresql:// corpus: the query, e.g. \"SELECT id, title, text FROM docs\"")
    p.add_argument("--vector-index", choices=VECTOR_INDEX_CHOICES,
                   help="dense index kind (default: flat up to 50,000 chunks, hnsw above)")
    p.add_argument("--no-dense", action="store_true", help="build the keyword (BM25) index only")
    p.add_argument("--embedder", metavar="MODEL",
                   help="the embedding model: 'minilm' (default, packaged), a sentence-transformers or ONNX model "
                        "directory, or openai:MODEL@URL (an OpenAI-compatible /v1/embeddings endpoint; key from $OPENAI_API_KEY)")
    p.add_argument("--config", help="TOML file with [analyzer], [chunker], [bm25] tables")
    p.add_argument("--set", dest="overrides", action="append", type=override, default=[],
                   metavar="KEY=VALUE", help="override a config value, e.g. --set bm25.k1=1.2")
    p.add_argument("--overwrite", action="store_true", help="replace an existing bundle at --out")
    p.add_argument("--store", metavar="DSN",
                   help="keep chunk text in PostgreSQL at this postgresql:// DSN instead of the bundle (its password "
                        "is never recorded: opening takes it from $RETRIEVAL_STORE_DSN, $PGPASSWORD or ~/.pgpass)")
    p.add_argument("--store-schema", default="retrieval", help="PostgreSQL schema for --store tables (default retrieval)")
    p.add_argument("--shards", type=int, metavar="N",
                   help="write a collection of N shard bundles (documents routed by a hash of their id); "
                        "search, serve, eval, update and bench open it like one bundle, with the same results")
    p.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                   help="with --shards: build on a Ray cluster (Ray Data; HOST:PORT of its head, ray://..., or "
                        "auto; alone: a local one). --out must be a path every worker shares")
    p.add_argument("--embed-actors", type=int, metavar="N",
                   help="with --ray: embedding actors (default: one per CPU of the cluster)")
    p.add_argument("--json", action="store_true")
    return p


def run(args: argparse.Namespace) -> int:
    from ..config import IndexConfig
    from ..engine import Engine
    from ..errors import ConfigError

    if args.vector_index and args.no_dense:
        raise ConfigError("--vector-index needs a dense index; drop --no-dense")
    overrides = dict(args.overrides)
    if args.no_dense:
        overrides["dense"] = False
    if args.vector_index:
        overrides["vector.kind"] = args.vector_index
    if args.embedder is not None:
        if args.no_dense:
            raise ConfigError("--embedder needs a dense index; drop --no-dense")
        overrides["embedding.model"] = args.embedder
    config = IndexConfig.from_toml(args.config, overrides) if args.config else IndexConfig.from_dict({}, overrides)
    corpus = corpus_arg(args.corpus, args.sql)
    started = time.perf_counter()
    if args.ray is not None:
        return _run_on_ray(args, corpus, config, started)
    with Engine.build(corpus, args.out, config, overwrite=args.overwrite, progress=sys.stderr.isatty(),
                      store=args.store, store_schema=args.store_schema, shards=args.shards) as engine:
        seconds = time.perf_counter() - started
        counts = engine.counts
    result = {"chunks": counts["chunks"], "documents": counts["documents"], "seconds": seconds, "dir": str(args.out)}
    if args.shards is not None:
        result["shards"] = args.shards
    if args.json:
        print_json(result)
    else:
        print(f"indexed {counts['documents']} documents as {counts['chunks']} chunks in {seconds:.2f} s → {args.out}")
    return 0


def _run_on_ray(args: argparse.Namespace, corpus: Any, config: Any, started: float) -> int:
    from ..cluster.build import build_on_ray
    from ..engine import Engine
    from ..errors import ConfigError

    if args.shards is None:
        raise ConfigError("--ray builds a sharded collection: add --shards N")
    if args.store:
        raise ConfigError("--ray keeps chunk text in the shard bundles: drop --store")
    stages = build_on_ray(corpus, args.out, config, args.shards, address=args.ray or None, overwrite=args.overwrite,
                          embed_actors=args.embed_actors)
    seconds = time.perf_counter() - started
    with Engine.open(args.out, verify=False) as engine:
        counts = engine.counts
    result = {"chunks": counts["chunks"], "documents": counts["documents"], "seconds": seconds, "dir": str(args.out),
              "shards": args.shards, "ray": {"stages_s": {k: round(v, 3) for k, v in stages.items()}}}
    if args.json:
        print_json(result)
    else:
        print(f"indexed {counts['documents']} documents as {counts['chunks']} chunks on Ray in {seconds:.2f} s → {args.out}")
    return 0


def corpus_arg(corpus: str, sql: str | None) -> Any:
    """The corpus argument as ``Engine.build`` takes it: a PostgreSQL DSN becomes its query's rows."""
    from ..errors import ConfigError, CorpusError
    from ..stores.pg_connect import is_dsn

    if not is_dsn(corpus):
        if sql is not None:
            raise ConfigError("--sql is only for a postgresql:// corpus")
        return corpus
    if not sql:
        raise CorpusError("a postgresql:// corpus needs --sql \"SELECT id, title, text FROM ...\"")
    from ..ingest.postgres_reader import PostgresCorpus

    return PostgresCorpus(corpus, sql)
