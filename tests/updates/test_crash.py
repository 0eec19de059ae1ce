"""A process killed (SIGKILL) at any step of an update leaves the previous version intact and
openable, and running the update again completes it."""

from __future__ import annotations


import pytest

from retrieval import Engine, IndexConfig
from retrieval.types import Document

from ..kill_points import run_until

# The child applies an update and is killed at the step named on its command line
# (``tests.kill_points``). Steps in the order an update reaches them.
STEPS = ("writing-delta", "delta-sealed", "previous-manifest-written", "committed-before-gc")
CHILD = """
import retrieval.bundle as bundle
import retrieval.bundle.directory as directory
from retrieval import Engine
from retrieval.types import Document

if step == "writing-delta":      # the new delta directory is half written
    wrap(directory, "seal_version_dir", before=lambda tmp: True, also=(bundle,))
elif step == "delta-sealed":     # complete on disk, not referenced by any manifest
    wrap(directory, "seal_version_dir", after=lambda tmp: True, also=(bundle,))
elif step == "previous-manifest-written":
    wrap(directory, "_atomic_write", after=lambda path, data: path.name == bundle.PREVIOUS_MANIFEST)
elif step == "committed-before-gc":
    wrap(directory, "collect_garbage", before=lambda root: True, also=(bundle,))
engine = Engine.open(root, verify=False)
engine.upsert([Document(id="d1", title="Changed", text="The changed text mentions quokkas.")])
engine.delete(["d2"])
"""


def docs() -> list[Document]:
    return [Document(id=f"d{i}", title=f"T{i}", text=f"Document {i} about topic {i % 4} and more words.") for i in range(12)]


@pytest.mark.parametrize("step", STEPS)
def test_sigkill_mid_update_leaves_previous_version_and_rerun_completes(tmp_path, step):
    root = tmp_path / "bundle"
    Engine.build(docs(), root, IndexConfig(dense=False))
    before = Engine.open(root)
    expected_old = [(h.id, h.score) for h in before.search("Document 1 topic", k=12).hits]

    run_until(CHILD, root, step, tmp_path)

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
