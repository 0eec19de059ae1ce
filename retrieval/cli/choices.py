"""The names a user can pass to a choices option, each list defined once for every command.

Kept as literal tuples so that parsing arguments imports nothing heavy; when the registries
become the single source of these names, each list here becomes a read of its registry.
"""

from __future__ import annotations

MODE_CHOICES = ("bm25", "dense", "hybrid", "prefilter")
VECTOR_INDEX_CHOICES = ("flat", "hnsw", "ivf", "ivfpq", "sq8")
ASK_GENERATOR_CHOICES = ("llama-cpp", "openai")
SERVE_GENERATOR_CHOICES = (*ASK_GENERATOR_CHOICES, "none")  # none: the service answers no questions
LOG_LEVEL_CHOICES = ("debug", "info", "warning", "error")
ARRIVAL_CHOICES = ("poisson", "fixed")
