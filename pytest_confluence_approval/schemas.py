"""The JSON Schemas shipped as package data, so editors and auditors can use them too."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator, validators


@cache
def load_schema(name: str) -> dict[str, Any]:
    resource = resources.files(__package__) / "schemas" / f"{name}.schema.json"
    text = resource.read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def _is_strict_integer(checker: Any, instance: Any) -> bool:
    # JSON Schema calls 2.0 an integer; a count of approvers written as 2.0 is a typo
    # that would otherwise reach the failure text as "of 2.0 required approvals".
    return isinstance(instance, int) and not isinstance(instance, bool)


StrictValidator = validators.extend(  # type: ignore[no-untyped-call]
    Draft202012Validator,
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_strict_integer),
)


@cache
def validator(name: str) -> Draft202012Validator:
    # Local $refs are inlined: jsonschema resolves each one on every use, which made
    # validating one approval property cost more than evaluating every rule on it.
    validator: Draft202012Validator = StrictValidator(_inline_refs(load_schema(name)))
    return validator


def _inline_refs(schema: Any, root: Any = None) -> Any:
    """Replace ``{"$ref": "#/..."}`` by what it points to (the bundled schemas have no cycles)."""
    root = schema if root is None else root
    if isinstance(schema, list):
        return [_inline_refs(item, root) for item in schema]
    if not isinstance(schema, dict):
        return schema
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/") and len(schema) == 1:
        target = root
        for part in ref[2:].split("/"):
            target = target[part]
        return _inline_refs(target, root)
    return {key: _inline_refs(value, root) for key, value in schema.items()}


def json_path(path: Any) -> str:
    """Render a jsonschema error path the way people read JSON paths: ``$.pages[2].id``."""
    out = "$"
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out
