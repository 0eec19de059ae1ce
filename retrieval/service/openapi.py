"""The OpenAPI document of the HTTP/JSON API, generated from the .proto's descriptors.

The request and response bodies are the proto messages in their JSON form, with the field
names exactly as in ``retrieval.proto``, so the schemas are derived from the messages, never
written twice. The committed ``openapi.json`` beside this module is what the server serves; a
test regenerates it and fails on any difference (``python -m retrieval.service.openapi`` writes it).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from .protos import retrieval_pb2 as pb

COMMITTED = Path(__file__).with_name("openapi.json")
VERSION = "1.0.0"
TIMEOUT_HEADER = "X-Timeout-Ms"

_SCALARS: dict[int, dict[str, Any]] = {
    FieldDescriptor.TYPE_STRING: {"type": "string"},
    FieldDescriptor.TYPE_BOOL: {"type": "boolean"},
    FieldDescriptor.TYPE_UINT32: {"type": "integer", "format": "int64", "minimum": 0, "maximum": 2**32 - 1},
    FieldDescriptor.TYPE_DOUBLE: {"type": "number", "format": "double"},
    FieldDescriptor.TYPE_FLOAT: {"type": "number", "format": "float"},
}

# path -> (operation id, request message, response message, summary); /v1/answer streams
ENDPOINTS = (
    ("/v1/search", "Search", "SearchRequest", "SearchResponse", "One query, its top-k chunks."),
    ("/v1/search_batch", "SearchBatch", "SearchBatchRequest", "SearchBatchResponse",
     "Many queries in one call (batch priority: interactive searches go first)."),
    ("/v1/answer", "Answer", "AnswerRequest", "AnswerEvent",
     "Retrieve, compress, generate: answer tokens as server-sent events (`event: token`), then one "
     "`event: done`; an error after the stream began is one `event: error` with an Error body."),
)
ERRORS = {
    "400": "The request is invalid (a bad field, an unknown mode, a body that is not the message's JSON).",
    "401": "Missing or unknown bearer token (`Authorization: Bearer <token>`).",
    "404": "No such path, or the thing asked for does not exist.",
    "413": "The request body is over the server's limit (--max-receive-bytes).",
    "429": "Overloaded (the admission queue is full): back off and retry.",
    "503": "Warming up, draining, or a dependency is down: retry, or go elsewhere.",
    "504": "The deadline (" + TIMEOUT_HEADER + ") passed before the work was done.",
}


def build() -> dict[str, Any]:
    """The OpenAPI 3.1 document (a plain dict, deterministic: sorted schemas)."""
    schemas = {name: message_schema(message) for name, message in sorted(pb.DESCRIPTOR.message_types_by_name.items())}
    schemas["Error"] = {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string", "description": "the gRPC status code's name, e.g. INVALID_ARGUMENT"},
                    "message": {"type": "string"},
                },
            }
        },
    }
    paths: dict[str, Any] = {path: {"post": operation(*rest)} for path, *rest in ENDPOINTS}
    paths["/v1/health"] = {
        "get": {
            "operationId": "Health",
            "summary": "Whether the server takes calls now (no auth): 200 SERVING, else 503.",
            "security": [],
            "responses": {
                "200": {"description": "serving", "content": _json({"type": "object"})},
                "503": {"description": "warming up or draining", "content": _json({"type": "object"})},
            },
        }
    }
    paths["/v1/openapi.json"] = {
        "get": {
            "operationId": "OpenAPI",
            "summary": "This document.",
            "security": [],
            "responses": {"200": {"description": "the OpenAPI document", "content": _json({"type": "object"})}},
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "retrieval",
            "version": VERSION,
            "description": "The retrieval.v1.Retrieval service as JSON over HTTP: the same servicer, validation, "
            "admission control, auth, metrics and request log as gRPC. Bodies are the proto messages in JSON, "
            "with the .proto's field names.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }


def operation(operation_id: str, request: str, response: str, summary: str) -> dict[str, Any]:
    streamed = operation_id == "Answer"
    ok_content = (
        {"text/event-stream": {"schema": _ref(response)}} if streamed else _json(_ref(response))
    )
    responses: dict[str, Any] = {"200": {"description": "OK", "content": ok_content}}
    for status, description in ERRORS.items():
        responses[status] = {"description": description, "content": _json(_ref("Error"))}
    return {
        "operationId": operation_id,
        "summary": summary,
        "parameters": [
            {
                "name": TIMEOUT_HEADER,
                "in": "header",
                "required": False,
                "description": "the call's deadline in milliseconds from its arrival (like a gRPC deadline)",
                "schema": {"type": "number", "exclusiveMinimum": 0},
            }
        ],
        "requestBody": {"required": True, "content": _json(_ref(request))},
        "responses": responses,
    }


def message_schema(message: Descriptor) -> dict[str, Any]:
    properties = {field.name: field_schema(field) for field in message.fields}
    schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    oneofs = [o for o in message.oneofs if not o.name.startswith("_")]  # "_x": a proto3 optional
    if oneofs:
        schema["oneOf"] = [{"required": [f.name]} for o in oneofs for f in o.fields]
    return schema


def field_schema(field: FieldDescriptor) -> dict[str, Any]:
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        value = field.message_type.fields_by_name["value"]
        return {"type": "object", "additionalProperties": _single(value)}
    single = _single(field)
    if field.is_repeated:
        return {"type": "array", "items": single}
    return single


def _single(field: FieldDescriptor) -> dict[str, Any]:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return _ref(field.message_type.name)
    try:
        return dict(_SCALARS[field.type])
    except KeyError:
        raise TypeError(f"{field.full_name}: a field type the OpenAPI generator does not know ({field.type})") from None


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def render() -> str:
    return json.dumps(build(), indent=2, sort_keys=False) + "\n"


def committed() -> bytes:
    """The committed document's bytes, as the server serves them."""
    return COMMITTED.read_bytes()


if __name__ == "__main__":
    COMMITTED.write_text(render(), encoding="utf-8")
    print(f"wrote {COMMITTED}")
