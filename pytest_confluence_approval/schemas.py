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
    validator: Draft202012Validator = StrictValidator(load_schema(name))
    return validator


def json_path(path: Any) -> str:
    """Render a jsonschema error path the way people read JSON paths: ``$.pages[2].id``."""
    out = "$"
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out
