"""The Ray scale-out tests (tests/cluster), run in a child pytest: their Ray driver's threads
outlive ``ray.shutdown`` and must not run beside the rest of the suite (see tests/conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import RAY_CHILD, ROOT


def test_the_ray_scale_out_suite_passes(tmp_path: Path) -> None:
    env = {**os.environ, RAY_CHILD: "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--basetemp={tmp_path / 'child'}",
         str(ROOT / "tests" / "cluster")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200,
    )
    summary = [line for line in proc.stdout.splitlines() if " passed" in line or "FAILED" in line or "ERROR" in line]
    assert proc.returncode == 0, "\n".join(summary) + "\n" + proc.stdout[-6000:]
    assert any(" passed" in line and "failed" not in line for line in summary), proc.stdout[-2000:]
