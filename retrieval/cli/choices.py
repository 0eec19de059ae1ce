"""The names a user can pass to a choices option, each list defined once for every command.

Modes and vector index kinds come from their registries (cheap to read: no numpy, no FAISS),
so registering a kind or a mode is all it takes for every command to accept it.
"""

from __future__ import annotations

from ..search.modes import mode_names
from ..vector.registry import available_kinds

MODE_CHOICES = mode_names()
VECTOR_INDEX_CHOICES = available_kinds()
ASK_GENERATOR_CHOICES = ("llama-cpp", "openai")
SERVE_GENERATOR_CHOICES = (*ASK_GENERATOR_CHOICES, "none")  # none: the service answers no questions
LOG_LEVEL_CHOICES = ("debug", "info", "warning", "error")
ARRIVAL_CHOICES = ("poisson", "fixed")
