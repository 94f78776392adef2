"""The OpenAPI 3.1 document of the admin API, generated from the endpoint table.

Schemas come from `msgspec.json.schema_components` over the very Structs the handlers decode
and encode; query parameters are the fields of each endpoint's query Struct. Every operation
lists the problems it may answer (`Problem`, RFC 9457) and whether it needs a bearer token.
Nothing here is written by hand but the titles.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import msgspec

from mediator.admin.endpoint import Endpoint
from mediator.admin.problems import Problem

__all__ = ["openapi_document"]

_REF = "#/components/schemas/{name}"
_PROBLEMS = {
    400: "a parameter or the body is wrong (`field` names it)",
    401: "no token, or not a valid one",
    403: "the token's role may not do this",
    404: "no such thing",
    405: "method not allowed",
    409: "the state does not allow it (say, already decided)",
    413: "the body is too large",
    503: "the journal cannot be read right now",
    504: "the request took too long",
}


def openapi_document(endpoints: Sequence[Endpoint], *, version: str) -> dict[str, object]:
    """The OpenAPI 3.1 document of `endpoints`."""
    types: list[type] = [Problem]
    for e in endpoints:
        types.extend(t for t in (e.response, e.query, e.body) if t is not None)
    unique = list(dict.fromkeys(types))
    refs, components = msgspec.json.schema_components(unique, ref_template=_REF)
    ref_of: dict[type, object] = dict(zip(unique, refs, strict=True))
    paths: dict[str, dict[str, object]] = {}
    for e in endpoints:
        paths.setdefault(e.path, {})[e.method.lower()] = _operation(e, ref_of, components)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "mediator admin API",
            "version": version,
            "description": "Reads for viewers, actions for operators; errors are RFC 9457 "
            "problems. See the README's 'Operating it'.",
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def _operation(
    e: Endpoint, ref_of: dict[type, object], components: dict[str, object]
) -> dict[str, object]:
    parameters: list[dict[str, object]] = [
        {"name": name, "in": "path", "required": True, "schema": schema}
        for name, schema in e.path_params.items()
    ]
    if e.query is not None:
        schema = cast(dict[str, object], components[e.query.__name__])
        required = set(cast(list[str], schema.get("required", [])))
        properties = cast(dict[str, object], schema.get("properties", {}))
        parameters.extend(
            {"name": name, "in": "query", "required": name in required, "schema": prop}
            for name, prop in properties.items()
        )
    problem = {"application/problem+json": {"schema": ref_of[Problem]}}
    responses: dict[str, object] = {
        "200": {
            "description": "OK",
            "content": {"application/json": {"schema": ref_of[e.response]}},
        }
    }
    for status, description in e.other_statuses.items():
        responses[str(status)] = {
            "description": description,
            "content": {"application/json": {"schema": ref_of[e.response]}},
        }
    for status, description in _PROBLEMS.items():
        responses.setdefault(str(status), {"description": description, "content": problem})
    operation: dict[str, object] = {
        "operationId": e.operation_id,
        "summary": e.summary,
        "parameters": parameters,
        "responses": responses,
        "security": [] if e.role is None else [{"bearer": []}],
    }
    if e.role is not None:
        operation["description"] = f"Needs a token with the {e.role} role (operator can do all)."
    if e.body is not None:
        body_schema = cast(dict[str, object], components[e.body.__name__])
        operation["requestBody"] = {
            # an empty body is {}: required only when the body has required fields
            "required": bool(body_schema.get("required")),
            "content": {"application/json": {"schema": ref_of[e.body]}},
        }
    return operation
