"""Quick checks compiled from a JSON Schema: True only where the schema surely agrees.

jsonschema walks a schema anew for every value it validates, which made validating each
of thousands of snapshot entries, policy entries or approval properties cost more than
the rest of the work on them. A quick check is the schema compiled once into plain
Python functions. It says True only if the validator (schemas.StrictValidator) would
accept the value; False means "let the validator decide", never "invalid", so the
validator still has the last word and every error message stays its own.

It knows the keywords the bundled schemas use (draft 2020-12: type, const, enum, the
object, array, string and number keywords, allOf, anyOf, oneOf, not, if/then/else);
a schema with any other keyword (format, patternProperties, an unresolved $ref, ...)
compiles to a check that always says False. Values are told apart by their exact Python
type, as JSON decodes them; a value of any other type (a dict subclass, say) is one it
cannot be sure of, so it says False. So it may be stricter than the schema, never
looser: tests/test_schemas.py holds it to that on schemas drawn at random.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

#: A quick check: True only if the value surely matches (or, from surely_fails, fails).
Check = Callable[[Any], bool]

_KINDS: Mapping[type, str] = {
    dict: "object",
    list: "array",
    str: "string",
    bool: "boolean",
    int: "integer",
    float: "number",
    type(None): "null",
}
_SCALARS = frozenset({str, bool, int, float, type(None)})
_NUMBERS = frozenset({int, float})
#: keywords that assert nothing (draft 2020-12's meta-data and core vocabularies)
_ANNOTATIONS = frozenset(
    {"$schema", "$id", "$comment", "$defs", "title", "description", "examples", "default"}
    | {"deprecated", "readOnly", "writeOnly"}
)
_OBJECT_KEYWORDS = frozenset(
    {"properties", "required", "additionalProperties", "propertyNames"}
    | {"minProperties", "maxProperties"}
)
_ARRAY_KEYWORDS = frozenset({"items", "minItems", "maxItems", "uniqueItems"})
_STRING_KEYWORDS = frozenset({"minLength", "maxLength", "pattern"})
_NUMBER_KEYWORDS = frozenset({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"})
_KNOWN = (
    _ANNOTATIONS
    | _OBJECT_KEYWORDS
    | _ARRAY_KEYWORDS
    | _STRING_KEYWORDS
    | _NUMBER_KEYWORDS
    | {"type", "const", "enum", "allOf", "anyOf", "oneOf", "not", "if", "then", "else"}
)


def _always(value: Any) -> bool:
    return True


def _never(value: Any) -> bool:
    return False


def _all_of(checks: list[Check]) -> Check:
    if not checks:
        return _always
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:  # the usual case (a type and its bounds), without a generator
        first, second = checks
        return lambda value: first(value) and second(value)

    def check(value: Any) -> bool:
        return all(one(value) for one in checks)

    return check


def _any_of(checks: list[Check]) -> Check:
    if not checks:
        return _never
    if len(checks) == 1:
        return checks[0]

    def check(value: Any) -> bool:
        return any(one(value) for one in checks)

    return check


def _kinds(types: Any) -> frozenset[str]:
    named = frozenset([types] if isinstance(types, str) else types)
    return named | {"integer"} if "number" in named else named


def _types(kinds: frozenset[str]) -> frozenset[type]:
    """The Python types of these kinds of JSON value."""
    return frozenset(python for python, kind in _KINDS.items() if kind in kinds)


def _types_but(kind: str) -> frozenset[type]:
    """The Python types of every other kind of JSON value."""
    return frozenset(python for python, other in _KINDS.items() if other != kind)


def surely_matches(schema: Any) -> Check:
    """The quick check of ``schema``: True only if a value surely matches it."""
    if schema is True:
        return _always
    if not isinstance(schema, dict) or schema.keys() - _KNOWN:
        return _never  # false, or a keyword this check does not know: the validator decides
    checks: list[Check] = []
    kinds = _kinds(schema["type"]) if "type" in schema else None
    groups = (
        ("object", _OBJECT_KEYWORDS, _matches_object),
        ("array", _ARRAY_KEYWORDS, _matches_array),
        ("string", _STRING_KEYWORDS, _matches_string),
    )
    for kind, keywords, compile_group in groups:
        if schema.keys() & keywords:
            if kinds == frozenset({kind}):  # the group's own type test is the schema's type test
                kinds = None
                checks.append(compile_group(schema, False))
            else:
                checks.append(compile_group(schema, True))
    if kinds is not None:
        allowed = _types(kinds)
        checks.insert(0, lambda value: type(value) in allowed)
    if schema.keys() & _NUMBER_KEYWORDS:
        checks.append(_matches_number(schema))
    if "const" in schema:
        checks.append(_matches_enum([schema["const"]]))
    if "enum" in schema:
        checks.append(_matches_enum(schema["enum"]))
    checks.extend(surely_matches(branch) for branch in schema.get("allOf", ()))
    if "anyOf" in schema:
        checks.append(_any_of([surely_matches(branch) for branch in schema["anyOf"]]))
    if "oneOf" in schema:
        checks.append(_matches_one_of(schema["oneOf"]))
    if "not" in schema:
        checks.append(surely_fails(schema["not"]))
    if "if" in schema:
        checks.append(_matches_if(schema))
    return _all_of(checks)


def _other_kind(kind: str) -> Check:
    """For a group of keywords that applies only to ``kind``: any other JSON value passes."""
    others = _types_but(kind)
    return lambda value: type(value) in others


def _matches_object(schema: Mapping[str, Any], others_pass: bool) -> Check:
    properties = {key: surely_matches(sub) for key, sub in schema.get("properties", {}).items()}
    extra = schema.get("additionalProperties", True)
    additional = surely_matches(extra) if extra is not True else None
    names = surely_matches(schema["propertyNames"]) if "propertyNames" in schema else None
    required = tuple(schema.get("required", ()))
    least, most = schema.get("minProperties", 0), schema.get("maxProperties")
    other = _other_kind("object") if others_pass else _never
    open_ = additional is None and names is None  # keys it does not name always pass

    def check(value: Any) -> bool:
        if type(value) is not dict:
            return other(value)
        if len(value) < least or (most is not None and len(value) > most):
            return False
        for key in required:
            if key not in value:
                return False
        if open_ and len(value) > len(properties):
            # Only the named keys can fail: a value with a million other keys costs what
            # one with none does (an approval's extra keys are the app's, or a server's).
            for key, named in properties.items():
                if key in value and not named(value[key]):
                    return False
            return True
        for key, item in value.items():
            if names is not None and not names(key):
                return False
            one = properties.get(key, additional)
            if one is not None and not one(item):
                return False
        return True

    return check


def _matches_array(schema: Mapping[str, Any], others_pass: bool) -> Check:
    items = surely_matches(schema["items"]) if "items" in schema else None
    least, most = schema.get("minItems", 0), schema.get("maxItems")
    unique = schema.get("uniqueItems", False)
    other = _other_kind("array") if others_pass else _never

    def check(value: Any) -> bool:
        if type(value) is not list:
            return other(value)
        if len(value) < least or (most is not None and len(value) > most):
            return False
        if items is not None:
            for item in value:
                if not items(item):
                    return False
        # Sure only for text: JSON's equality of numbers and booleans is not Python's.
        return not unique or (
            all(type(item) is str for item in value) and len(set(value)) == len(value)
        )

    return check


def _matches_string(schema: Mapping[str, Any], others_pass: bool) -> Check:
    least, most = schema.get("minLength", 0), schema.get("maxLength")
    # re.search, as jsonschema's "pattern" (a "$" there also matches before a final "\n")
    search = re.compile(schema["pattern"]).search if "pattern" in schema else None
    other = _other_kind("string") if others_pass else _never

    def check(value: Any) -> bool:
        if type(value) is not str:
            return other(value)
        if len(value) < least or (most is not None and len(value) > most):
            return False
        return search is None or search(value) is not None

    return check


def _number_bounds(schema: Mapping[str, Any]) -> Callable[[float], bool]:
    low, high = schema.get("minimum"), schema.get("maximum")
    above, below = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    return lambda number: (
        (low is None or number >= low)
        and (high is None or number <= high)
        and (above is None or number > above)
        and (below is None or number < below)
    )


def _matches_number(schema: Mapping[str, Any]) -> Check:
    within = _number_bounds(schema)

    def check(value: Any) -> bool:
        if type(value) in _NUMBERS:
            return within(value)
        return type(value) in _KINDS  # bounds say nothing of other JSON values

    return check


def _matches_enum(members: list[Any]) -> Check:
    # Sure only of a scalar of the member's own type: JSON's 1 is not its true, as
    # Python's is, and its 1 is 1.0, as Python's type() is not.
    scalars = frozenset((type(member), member) for member in members if type(member) in _SCALARS)
    return lambda value: type(value) in _SCALARS and (type(value), value) in scalars


def _matches_one_of(branches: list[Any]) -> Check:
    """Sure when one branch surely matches and every other surely does not."""
    invalid = [surely_fails(branch) for branch in branches]
    pairs = [
        (
            surely_matches(branch),
            _all_of([fails for other, fails in enumerate(invalid) if other != n]),
        )
        for n, branch in enumerate(branches)
    ]

    def check(value: Any) -> bool:
        for matches, others_fail in pairs:
            if matches(value):
                return others_fail(value)
        return False

    return check


def _matches_if(schema: Mapping[str, Any]) -> Check:
    condition, fails = surely_matches(schema["if"]), surely_fails(schema["if"])
    then, otherwise = (
        surely_matches(schema.get("then", True)),
        surely_matches(schema.get("else", True)),
    )

    def check(value: Any) -> bool:
        if condition(value):
            return then(value)
        return fails(value) and otherwise(value)

    return check


def surely_fails(schema: Any) -> Check:
    """True only if a value surely does not match ``schema`` (for oneOf, not and if).

    A keyword that fails fails the whole schema, so keywords this does not know are
    ignored here (they can only make a value fail more often).
    """
    if schema is False:
        return _always
    if not isinstance(schema, dict):
        return _never
    checks: list[Check] = []
    if "type" in schema:
        others = _types(_kinds(_KINDS.values()) - _kinds(schema["type"]))
        checks.append(lambda value: type(value) in others)
    if "const" in schema:
        checks.append(_fails_enum([schema["const"]]))
    if "enum" in schema:
        checks.append(_fails_enum(schema["enum"]))
    if schema.keys() & _OBJECT_KEYWORDS:
        checks.append(_fails_object(schema))
    if schema.keys() & _ARRAY_KEYWORDS:
        checks.append(_fails_array(schema))
    if schema.keys() & _STRING_KEYWORDS:
        checks.append(_fails_string(schema))
    if schema.keys() & _NUMBER_KEYWORDS:
        within = _number_bounds(schema)
        checks.append(lambda value: type(value) in _NUMBERS and not within(value))
    checks.extend(surely_fails(branch) for branch in schema.get("allOf", ()))
    if "anyOf" in schema:
        every = [surely_fails(branch) for branch in schema["anyOf"]]
        checks.append(lambda value: all(fails(value) for fails in every))
    if "not" in schema:
        checks.append(surely_matches(schema["not"]))
    return _any_of(checks)


def _fails_enum(members: list[Any]) -> Check:
    # Python's == says equal wherever JSON's does (and for 1 and true besides).
    return lambda value: type(value) in _SCALARS and all(value != member for member in members)


def _fails_object(schema: Mapping[str, Any]) -> Check:
    properties = {key: surely_fails(sub) for key, sub in schema.get("properties", {}).items()}
    closed = schema.get("additionalProperties", True) is False and (
        "patternProperties" not in schema
    )
    required = tuple(schema.get("required", ()))

    def check(value: Any) -> bool:
        if type(value) is not dict:
            return False
        for key in required:
            if key not in value:
                return True
        for key, item in value.items():
            fails = properties.get(key)
            if fails is None:
                if closed:
                    return True
            elif fails(item):
                return True
        return False

    return check


def _fails_array(schema: Mapping[str, Any]) -> Check:
    items = surely_fails(schema["items"]) if "items" in schema else None
    least, most = schema.get("minItems", 0), schema.get("maxItems")

    def check(value: Any) -> bool:
        if type(value) is not list:
            return False
        if len(value) < least or (most is not None and len(value) > most):
            return True
        return items is not None and any(items(item) for item in value)

    return check


def _fails_string(schema: Mapping[str, Any]) -> Check:
    least, most = schema.get("minLength", 0), schema.get("maxLength")
    search = re.compile(schema["pattern"]).search if "pattern" in schema else None

    def check(value: Any) -> bool:
        if type(value) is not str:
            return False
        if len(value) < least or (most is not None and len(value) > most):
            return True
        return search is not None and search(value) is None

    return check
