"""Export to the model cache: one file per (weights, variant), reused, safe under concurrency."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from retrieval.embedding import ensure_model
from retrieval.embedding.files import atomic_output, default_cache_dir, onnx_file_name
from retrieval.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]

_CHILD = """
import json, sys, time
from retrieval.embedding import ensure_model
m = ensure_model("fp32")
print(json.dumps({"exported": m.export_seconds is not None, "seconds": m.export_seconds,
                  "sha256": m.sha256, "path": str(m.path), "torch": "torch" in sys.modules}))
"""


@pytest.mark.slow
def test_two_processes_export_once_and_the_file_is_reused(tmp_path: Path) -> None:
    env = {**os.environ, "RETRIEVAL_CACHE": str(tmp_path), "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen([sys.executable, "-c", _CHILD], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
        for _ in range(2)
    ]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    # Exactly one exported (measured: ~2 s export + ~2-4 s importing torch); the other waited on
    # the lock and reused its file.
    assert sorted(r["exported"] for r in results) == [False, True]
    assert results[0]["sha256"] == results[1]["sha256"] and results[0]["path"] == results[1]["path"]
    onnx_files = sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock"))
    assert onnx_files == [Path(results[0]["path"]).name]  # no temporary files left behind
    path = Path(results[0]["path"])
    assert path.parent == tmp_path and path.name.endswith("-fp32.onnx")

    # The same process reusing it: no export, file untouched, and it runs.
    mtime = path.stat().st_mtime_ns
    again = ensure_model("fp32", cache_dir=tmp_path)
    assert again.export_seconds is None and again.sha256 == results[0]["sha256"]
    assert path.stat().st_mtime_ns == mtime
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    ids = np.array([[101, 7592, 2088, 102]], dtype=np.int64)
    (out,) = session.run(["token_embeddings"], {"input_ids": ids, "attention_mask": np.ones_like(ids)})
    assert out.shape == (1, 4, 384)  # token states: pooling runs after the graph


def test_file_names_are_keyed_by_weights_and_variant() -> None:
    a, b = onnx_file_name("a" * 64, "fp32"), onnx_file_name("b" * 64, "fp32")
    assert a != b and onnx_file_name("a" * 64, "int8") != a
    assert "opset17" in a and a.endswith("-fp32.onnx")
    with pytest.raises(ConfigError, match="variant"):
        onnx_file_name("a" * 64, "fp64")
    with pytest.raises(ConfigError, match="variant"):
        ensure_model("bf16")


def test_cache_dir_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RETRIEVAL_CACHE", str(tmp_path / "models"))
    assert default_cache_dir() == tmp_path / "models"
    monkeypatch.delenv("RETRIEVAL_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "retrieval" / "models"


def test_atomic_output_leaves_nothing_on_failure(tmp_path: Path) -> None:
    final = tmp_path / "model.onnx"
    with pytest.raises(RuntimeError):
        with atomic_output(final) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("export failed")
    assert list(tmp_path.iterdir()) == []
    with atomic_output(final) as tmp:
        tmp.write_bytes(b"whole")
    assert final.read_bytes() == b"whole" and [p.name for p in tmp_path.iterdir()] == ["model.onnx"]


def test_unwritable_cache_is_a_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache directory should be")
    with pytest.raises(ConfigError, match="RETRIEVAL_CACHE"):
        ensure_model("fp32", cache_dir=blocker / "models")


def test_a_failed_export_is_an_export_error_and_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from retrieval.embedding import ExportError, export

    def broken(source: Path, out: Path) -> None:
        out.write_bytes(b"half a graph")
        raise RuntimeError("exporter crashed")

    monkeypatch.setattr(export, "export_fp32", broken)
    with pytest.raises(ExportError, match="exporter crashed"):
        ensure_model("fp32", cache_dir=tmp_path)
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == []
