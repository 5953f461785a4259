"""Load and validate a policy file into frozen dataclasses.

Everything a policy can get wrong is reported here, before any request is made,
as a :class:`PolicyError` whose message names the file, the line and the key.
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml
from jsonschema import ValidationError

from .accounts import account_key
from .errors import DurationError
from .errors import PolicyError as PolicyError
from .expiry import Duration, parse_calendar_duration
from .inputs import open_regular_file
from .pageids import MAX_PAGE_ID, is_page_id, within_int64
from .schemas import surely_valid, validator

#: A policy is a short text file; anything bigger is a mistake, not a policy.
MAX_POLICY_BYTES = 1_000_000
#: Values (scalars, lists, mappings) in one policy: thousands of pages with settings.
MAX_POLICY_NODES = 50_000

#: Two spellings of one setting: in one mapping only one of them may be given.
AGE_KEYS = ("max_age", "max_age_days")


@dataclass(frozen=True)
class GroupRequirement:
    """At least ``min`` counted approvers must be members of the Confluence group ``group``."""

    group: str
    min: int = 1


def _setting(default: Any, *, accounts: bool = False) -> Any:
    """A per-page policy setting (``defaults:`` or a page entry) and its default.

    Every setting is declared once, here, as a field of :class:`PageRule`: the loader,
    ``DEFAULT_SETTINGS`` and the report's per-page settings record are derived from these
    fields, and a test checks that the policy and report schemas name the same settings.
    ``accounts`` marks a list of account ids (the report adds display names).
    """
    return field(default=default, metadata={"setting": True, "accounts": accounts})


@dataclass(frozen=True, slots=True)
class PageRule:
    """What one page must satisfy: the policy's defaults merged with the page's own settings."""

    page_id: str
    name: str | None
    line: int
    # --- settings (in this order in the schemas and the report) ---
    min_approvers: int = _setting(1)
    required_approvers: tuple[str, ...] = _setting((), accounts=True)
    max_age_days: int | None = _setting(None)
    allowed_statuses: tuple[str, ...] = _setting(("current",))
    require_current_version: bool = _setting(True)
    forbid_self_approval: bool = _setting(False)
    ignore_minor_edits: bool = _setting(False)
    #: the age limit where the policy wrote ``max_age`` (``max_age_days`` is then None)
    max_age: Duration | None = _setting(None)  # noqa: RUF009 (a field(), not a shared value)
    #: from the start of this day (UTC) the approval no longer counts
    expires_on: date | None = _setting(None)  # noqa: RUF009 (a field(), not a shared value)
    required_groups: tuple[GroupRequirement, ...] = _setting(())
    #: None: anyone may have written the approval property; else only these accounts
    approval_writers: tuple[str, ...] | None = _setting(None, accounts=True)
    #: at most this many rejections are tolerated, whatever the property's
    #: minimumRejections allows (None: the property's threshold alone)
    max_rejections: int | None = _setting(None)

    def __post_init__(self) -> None:
        # Account ids are compared in one spelling (accounts.account_key), however the
        # policy wrote them: the verdict, the report and the name look-up all see that one.
        object.__setattr__(self, "required_approvers", _one_spelling(self.required_approvers))
        if self.approval_writers is not None:
            object.__setattr__(self, "approval_writers", _one_spelling(self.approval_writers))

    @property
    def label(self) -> str:
        return f'page {self.page_id} "{self.name}"' if self.name else f"page {self.page_id}"

    @property
    def age_limit(self) -> Duration | None:
        """``max_age``, or its alias ``max_age_days``, as one calendar duration."""
        if self.max_age is not None:
            return self.max_age
        return None if self.max_age_days is None else Duration.of_days(self.max_age_days)

    def settings(self) -> dict[str, Any]:
        """Every setting applied to this page, by name, as JSON values (as the policy
        writes them: lists, texts, mappings)."""
        return {name: _json_value(getattr(self, name)) for name in SETTINGS}


def _one_spelling(accounts: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(map(account_key, accounts)))


def _json_value(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, Duration):
        return value.text
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, GroupRequirement):
        return {"group": value.group, "min": value.min}
    return value


def _tuple_value(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


#: The per-page settings, in declaration order.
SETTINGS: tuple[str, ...] = tuple(f.name for f in fields(PageRule) if f.metadata.get("setting"))
#: The settings whose value is a list of account ids.
ACCOUNT_SETTINGS: frozenset[str] = frozenset(
    f.name for f in fields(PageRule) if f.metadata.get("accounts")
)
#: What a page gets for a setting neither ``defaults:`` nor its entry sets.
DEFAULT_SETTINGS: Mapping[str, Any] = MappingProxyType(
    {f.name: _json_value(f.default) for f in fields(PageRule) if f.name in SETTINGS}
)


@dataclass(frozen=True)
class PageQuery:
    """A ``cql:`` entry: every page the query finds must satisfy ``rule`` (its id aside)."""

    cql: str
    rule: PageRule

    @property
    def label(self) -> str:
        return f'query "{self.rule.name}"' if self.rule.name else f"query {self.cql!r}"


@dataclass(frozen=True)
class Waiver:
    """An accepted risk: the page may be not approved until ``expires`` (start of day, UTC)."""

    page_id: str
    reason: str
    expires: date
    line: int


@dataclass(frozen=True)
class Policy:
    path: Path
    sha256: str
    site: str | None
    property_key: str | None
    pages: tuple[PageRule, ...]
    queries: tuple[PageQuery, ...] = ()
    waivers: tuple[Waiver, ...] = ()


YamlPath = tuple[str | int, ...]
#: libyaml's safe loader where PyYAML was built with it: ~10x faster on a large policy.
_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STR_TAG = "tag:yaml.org,2002:str"


def load_policy(path: Path) -> Policy:
    try:
        with open_regular_file(path) as stream:
            data = stream.read(MAX_POLICY_BYTES + 1)
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read the policy file: {exc.strerror or exc}") from None
    if len(data) > MAX_POLICY_BYTES:
        raise PolicyError(f"{path}: the policy file is larger than {MAX_POLICY_BYTES} bytes")
    return parse_policy(data, path)


def _plain_page(entry: Any) -> bool:
    """True only if this pages: entry surely matches the schema (see schemas.surely_valid).

    Validating thousands of ``- id: "123"`` entries with jsonschema cost more than the
    rest of a replay's set-up. Anything this does not accept is left to the schema, so
    every error message stays the schema's.
    """
    if not surely_valid("policy", "/properties/pages/items")(entry):
        return False
    # The schema's pattern also takes a final "\n" and ids beyond int64: the slow path
    # refuses those with their line.
    page_id = entry.get("id")
    if page_id is None:  # a cql: entry
        return True
    return is_page_id(page_id) if type(page_id) is str else 1 <= page_id <= MAX_PAGE_ID


def _without_plain_pages(document: Any) -> Any:
    """The document to validate: when every page entry is plain (already checked), only
    the first stays, so "at least one page" is still the schema's to check. Otherwise
    all of them, so an error's path, and so its line, is the entry's own."""
    pages = document.get("pages") if isinstance(document, dict) else None
    if isinstance(pages, list) and len(pages) > 1 and all(_plain_page(p) for p in pages):
        return {**document, "pages": pages[:1]}
    return document


def parse_policy(data: bytes, path: Path) -> Policy:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise PolicyError(
            f"{path}:{line}: the policy file is not UTF-8 text ({exc.reason}); save it as UTF-8"
        ) from None
    document, lines = _compose(text, path)
    if document is None:
        raise PolicyError(f"{path}: the policy file is empty")

    def where(error_path: YamlPath) -> str:
        return f"{path}:{_line_of(lines, error_path)}"

    errors = sorted(
        validator("policy").iter_errors(_without_plain_pages(document)),
        key=lambda e: (_line_of(lines, tuple(e.absolute_path)), list(map(str, e.absolute_path))),
    )
    if errors:
        raise PolicyError(*(line for e in errors for line in _describe_lines(e, where)))

    _check_age_keys(document.get("defaults", {}), ("defaults",), where)
    defaults = {
        **DEFAULT_SETTINGS,
        **_expiry_settings(document.get("defaults", {}), ("defaults",), where),
    }
    seen: dict[str, int] = {}
    pages: list[PageRule] = []
    queries: list[PageQuery] = []
    for index, entry in enumerate(document["pages"]):
        line = _line_of(lines, ("pages", index))
        _check_age_keys(entry, ("pages", index), where)
        own = _expiry_settings(entry, ("pages", index), where)
        if any(key in entry for key in AGE_KEYS):
            # One setting, two spellings: the entry's replaces the defaults' either way.
            own = {"max_age": None, "max_age_days": None, **own}
        settings = {**defaults, **own}
        rule = PageRule(
            page_id=str(entry.get("id", "")),
            name=entry.get("name"),
            line=line,
            **{name: _tuple_value(settings[name]) for name in SETTINGS},
        )
        if "cql" in entry:
            queries.append(PageQuery(cql=entry["cql"], rule=rule))
            continue
        _check_int64(rule.page_id, f"{where(('pages', index, 'id'))}: pages[{index}].id")
        if rule.page_id in seen:
            raise PolicyError(
                f"{where(('pages', index, 'id'))}: pages[{index}].id: page {rule.page_id} is "
                f"listed twice (first at line {seen[rule.page_id]}); list each page once"
            )
        seen[rule.page_id] = line
        pages.append(rule)
    waivers: dict[str, Waiver] = {}
    for index, entry in enumerate(document.get("waivers", [])):
        at = ("waivers", index, "page")
        waiver = Waiver(
            page_id=str(entry["page"]),
            reason=entry["reason"],
            expires=_date(entry["expires"], f"{where(('waivers', index, 'expires'))}"),
            line=_line_of(lines, ("waivers", index)),
        )
        _check_int64(waiver.page_id, f"{where(at)}: waivers[{index}].page")
        if waiver.page_id in waivers:
            raise PolicyError(
                f"{where(at)}: waivers[{index}].page: page {waiver.page_id} has two waivers "
                f"(first at line {waivers[waiver.page_id].line}); keep one"
            )
        # A page found by a query is only known once the query runs; that check waits.
        if waiver.page_id not in seen and not queries:
            raise PolicyError(
                f"{where(at)}: waivers[{index}].page: page {waiver.page_id} is not in the "
                "policy's pages; a waiver can only cover a page the gate checks"
            )
        waivers[waiver.page_id] = waiver
    return Policy(
        path=path,
        sha256=hashlib.sha256(data).hexdigest(),
        site=document.get("site"),
        property_key=document.get("property_key"),
        pages=tuple(pages),
        queries=tuple(queries),
        waivers=tuple(waivers.values()),
    )


def _date(text: str, where: str, key: str = "expires") -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise PolicyError(f"{where}: {key}: {text!r} is not a calendar date") from None


def _check_age_keys(mapping: Mapping[str, Any], at: YamlPath, where: Any) -> None:
    if all(key in mapping for key in AGE_KEYS):
        raise PolicyError(
            f"{where((*at, 'max_age'))}: {_dotted((*at, 'max_age'))}: max_age and max_age_days "
            f"are two spellings of one setting (max_age_days at line "
            f"{where((*at, 'max_age_days')).rsplit(':', 1)[-1]}); keep one"
        )


def _expiry_settings(mapping: Mapping[str, Any], at: YamlPath, where: Any) -> dict[str, Any]:
    """The mapping's settings, with max_age, expires_on and required_groups parsed."""
    settings = {k: v for k, v in mapping.items() if k in DEFAULT_SETTINGS}
    for name in sorted(ACCOUNT_SETTINGS & settings.keys()):
        _check_one_spelling(settings[name] or [], (*at, name), where)
    if settings.get("max_age") is not None:
        try:
            settings["max_age"] = parse_calendar_duration(settings["max_age"])
        except DurationError as exc:
            at_key = (*at, "max_age")
            raise PolicyError(f"{where(at_key)}: {_dotted(at_key)}: {exc}") from None
    if settings.get("expires_on") is not None:
        key = _dotted((*at, "expires_on"))
        settings["expires_on"] = _date(settings["expires_on"], where((*at, "expires_on")), key)
    if "required_groups" in settings:
        groups: dict[str, int] = {}
        for number, item in enumerate(settings["required_groups"]):
            name = item["group"]
            if name in groups:
                item_at = (*at, "required_groups", number, "group")
                raise PolicyError(
                    f"{where(item_at)}: {_dotted(item_at)}: group {name!r} is listed twice; "
                    "list each group once, with the larger min"
                )
            groups[name] = item.get("min", 1)
        settings["required_groups"] = tuple(GroupRequirement(g, m) for g, m in groups.items())
    return settings


def _check_one_spelling(accounts: list[str], at: YamlPath, where: Any) -> None:
    """Refuse one account listed twice in two spellings: the verdict would see it once."""
    first: dict[str, int] = {}
    for number, account in enumerate(accounts):
        earlier = first.setdefault(account_key(account), number)
        if earlier != number:
            item_at = (*at, number)
            raise PolicyError(
                f"{where(item_at)}: {_dotted(item_at)}: {account!r} is {accounts[earlier]!r} "
                f"(item {earlier}) again: account ids that differ only in case are one "
                "account; list it once"
            )


def _compose(text: str, path: Path) -> tuple[Any, dict[YamlPath, int]]:
    """Parse YAML safely, keeping the line of every key and item for error messages."""
    loader = None
    try:
        _refuse_anchors(text, path)
        loader = _SafeLoader(text)  # the reader already rejects control characters
        node = loader.get_single_node()
        if node is None:
            return None, {}
        lines: dict[YamlPath, int] = {}
        _index_lines(node, (), lines, path)
        try:
            document = loader.construct_document(node)
        except (yaml.YAMLError, RecursionError):
            raise
        except Exception as exc:
            # PyYAML's constructors raise plain ValueError & co. for values such as
            # `!!int 09`; find the scalar that cannot be read to name its line.
            raise PolicyError(
                f"{path}:{_unreadable_line(node)}: invalid YAML value ({type(exc).__name__}: {exc})"
            ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise PolicyError(f"{path}:{line}: invalid YAML: {exc.problem or exc.context}") from None
    except yaml.reader.ReaderError as exc:
        # Not a MarkedYAMLError: it knows the character's offset, not its line.
        line = text[: exc.position].count("\n") + 1
        raise PolicyError(
            f"{path}:{line}: invalid YAML: control character {exc.character!r} is not allowed"
        ) from None
    except yaml.YAMLError as exc:
        raise PolicyError(f"{path}: invalid YAML: {exc}") from None
    except RecursionError:
        raise PolicyError(f"{path}: invalid YAML: nested too deeply") from None
    finally:
        if loader is not None:
            loader.dispose()
    _use_raw_page_ids(node, document)
    return _dates_as_text(document), lines


def _refuse_anchors(text: str, path: Path) -> None:
    """Refuse what could exhaust the machine, before anything is built from the text.

    Anchors (``&a``) and aliases (``*a``): a few hundred bytes of nested aliases
    expand to gigabytes ("billion laughs"), and a policy has no need for them:
    shared settings go under ``defaults:``. And more than MAX_POLICY_NODES values:
    a megabyte of ``[1,1,1,...]`` would become half a million Python objects. The
    parser's events are read once, in linear time and constant memory.
    """
    nodes = 0
    for event in yaml.parse(text, Loader=_SafeLoader):
        if not isinstance(event, yaml.NodeEvent):
            continue
        line = event.start_mark.line + 1 if event.start_mark else 1
        alias = isinstance(event, yaml.AliasEvent)
        if alias or event.anchor is not None:
            what = f"alias *{event.anchor}" if alias else f"anchor &{event.anchor}"
            raise PolicyError(
                f"{path}:{line}: YAML anchors and aliases are not "
                f"supported ({what}); put shared settings under defaults: instead"
            )
        nodes += 1
        if nodes > MAX_POLICY_NODES:
            raise PolicyError(
                f"{path}:{line}: the policy has more than "
                f"{MAX_POLICY_NODES} YAML values; split it, or use cql: entries for large "
                "page sets"
            )


def _dates_as_text(value: Any) -> Any:
    """YAML reads ``2025-09-01`` as a date; the schema speaks of text, so give it text."""
    if isinstance(value, dict):
        return {k: _dates_as_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_dates_as_text(v) for v in value]
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


def _key_text(node: yaml.Node) -> str:
    if isinstance(node, yaml.ScalarNode):
        return str(node.value)
    return "[...]" if isinstance(node, yaml.SequenceNode) else "{...}"


def _unreadable_line(node: yaml.Node) -> int:
    """The line of the first scalar PyYAML cannot construct (1 if none alone fails)."""
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, yaml.ScalarNode):
            try:
                yaml.SafeLoader("").construct_object(current, deep=True)
            except Exception:
                return current.start_mark.line + 1
        elif isinstance(current, yaml.MappingNode):
            stack.extend(n for pair in reversed(current.value) for n in reversed(pair))
        elif isinstance(current, yaml.SequenceNode):
            stack.extend(reversed(current.value))
    return node.start_mark.line + 1


def _index_lines(
    node: yaml.Node, at: YamlPath, lines: dict[YamlPath, int], path: Path, depth: int = 0
) -> None:
    if depth > 50:
        raise PolicyError(f"{path}:{node.start_mark.line + 1}: invalid YAML: nested too deeply")
    lines.setdefault(at, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        keys: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = _key_text(key_node)
            line = key_node.start_mark.line + 1
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise PolicyError(
                    f"{path}:{line}: {_dotted((*at, key))}: merge keys are not supported; "
                    "put shared settings under defaults: instead"
                )
            # Every key of the format is text; `1:` or `yes:` (a YAML 1.1 boolean) is a typo.
            if not (isinstance(key_node, yaml.ScalarNode) and key_node.tag == _STR_TAG):
                raise PolicyError(
                    f"{path}:{line}: {_dotted((*at, key))}: key {key!r} must be text "
                    "(quote it if it is meant to be one)"
                )
            # PyYAML silently keeps the last of two equal keys; in a gate that could
            # quietly drop a stricter setting, so a repeated key is an error.
            if key in keys:
                raise PolicyError(
                    f"{path}:{line}: {_dotted((*at, key))}: duplicate key "
                    f"(first at line {keys[key]})"
                )
            keys[key] = line
            child = (*at, key)
            lines[child] = line
            _index_lines(value_node, child, lines, path, depth + 1)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _index_lines(item, (*at, index), lines, path, depth + 1)


def _use_raw_page_ids(node: yaml.Node, document: Any) -> None:
    """Keep page ids exactly as written.

    YAML 1.1 reads ``0755`` as octal and ``1_000`` as 1000; a gate must check the
    page the author named, so an id written as a bare number is taken as its text
    (and the schema's digits-only pattern then rejects the odd spellings).
    """
    if not (isinstance(node, yaml.MappingNode) and isinstance(document, dict)):
        return
    for section, id_key in (("pages", "id"), ("waivers", "page")):
        section_node = next((v for k, v in node.value if k.value == section), None)
        entries = document.get(section)
        if not isinstance(section_node, yaml.SequenceNode) or not isinstance(entries, list):
            continue
        for item_node, item in zip(section_node.value, entries, strict=False):
            if not (isinstance(item_node, yaml.MappingNode) and isinstance(item, dict)):
                continue
            for key_node, value_node in item_node.value:
                if (
                    key_node.value == id_key
                    and isinstance(value_node, yaml.ScalarNode)
                    and value_node.tag == "tag:yaml.org,2002:int"
                ):
                    item[id_key] = value_node.value


def _check_int64(page_id: str, where: str) -> None:
    """Confluence page ids are int64 values: the schema's 19 digits can still be too many."""
    if not within_int64(page_id):
        raise PolicyError(
            f"{where}: page id {page_id} is larger than any Confluence page id "
            f"(at most {MAX_PAGE_ID})"
        )


def _line_of(lines: Mapping[YamlPath, int], at: YamlPath) -> int:
    while at not in lines and at:
        at = at[:-1]
    return lines.get(at, 1)


def _dotted(at: YamlPath) -> str:
    out = ""
    for part in at:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _describe_lines(error: ValidationError, where: Any) -> list[str]:
    """The error in words, one line per problem: each unknown key has its own."""
    schema: Any = error.schema
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        at: YamlPath = tuple(error.absolute_path)
        allowed = sorted(schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(allowed))
        both: list[str] = []
        if len(at) == 2 and at[0] == "pages" and "cql" in error.instance and "id" in unknown:
            # The entry is read as a query (it has cql:), so its id: is the "unknown" key.
            unknown.remove("id")
            both.append(
                f"{where((*at, 'id'))}: {_dotted(at)}: an entry names one page by id or "
                "finds pages by cql, not both; keep one"
            )
        return both + [
            f"{where((*at, u))}: {_dotted((*at, u))}: unknown key{_did_you_mean(u, allowed)} "
            f"(allowed here: {', '.join(allowed)})"
            for u in unknown
        ]
    return [_describe(error, where)]


def _did_you_mean(unknown: str, allowed: list[str]) -> str:
    """ "; did you mean 'x'?" for the allowed key closest to a typo, or nothing."""
    close = difflib.get_close_matches(unknown, allowed, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _describe(error: ValidationError, where: Any) -> str:
    at: YamlPath = tuple(error.absolute_path)
    key = _dotted(at)
    # jsonschema types these loosely; they are plain JSON values here.
    v: Any = error.validator
    expected: Any = error.validator_value
    schema: Any = error.schema
    if v == "required":
        instance: Any = error.instance
        missing = [m for m in expected if m not in instance]
        return f"{where(at)}: {key}: missing required key {', '.join(map(repr, missing))}"
    if at and at[-1] in ("id", "page") and v in ("oneOf", "pattern"):
        meant = _without_leading_zeros(error.instance)
        if meant is not None:
            return (
                f"{where(at)}: {key}: page ids have no leading zero, got "
                f"{error.instance!r}; did you mean {meant}?"
            )
        return (
            f"{where(at)}: {key}: page id must be decimal digits (the number in the "
            f"page's URL), got {error.instance!r}"
        )
    if at and at[-1] == "group" and v == "pattern":
        return (
            f"{where(at)}: {key}: a group name cannot contain control characters such as "
            f"tabs or line breaks, got {error.instance!r}"
        )
    if at and at[-1] == "max_age" and v in ("pattern", "type"):
        return (
            f"{where(at)}: {key}: must be a duration such as 90 days, 2 weeks, 6 months, "
            f"1 year or P6M, got {error.instance!r}"
        )
    if at and at[-1] in ("expires", "expires_on") and v in ("pattern", "type"):
        return f"{where(at)}: {key}: must be a date such as 2025-09-30, got {error.instance!r}"
    if at == ("pages",) and v == "minItems":
        return f"{where(at)}: pages: the list is empty; a gate that checks nothing must not pass"
    if at == ("version",):
        return (
            f"{where(at)}: version: must be 1 (the policy format this plugin reads), "
            f"got {error.instance!r}"
        )
    if v == "pattern" and "account id" in str(schema.get("description")):
        return (
            f"{where(at)}: {key}: {error.instance!r} is not an Atlassian account id "
            "(letters, digits, ':', '-' and '_' only)"
        )
    if v == "maximum":
        return f"{where(at)}: {key}: must be at most {expected}, got {error.instance!r}"
    if v == "minimum":
        return f"{where(at)}: {key}: must be {expected} or more, got {error.instance!r}"
    if v == "type":
        yaml_names: dict[str, str] = {"object": "mapping", "array": "list"}
        names = " or ".join(
            yaml_names.get(str(t), str(t))
            for t in (expected if isinstance(expected, list) else [expected])
        )
        got = f"{_type_name(error.instance)} {error.instance!r}"
        return f"{where(at)}: {key}: must be {_article(names)}, got {got}"
    if v == "enum":
        options = ", ".join(map(str, expected))
        return f"{where(at)}: {key}: {error.instance!r} is not one of: {options}"
    return f"{where(at)}: {key}: {error.message}"


def _without_leading_zeros(written: Any) -> str | None:
    """The page id a text of digits with leading zeros means, if it means one."""
    if not (isinstance(written, str) and written.startswith("0")):
        return None
    meant = written.lstrip("0")
    return meant if is_page_id(meant) else None


def _article(name: str) -> str:
    return f"an {name}" if name[0] in "aeiou" else f"a {name}"


def _type_name(value: Any) -> str:
    return {
        bool: "boolean",
        int: "integer",
        float: "number",
        str: "string",
        list: "list",
        dict: "mapping",
        type(None): "null",
    }.get(type(value), type(value).__name__)
