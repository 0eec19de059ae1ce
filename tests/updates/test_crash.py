"""A process killed (SIGKILL) at any step of an update leaves the previous version intact and
openable, and running the update again completes it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from retrieval import Engine, IndexConfig
from retrieval.types import Document

# The child applies an update and, at the step named on its command line, announces itself
# (a marker file) and waits to be killed. Steps in the order an update reaches them.
STEPS = ("writing-delta", "delta-sealed", "previous-manifest-written", "committed-before-gc")
CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import retrieval.bundle as bundle
    import retrieval.bundle.directory as directory
    from retrieval import Engine
    from retrieval.types import Document

    root, step, marker = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])

    def wait_here():
        marker.write_text("here")
        time.sleep(120)

    def wrap(name, before=None, after=None):
        # Both the package's name (what the updater calls) and the module's (what its own
        # functions call, e.g. commit_version's _atomic_write).
        original = getattr(directory, name)
        def wrapped(*args, **kwargs):
            if before and before(*args):
                wait_here()
            result = original(*args, **kwargs)
            if after and after(*args):
                wait_here()
            return result
        for module in (bundle, directory):
            if hasattr(module, name):
                setattr(module, name, wrapped)

    if step == "writing-delta":      # the new delta directory is half written
        wrap("seal_version_dir", before=lambda tmp: True)
    elif step == "delta-sealed":     # complete on disk, not referenced by any manifest
        wrap("seal_version_dir", after=lambda tmp: True)
    elif step == "previous-manifest-written":
        wrap("_atomic_write", after=lambda path, data: path.name == bundle.PREVIOUS_MANIFEST)
    elif step == "committed-before-gc":
        wrap("collect_garbage", before=lambda root: True)
    engine = Engine.open(root, verify=False)
    engine.upsert([Document(id="d1", title="Changed", text="The changed text mentions quokkas.")])
    engine.delete(["d2"])
    """
)


def docs() -> list[Document]:
    return [Document(id=f"d{i}", title=f"T{i}", text=f"Document {i} about topic {i % 4} and more words.") for i in range(12)]


def run_until(root: Path, step: str, tmp_path: Path) -> None:
    marker = tmp_path / f"marker-{step}"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(root), step, str(marker)])
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert child.poll() is None, f"child exited ({child.returncode}) before reaching {step}"
            assert time.monotonic() < deadline, f"child never reached {step}"
            time.sleep(0.02)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL


@pytest.mark.parametrize("step", STEPS)
def test_sigkill_mid_update_leaves_previous_version_and_rerun_completes(tmp_path, step):
    root = tmp_path / "bundle"
    Engine.build(docs(), root, IndexConfig(dense=False))
    before = Engine.open(root)
    expected_old = [(h.id, h.score) for h in before.search("Document 1 topic", k=12).hits]

    run_until(root, step, tmp_path)

    after = Engine.open(root)  # verifies every file of whatever version is current
    if step == "committed-before-gc":  # the upsert's manifest is in place: that version is whole
        assert after.manifest.version == 2
        assert after.search("quokkas", k=1).hits[0].doc_id == "d1"
    else:
        assert after.manifest.version == 1
        assert [(h.id, h.score) for h in after.search("Document 1 topic", k=12).hits] == expected_old
        assert not after.search("quokkas", k=1).hits

    # Rerun: the update completes, and leftovers of the killed one are collected.
    after.upsert([Document(id="d1", title="Changed", text="The changed text mentions quokkas.")])
    after.delete(["d2"])
    final = Engine.open(root)
    assert final.search("quokkas", k=1).hits[0].doc_id == "d1"
    assert all(h.doc_id != "d2" for h in final.search("Document 2 topic", k=12).hits)
    leftovers = [p.name for p in root.iterdir() if p.name.startswith(".") and p.name != ".update.lock"]
    assert not leftovers, leftovers
