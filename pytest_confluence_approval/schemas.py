"""The JSON Schemas shipped as package data, so editors and auditors can use them too.

Each schema is the one statement of its format, and each is checked one way:

- ``policy``: every policy file is validated with :func:`validator` (jsonschema), so each
  error message is the schema's own. Its ``pages`` entries are first tried with
  :func:`surely_valid`: thousands of plain ``- id: "123"`` entries cost more to validate
  with jsonschema than the rest of a replay's set-up, so when every entry passes, the
  validator sees only the first (policy.py).
- ``snapshot``: every snapshot is validated with :func:`validator`, then its SHA-256 is
  checked. Its page and query entries are first tried with :func:`surely_valid` (tens of
  thousands of them cost more to validate with jsonschema than to judge); the validator
  checks the rest of the document, or all of it when an entry does not pass, so the error
  message is again the schema's (snapshot.py).
- ``approval``: every approval property is tried with :func:`surely_valid` first, and only
  a property that does not pass is validated with :func:`validator`, for its messages
  (verdict.py): validating each page's approval with jsonschema cost more than judging it.
- ``report``: written by the gate from its own records (evidence.py), never read back, so
  it is not validated at run time; the tests that read a report the gate wrote validate it
  against the schema.

:func:`surely_valid` is no copy of a schema: it is compiled from the schema itself, the
one ``validator`` uses (quickcheck.py). True means the validator would accept the value;
False means "let the validator decide", never "invalid", so it may be stricter than the
schema, never looser (tests/test_schemas.py holds it to that).
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator, validators

from .quickcheck import Check, surely_matches


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
def _bundled(name: str) -> Any:
    # Local $refs are inlined: jsonschema resolves each one on every use, which made
    # validating one approval property cost more than evaluating every rule on it.
    return _inline_refs(load_schema(name))


@cache
def validator(name: str) -> Draft202012Validator:
    validator: Draft202012Validator = StrictValidator(_bundled(name))
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
        return _inline_refs(_resolve(root, ref[1:]), root)
    return {key: _inline_refs(value, root) for key, value in schema.items()}


def _resolve(schema: Any, pointer: str) -> Any:
    """The part of ``schema`` at a JSON Pointer such as ``/properties/pages``."""
    for part in pointer.split("/")[1:]:
        schema = schema[part.replace("~1", "/").replace("~0", "~")]
    return schema


def json_path(path: Any) -> str:
    """Render a jsonschema error path the way people read JSON paths: ``$.pages[2].id``."""
    out = "$"
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


@cache
def surely_valid(name: str, pointer: str = "") -> Check:
    """The quick check of schema ``name`` (at the JSON Pointer ``pointer``, if given).

    Compiled once from the schema ``validator(name)`` uses, with the same semantics:
    ``pattern`` searches as jsonschema's does, ``integer`` excludes 2.0 and booleans as
    StrictValidator does.
    """
    return surely_matches(_resolve(_bundled(name), pointer))
