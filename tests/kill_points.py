"""Killing a child process at a named step of a write (SIGKILL: no cleanup runs).

A test's child script starts with ``CHILD_PRELUDE``: ``wrap(module, name, before=, after=)``
replaces a function so that, when the predicate holds for its arguments, the child writes the
marker file and waits to be killed. ``run_until`` starts the child and kills it at the marker.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

CHILD_PRELUDE = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path

    root, step, marker = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])

    def wait_here():
        marker.write_text("here")
        time.sleep(120)

    def wrap(module, name, before=None, after=None, also=()):
        # ``also``: other modules that imported the same function by name.
        original = getattr(module, name)
        def wrapped(*args, **kwargs):
            if before and before(*args):
                wait_here()
            result = original(*args, **kwargs)
            if after and after(*args):
                wait_here()
            return result
        for target in (module, *also):
            if hasattr(target, name):
                setattr(target, name, wrapped)
    """
)


def run_until(child_body: str, root: Path, step: str, tmp_path: Path) -> None:
    """Run ``CHILD_PRELUDE + child_body`` on ``root`` and SIGKILL it once it reaches ``step``."""
    marker = tmp_path / f"marker-{step}"
    child = subprocess.Popen([sys.executable, "-c", CHILD_PRELUDE + textwrap.dedent(child_body), str(root), step, str(marker)])
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
