"""The service's proto messages as JSON: the .proto's field names, every field present.

``json_format`` is the reference (ProtoJSON, what ``parse_message`` reads and what every other
message is written with). Search responses, the hot path of the HTTP gateway, are written by
``search_response_dict`` directly from the message's fields: json_format walks descriptors in
Python (about 120 us for ten hits) where this takes a few. A test holds the two equal on
random responses, NaN, infinities and unicode included.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
from google.protobuf import json_format
from google.protobuf.message import Message

from ..errors import QueryError
from .protos import retrieval_pb2 as pb


def parse_message(body: bytes, message_type: type[Message]) -> Message:
    """The request message of a JSON body; ``QueryError`` naming what is wrong."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise QueryError("the request body is not UTF-8 JSON") from None
    if not text.strip():
        raise QueryError(f"the request body is empty: send a {message_type.DESCRIPTOR.name} as JSON")
    name = message_type.DESCRIPTOR.name
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise QueryError(f"the request body is not JSON: {exc}") from None
    if not isinstance(value, dict):  # json_format would read [] as an empty message
        raise QueryError(f"the request body must be a JSON object (a {name}), got {type(value).__name__}")
    try:
        return json_format.ParseDict(value, message_type())
    except json_format.ParseError as exc:
        raise QueryError(f"the request body is not a valid {name}: {exc}") from None


def to_json(message: Message) -> bytes:
    return json.dumps(to_dict(message), ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def to_dict(message: Message) -> dict[str, Any]:
    if isinstance(message, pb.SearchResponse):
        return search_response_dict(message)
    if isinstance(message, pb.SearchBatchResponse):
        return {"responses": [search_response_dict(r) for r in message.responses]}
    return reference_dict(message)


def reference_dict(message: Message) -> dict[str, Any]:
    """json_format's own rendering (the slow reference)."""
    return json_format.MessageToDict(message, always_print_fields_with_no_presence=True, preserving_proto_field_name=True)


def search_response_dict(response: pb.SearchResponse) -> dict[str, Any]:
    return {
        "hits": [
            {
                "chunk_id": h.chunk_id,
                "document_id": h.document_id,
                "score": _float32(h.score),
                "text": h.text,
                "title": h.title,
            }
            for h in response.hits
        ],
        "timings_ms": {stage: _double(ms) for stage, ms in response.timings_ms.items()},
        "cached": response.cached,
    }


def _float32(value: float) -> float | str:
    """As ProtoJSON writes a ``float`` field: the shortest decimal that is the same float32
    (json_format's ``ToShortestFloat``, which searches digit counts in Python: 3x slower)."""
    if not math.isfinite(value):
        return _special(value)
    six = float(f"{value:.6g}")  # the reference starts at 6 digits (it matters for subnormals)
    if float(np.float32(six)) == value:
        return six
    return float(np.format_float_scientific(np.float32(value), unique=True, trim="-"))


def _double(value: float) -> float | str:
    return value if math.isfinite(value) else _special(value)


def _special(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"
