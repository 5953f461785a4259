"""The bottom of the layers: options, errors, page ids and instants, each defined once.

The core (the policy, the rules, the snapshot, the gate's phases) and the HTTP client
load without pytest, so they can be used and tested alone; the import contract in
pyproject.toml (``lint-imports``) states the same statically, this proves it at run time.
"""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from datetime import datetime, timezone
from typing import Any

import pytest

from pytest_confluence_approval import confluence, expiry, policy, schemas, settings, snapshot
from pytest_confluence_approval.confluence import ConfluenceClient
from pytest_confluence_approval.errors import (
    ConfigurationError,
    ConfluenceError,
    DurationError,
    GateError,
    GateUsageError,
    Interrupted,
    OutputError,
    PolicyError,
    RetryBudgetExceeded,
    SnapshotError,
)
from pytest_confluence_approval.expiry import parse_calendar_duration
from pytest_confluence_approval.instants import instant_or_none, parse_instant, utc_iso
from pytest_confluence_approval.pageids import MAX_PAGE_ID, PAGE_ID_PATTERN, is_page_id
from pytest_confluence_approval.settings import (
    DEADLINE,
    OPTIONS,
    POLL,
    parse_as_of,
    parse_option_duration,
)
from tests.conftest import GateRunner, approved_page

UTC = timezone.utc

#: Neither pytest nor the HTTP stack: what the core must do without.
CORE = (
    "settings",
    "errors",
    "pageids",
    "instants",
    "accounts",
    "strict_json",
    "inputs",
    "untrusted",
    "facts",
    "expiry",
    "pace",
    "deadline",
    "site",
    "schemas",
    "policy",
    "scope",
    "snapshot",
    "verdict",
    "outputs",
    "gate",
)
#: The HTTP layer: requests and urllib3, but nothing of pytest.
HTTP = ("confluence", "fetch")


def _first_importer(modules: tuple[str, ...], forbidden: tuple[str, ...]) -> dict[str, Any]:
    """In a fresh interpreter, import ``modules`` one by one; the first that loads a
    forbidden top-level package, and which ones it loaded."""
    script = f"""
import json, sys
forbidden = {forbidden!r}
for name in {modules!r}:
    __import__("pytest_confluence_approval." + name)
    loaded = sorted({{m.split(".")[0] for m in sys.modules}} & set(forbidden))
    if loaded:
        print(json.dumps({{"module": name, "loaded": loaded}}))
        break
else:
    print(json.dumps({{}}))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    found: dict[str, Any] = json.loads(done.stdout)
    return found


def test_the_core_loads_neither_pytest_nor_the_http_stack() -> None:
    # Before settings.py, gate.py took the option defaults from entrypoint.py, which
    # imports pytest: "pytest-free" code loaded all of it (about 0.4 s cold).
    assert _first_importer(CORE, ("pytest", "_pytest", "requests", "urllib3")) == {}


def test_the_http_layer_loads_nothing_of_pytest() -> None:
    assert _first_importer(HTTP, ("pytest", "_pytest")) == {}


# -- options: defined once ------------------------------------------------------------------


def test_help_lists_every_option_as_settings_defines_it(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")

    help_text = result.stdout.str()
    section = help_text[help_text.index("Confluence approval gate:") :]
    # argparse wraps the text where it likes: compare it without any whitespace.
    flat = "".join(section.split())
    places = [flat.index(f"{o.flag}={o.metavar}" if o.metavar else o.flag) for o in OPTIONS]
    assert places == sorted(places)  # in the order settings.OPTIONS gives
    for option in OPTIONS:
        assert "".join(option.help.split()) in flat, option.flag
    assert "confluence_policy(string):" in "".join(help_text.split())


def test_the_gate_and_the_http_client_share_the_options_defaults() -> None:
    options = settings.GateOptions(policy=None)  # type: ignore[arg-type]
    client = inspect.signature(ConfluenceClient.__init__).parameters
    for option in OPTIONS:
        if option.default is not None and option.field != "insecure_http":
            assert getattr(options, option.field) == option.default, option.flag
    for name in ("concurrency", "timeout", "retries"):
        assert client[name].default == getattr(options, name), name


@pytest.mark.parametrize(
    ("option", "text"),
    [(DEADLINE, "6 months"), (DEADLINE, "P6M"), (POLL, "2 weeks"), (DEADLINE, "1 day")],
)
def test_the_time_options_do_not_take_a_policy_s_calendar_durations(
    option: settings.Option, text: str
) -> None:
    # Two duration languages, kept apart on purpose (see settings.py): a month is no
    # fixed number of seconds, and the run's deadline is no calendar period.
    with pytest.raises(ConfigurationError, match="is not a duration such as 90s, 30m or 2h"):
        parse_option_duration(text, option)


@pytest.mark.parametrize("text", ["90s", "30m", "2h", "90"])
def test_a_policy_s_max_age_does_not_take_the_options_durations(text: str) -> None:
    assert parse_option_duration(text, DEADLINE) > 0
    with pytest.raises(DurationError, match="is not a duration such as 90 days"):
        parse_calendar_duration(text)


# -- errors: one family the plugin turns into usage errors ----------------------------------


def test_every_usage_error_is_one_family_and_a_network_failure_is_not_in_it() -> None:
    for usage in (ConfigurationError, PolicyError, SnapshotError, OutputError):
        assert issubclass(usage, GateUsageError)
    for failure in (ConfluenceError, RetryBudgetExceeded, Interrupted, DurationError):
        assert issubclass(failure, GateError)
        assert not issubclass(failure, GateUsageError), failure
    assert issubclass(DurationError, ValueError)  # as before: callers catch ValueError


def test_the_errors_are_still_importable_where_they_were() -> None:
    assert policy.PolicyError is PolicyError
    assert snapshot.SnapshotError is SnapshotError
    assert expiry.DurationError is DurationError
    assert confluence.ConfigurationError is ConfigurationError
    assert confluence.ConfluenceError is ConfluenceError


def test_a_usage_error_keeps_its_lines() -> None:
    assert PolicyError("first", "second").lines == ("first", "second")
    assert str(PolicyError("first", "second")) == "first\nsecond"
    assert ConfigurationError("only").lines == ("only",)


# -- page ids: one rule ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "is_one"),
    [
        ("1", True),
        ("718962697", True),
        (str(MAX_PAGE_ID), True),
        (str(MAX_PAGE_ID + 1), False),
        ("9" * 19, False),
        ("1" * 20, False),
        ("0", False),
        ("01", False),
        ("-1", False),
        ("+1", False),
        (" 1", False),
        ("1\n", False),
        ("²", False),  # a digit to str.isdigit, not to Confluence
        ("١٢٣", False),  # Arabic-Indic digits
        ("", False),
        (1, False),
        (None, False),
    ],
)
def test_a_page_id_is_a_positive_int64_in_plain_decimal(value: object, is_one: bool) -> None:
    assert is_page_id(value) is is_one


def _patterns(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["pattern"]] if isinstance(node.get("pattern"), str) else []
        return own + [p for v in node.values() for p in _patterns(v)]
    if isinstance(node, list):
        return [p for v in node for p in _patterns(v)]
    return []


@pytest.mark.parametrize("name", ["policy", "snapshot"])
def test_the_schemas_spell_the_same_page_id_pattern(name: str) -> None:
    schema = schemas.validator(name).schema
    id_patterns = [p for p in _patterns(schema) if p.startswith("^[1-9]")]
    assert id_patterns, name
    assert set(id_patterns) == {PAGE_ID_PATTERN}


# -- instants: one parser, one formatter ----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "instant"),
    [
        ("2025-08-01", datetime(2025, 8, 1, tzinfo=UTC)),
        ("2025-08-01T10:00:00", datetime(2025, 8, 1, 10, tzinfo=UTC)),
        (" 2025-08-01t10:00:00z ", datetime(2025, 8, 1, 10, tzinfo=UTC)),
        ("2025-08-01T12:00:00+02:00", datetime(2025, 8, 1, 10, tzinfo=UTC)),
    ],
)
def test_as_of_is_read_as_a_person_types_it(text: str, instant: datetime) -> None:
    parsed = parse_as_of(text)
    assert parsed == instant and parsed.tzinfo is UTC


@pytest.mark.parametrize("text", ["yesterday", "2025-13-01", "0001-01-01T00:00:00+14:00", ""])
def test_an_as_of_that_is_no_instant_is_a_usage_error(text: str) -> None:
    with pytest.raises(ConfigurationError, match="is not an ISO 8601 instant"):
        parse_as_of(text)


@pytest.mark.parametrize(
    ("value", "instant"),
    [
        ("2025-08-01T10:00:00.000Z", datetime(2025, 8, 1, 10, tzinfo=UTC)),
        ("2025-08-01T10:00:00z", datetime(2025, 8, 1, 10, tzinfo=UTC)),
        ("2025-08-01T10:00:00.000+02:00", datetime(2025, 8, 1, 8, tzinfo=UTC)),
        # Without an offset an instant cannot be compared safely: unknown, not UTC.
        ("2025-08-01T10:00:00", None),
        ("2025-08-01", None),
        ("0001-01-01T00:00:00+14:00", None),  # before the calendar, in UTC
        (" 2025-08-01T10:00:00Z", None),  # no leniency for what a server sends
        ("soon", None),
        (1754042400000, None),
        (None, None),
    ],
)
def test_an_instant_confluence_sends_must_carry_an_offset(
    value: object, instant: datetime | None
) -> None:
    assert instant_or_none(value) == instant


def test_a_naive_instant_is_refused_unless_the_caller_takes_it_as_utc() -> None:
    with pytest.raises(ValueError, match="no UTC offset"):
        parse_instant("2025-08-01T10:00:00")
    assert parse_instant("2025-08-01T10:00:00", naive_as_utc=True) == datetime(
        2025, 8, 1, 10, tzinfo=UTC
    )


def test_instants_are_written_in_utc_to_the_millisecond_or_the_second() -> None:
    instant = datetime(2025, 8, 1, 12, 0, 5, 123456, tzinfo=timezone.utc)
    assert utc_iso(instant) == "2025-08-01T12:00:05.123Z"
    assert utc_iso(instant, timespec="seconds") == "2025-08-01T12:00:05Z"
    assert snapshot.utc_iso is utc_iso  # the snapshot and the report write the same


def test_an_as_of_before_the_year_1000_is_spelled_in_iso_8601(gate: GateRunner) -> None:
    # The failure text used strftime("%Y"), which glibc writes without padding: the
    # instant read "999-12-31T00:00:00Z", which no ISO 8601 reader takes back.
    approved_page(gate.site, "101")
    gate.write_policy([{"id": "101"}])

    run = gate.run("--confluence-as-of", "0999-12-31")

    assert run.result.ret == pytest.ExitCode.TESTS_FAILED, run.output
    text = run.failure_text("101")
    assert "after the as-of instant 0999-12-31T00:00:00Z" in text, text
