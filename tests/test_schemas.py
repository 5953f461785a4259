"""The quick checks compiled from the schemas: never looser than the validator.

A quick check saying True for a value the schema refuses would let a malformed snapshot,
policy or approval through unvalidated, so these tests hold every check to jsonschema's
own verdict: on schemas drawn at random from the keywords the compiler knows, and on the
shipped schemas with the documents the gate really reads.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import event, given, settings
from hypothesis import strategies as st

from pytest_confluence_approval import schemas
from pytest_confluence_approval.quickcheck import surely_fails, surely_matches
from pytest_confluence_approval.schemas import StrictValidator, surely_valid

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

# --- any schema made of the keywords the compiler knows --------------------------------------

_KEYS = st.sampled_from(["a", "b", "c"])
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-3, max_value=3)
    | st.sampled_from([0.0, 1.0, -1.0, 2.5])
    | st.text(alphabet="ab1\n ", max_size=3)
)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEYS, inner, max_size=3),
    max_leaves=6,
)
_TYPES = ["object", "array", "string", "integer", "number", "boolean", "null"]
_small = st.integers(min_value=0, max_value=2)
_bound = st.integers(min_value=-2, max_value=2) | st.sampled_from([0.5, -1.5])
_assertions: dict[str, st.SearchStrategy[Any]] = {
    "type": st.sampled_from(_TYPES) | st.lists(st.sampled_from(_TYPES), min_size=1, unique=True),
    "const": _scalars | st.lists(_scalars, max_size=2),
    "enum": st.lists(_scalars | st.lists(_scalars, max_size=2), min_size=1, max_size=3),
    "required": st.lists(_KEYS, unique=True, max_size=2),
    "minProperties": _small,
    "maxProperties": _small,
    "minItems": _small,
    "maxItems": _small,
    "uniqueItems": st.booleans(),
    "minLength": _small,
    "maxLength": _small,
    "pattern": st.sampled_from(["^a", "b$", "^[ab]+$", "1", "^a(?![\\s\\S])"]),
    "minimum": _bound,
    "maximum": _bound,
    "exclusiveMinimum": _bound,
    "exclusiveMaximum": _bound,
    "description": st.just("annotations assert nothing"),
    "format": st.just("date"),  # not known to the compiler: it must say False
}


def _some_of(keywords: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """A schema of up to three of these keywords (drawing a few is far cheaper than
    deciding on each of thirty)."""
    names = st.lists(st.sampled_from(sorted(keywords)), max_size=3, unique=True)
    return names.flatmap(lambda chosen: st.fixed_dictionaries({k: keywords[k] for k in chosen}))


def _with_subschemas(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return _some_of(
        {
            **_assertions,
            "properties": st.dictionaries(_KEYS, inner, max_size=2),
            "additionalProperties": inner,
            "propertyNames": inner,
            "items": inner,
            "allOf": st.lists(inner, min_size=1, max_size=2),
            "anyOf": st.lists(inner, min_size=1, max_size=2),
            "oneOf": st.lists(inner, min_size=1, max_size=3),
            "not": inner,
            "if": inner,
            "then": inner,
            "else": inner,
        }
    )


_schemas = st.recursive(st.booleans() | _some_of(_assertions), _with_subschemas, max_leaves=4)


@settings(max_examples=500, deadline=None)
@given(schema=_schemas, value=_values)
def test_a_quick_check_is_never_looser_than_the_validator(schema: Any, value: Any) -> None:
    valid = StrictValidator(schema).is_valid(value)
    quick = surely_matches(schema)(value)
    event(f"quick {quick}, validator {valid}")
    if quick:
        assert valid, (schema, value)
    # oneOf, not and if rely on knowing that a branch surely fails: never a valid one.
    if surely_fails(schema)(value):
        assert not valid, (schema, value)


_IF_A = {"if": {"required": ["a"]}, "then": {"maxProperties": 1}, "else": {"minProperties": 1}}
_CLOSED = {"type": "object", "additionalProperties": False, "properties": {"a": {}}}


@pytest.mark.parametrize(
    ("schema", "value", "sure"),
    [
        ({"minimum": 1}, 1, True),
        ({"maximum": 1}, 1.5, False),
        ({"exclusiveMinimum": 1}, 1, False),
        ({"exclusiveMinimum": 1}, 2, True),
        ({"exclusiveMaximum": 1}, 1, False),
        ({"minLength": 2}, "ab", True),
        ({"minLength": 2}, "a", False),
        ({"required": ["a"]}, {}, False),
        ({"required": ["a"]}, 1, True),  # a keyword of objects says nothing of others
        (_CLOSED, {"a": 1}, True),
        (_CLOSED, {"a": 1, "b": 2}, False),
        ({"propertyNames": {"pattern": "^a"}}, {"b": 1}, False),
        ({"items": {"type": "string"}, "maxItems": 1}, ["a", "b"], False),
        ({"uniqueItems": True}, ["a", "b"], True),
        ({"uniqueItems": True}, ["a", "a"], False),
        ({"type": "number"}, 1, True),
        ({"const": 1}, True, False),
        ({"enum": ["true", True]}, "true", True),
        ({"anyOf": [{"type": "string"}, {"type": "null"}]}, None, True),
        ({"oneOf": [{"type": "string"}, {"type": "integer"}]}, "a", True),
        ({"oneOf": [{"type": "string"}, {"pattern": "^a"}]}, "a", False),  # both match
        ({"oneOf": [{"type": "string"}, {"format": "date"}]}, "a", False),  # unsure of one
        ({"not": {"type": "string"}}, 1, True),
        ({"not": {"type": "string"}}, "a", False),
        (_IF_A, {"a": 1}, True),
        (_IF_A, {"a": 1, "b": 2}, False),
        (_IF_A, {"b": 1}, True),
        (_IF_A, {}, False),
        ({"if": {"format": "date"}, "then": False}, "x", False),  # unsure of the condition
    ],
)
def test_the_quick_check_is_sure_exactly_where_it_can_be(
    schema: Any, value: Any, sure: bool
) -> None:
    assert surely_matches(schema)(value) is sure
    if sure:
        assert StrictValidator(schema).is_valid(value)


@pytest.mark.parametrize(
    ("schema", "value"),
    [
        ({"format": "date"}, "2025-01-01"),
        ({"patternProperties": {"^a": {}}}, {}),
        ({"$ref": "#/$defs/other"}, 1),
        ({"dependentRequired": {"a": ["b"]}}, {}),
        ({"properties": {"a": {"format": "date"}}}, {"a": "x"}),
        ({"type": "object"}, type("Mapping", (dict,), {})()),  # not a type JSON decodes to
        ({"type": "integer"}, 2.0),
        ({"type": "integer"}, True),
        ({"enum": [1]}, 1.0),  # equal in JSON, but the check is sure of equal types only
        ({"uniqueItems": True}, [1, 2]),  # sure of distinct text only
    ],
)
def test_what_the_compiler_cannot_be_sure_of_is_left_to_the_validator(
    schema: Any, value: Any
) -> None:
    assert not surely_matches(schema)(value)


def test_a_pattern_searches_as_jsonschema_does() -> None:
    # "$" lets a final newline through in Python's re, and so in jsonschema too.
    check = surely_matches({"type": "string", "pattern": "^[1-9][0-9]{0,18}$"})
    assert check("101") and check("101\n")
    assert not check("0101") and not check(" 101")


# --- the shipped schemas, on what the gate reads ----------------------------------------------


def _example_snapshots() -> list[dict[str, Any]]:
    return [json.loads((EXAMPLES / name).read_text()) for name in _SNAPSHOTS]


_SNAPSHOTS = ("snapshot.json", "advanced-snapshot.json")


def test_every_entry_of_the_shipped_snapshots_takes_the_quick_path() -> None:
    page_id = surely_valid("snapshot", "/properties/pages/propertyNames")
    page_entry = surely_valid("snapshot", "/properties/pages/additionalProperties")
    query_entry = surely_valid("snapshot", "/properties/queries/additionalProperties")
    for snapshot in _example_snapshots():
        assert all(page_id(p) and page_entry(e) for p, e in snapshot["pages"].items())
        assert all(query_entry(entry) for entry in snapshot["queries"].values())
        assert surely_valid("snapshot")(snapshot)  # the whole document, too


def test_every_approval_in_the_shipped_snapshots_takes_the_quick_path() -> None:
    approvals = [
        prop["value"]
        for snapshot in _example_snapshots()
        for entry in snapshot["pages"].values()
        for prop in entry.get("properties", [])
        if prop["key"].endswith("_capable_approval")
    ]
    assert approvals
    for value in approvals:
        assert surely_valid("approval")(value)
        assert schemas.validator("approval").is_valid(value)


def _as_json(document: Any) -> Any:
    """As the gate reads it: policy.py reads YAML dates as their text."""
    return json.loads(json.dumps(document, default=str))


@pytest.mark.parametrize("name", ["policy.yaml", "advanced-policy.yaml"])
def test_the_shipped_policies_page_entries_take_the_quick_path(name: str) -> None:
    policy = _as_json(yaml.safe_load((EXAMPLES / name).read_text()))
    entry_ok = surely_valid("policy", "/properties/pages/items")
    assert [entry for entry in policy["pages"] if not entry_ok(entry)] == []
    assert schemas.validator("policy").is_valid(policy)


def _approvals(snapshot: dict[str, Any]) -> list[Any]:
    return [
        prop["value"]
        for entry in snapshot["pages"].values()
        for prop in entry.get("properties", [])
        if prop["key"].endswith("_capable_approval")
    ]


_DOCUMENTS: list[tuple[str, Any]] = [
    *(("snapshot", snapshot) for snapshot in _example_snapshots()),
    *(("approval", value) for snapshot in _example_snapshots() for value in _approvals(snapshot)),
    *(
        ("policy", _as_json(yaml.safe_load((EXAMPLES / name).read_text())))
        for name in ("policy.yaml", "advanced-policy.yaml")
    ),
]


def _paths(document: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [at]
    if isinstance(document, dict):
        for key, value in document.items():
            found += _paths(value, (*at, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            found += _paths(value, (*at, index))
    return found


_odd_values = _values | st.sampled_from(
    ["", "101\n", " 101", "0101", "1" * 20, 2**63, -1, 2.0, "x" * 201, "2025-13-01", "P1X"]
)


@st.composite
def _near_misses(draw: st.DrawFn) -> tuple[str, Any]:
    """A document the gate reads with one thing changed: replaced, removed or added."""
    name, document = draw(st.sampled_from(_DOCUMENTS))
    document = copy.deepcopy(document)
    path = draw(st.sampled_from(_paths(document)))
    if not path:
        return name, draw(_odd_values)
    parent = document
    for part in path[:-1]:
        parent = parent[part]
    how = draw(st.sampled_from(["replace", "remove", "add"]))
    if how == "remove":
        del parent[path[-1]]
    elif how == "add" and isinstance(parent, dict):
        parent[draw(st.sampled_from(["extra", "id", "name", "failure", "page"]))] = draw(
            _odd_values
        )
    elif how == "add":
        parent.append(parent[path[-1]])  # a repeated item, for uniqueItems
    else:
        parent[path[-1]] = draw(_odd_values)
    return name, document


@settings(max_examples=600, deadline=None)
@given(near_miss=_near_misses())
def test_no_shipped_schema_is_checked_looser_than_its_validator(
    near_miss: tuple[str, Any],
) -> None:
    name, document = near_miss
    quick = surely_valid(name)(document)
    valid = schemas.validator(name).is_valid(document)
    event(f"{name}: quick {quick}, validator {valid}")
    if quick:
        assert valid, document
