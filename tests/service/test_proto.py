"""The committed generated code is exactly what grpc_tools.protoc makes from the proto."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROTO = Path("retrieval/service/protos/retrieval.proto")
GENERATED = ("retrieval_pb2.py", "retrieval_pb2.pyi", "retrieval_pb2_grpc.py")


def test_generated_code_matches_the_proto(tmp_path: Path) -> None:
    # Same command and layout as the proto's header: -I. from the repository root.
    (tmp_path / PROTO.parent).mkdir(parents=True)
    shutil.copy(ROOT / PROTO, tmp_path / PROTO)
    command = [sys.executable, "-m", "grpc_tools.protoc", "-I.", "--python_out=.", "--pyi_out=.", "--grpc_python_out=.", str(PROTO)]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    for name in GENERATED:
        fresh = (tmp_path / PROTO.parent / name).read_text(encoding="utf-8")
        committed = (ROOT / PROTO.parent / name).read_text(encoding="utf-8")
        assert fresh == committed, f"{name} differs from the proto: regenerate (see the proto's header)"


def test_service_is_named_as_the_contract_says() -> None:
    from retrieval.service.protos import retrieval_pb2

    service = retrieval_pb2.DESCRIPTOR.services_by_name["Retrieval"]
    assert service.full_name == "retrieval.v1.Retrieval"
    assert {m.name for m in service.methods} == {"Search", "SearchBatch", "Answer"}
    assert service.methods_by_name["Answer"].server_streaming
