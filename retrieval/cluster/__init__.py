"""Scale-out on Ray (the optional ``retrieval[ray]`` extra): distributed builds and sharded serving.

    connect      reach a Ray cluster (or start a local one), with one-line errors
    partitions   a corpus split into parts that workers read themselves (JSONL byte ranges,
                 Parquet row groups, PostgreSQL id ranges)
    build        ``retrieval index --shards N --ray``: a Ray Data pipeline (read, chunk, embed in
                 an actor pool, write each shard from a worker), committed as one collection
    replica      a shard's Serve deployment: the shard's side of every search
    embedder     the query-embedding Serve deployment (``serve.batch``)
    fanout       the planner whose shards are deployments: fan out through handles, merge as
                 one collection does, retry a dead replica, UNAVAILABLE naming a shard with none
    serving      ``retrieval serve --ray``: deploy, then the gRPC service over the fanned-out view

Nothing here is imported unless ``--ray`` is asked for; single-machine users never need Ray.
"""
