"""Scale-out on Ray (the optional ``retrieval[ray]`` extra): distributed builds and sharded serving.

    connect      reach a Ray cluster (or start a local one), with one-line errors
    partitions   a corpus split into parts that workers read themselves (JSONL byte ranges,
                 Parquet row groups, PostgreSQL id ranges)
    build        ``retrieval index --shards N --ray``: a Ray Data pipeline (read, chunk, embed in
                 an actor pool, write each shard from a worker), committed as one collection
    replica      a shard's Serve deployment: the shard's side of every search
    embedder     the query-embedding Serve deployment (``serve.batch``)
    serving      ``retrieval serve --ray``: deploy, then the gRPC service over a view whose
                 planner is ``retrieval.search.remote``'s (fan out through handles, merge as one
                 collection does, retry a dead replica, UNAVAILABLE naming a shard with none)

Nothing here is imported unless ``--ray`` is asked for; single-machine users never need Ray.
"""
