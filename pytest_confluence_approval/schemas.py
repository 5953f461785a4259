"""The JSON Schemas shipped as package data, so editors and auditors can use them too."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator


@cache
def load_schema(name: str) -> dict[str, Any]:
    resource = resources.files(__package__) / "schemas" / f"{name}.schema.json"
    text = resource.read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(load_schema(name))


def json_path(path: Any) -> str:
    """Render a jsonschema error path the way people read JSON paths: ``$.pages[2].id``."""
    out = "$"
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out
