"""Loading and validating the policy file (SPEC section 3).

Every usage error must name the file, the line and the key, so the person who edits
the policy can fix it without guessing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import textwrap
import time
import tracemalloc
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from pytest_confluence_approval.expiry import parse_calendar_duration
from pytest_confluence_approval.policy import (
    DEFAULT_SETTINGS,
    MAX_POLICY_BYTES,
    MAX_POLICY_NODES,
    SETTINGS,
    GroupRequirement,
    PageRule,
    Policy,
    PolicyError,
    load_policy,
    parse_policy,
)
from pytest_confluence_approval.schemas import load_schema

NAME = "release-gate.yaml"
REPO = Path(__file__).resolve().parent.parent

FULL = """\
version: 1
site: https://acme.atlassian.net/wiki
property_key: njyzjq_capable_approval
defaults:
  min_approvers: 2
  required_approvers: [acc-qa]
  max_age_days: 90
  allowed_statuses: [current, archived]
  require_current_version: false
pages:
  - id: "718962697"
    name: Release checklist
  - id: 718962698
    min_approvers: 3
    required_approvers: [acc-sec, acc-qa]
    max_age_days: null
    allowed_statuses: [current]
    require_current_version: true
  - id: '718962699'
    min_approvers: 0
"""


def yml(text: str) -> bytes:
    return textwrap.dedent(text).encode("utf-8")


def parse(text: str, name: str = NAME) -> Policy:
    return parse_policy(yml(text), Path(name))


def error_of(text: str | bytes, name: str = NAME) -> str:
    """The PolicyError message for a policy that must be refused."""
    data = yml(text) if isinstance(text, str) else text
    with pytest.raises(PolicyError) as info:
        parse_policy(data, Path(name))
    return str(info.value)


def assert_names(message: str, line: int, key: str) -> None:
    """The message names the file and line (``file:line:``) and the key, on one line."""
    located = [m for m in message.splitlines() if m.startswith(f"{NAME}:{line}:")]
    assert located, f"no '{NAME}:{line}:' in {message!r}"
    assert any(key in m for m in located), f"{key!r} not named at line {line}: {message!r}"


# --- valid policies -----------------------------------------------------------------------


def test_full_policy_merges_defaults_with_page_overrides() -> None:
    policy = parse(FULL)
    assert policy.path == Path(NAME)
    assert policy.site == "https://acme.atlassian.net/wiki"
    assert policy.property_key == "njyzjq_capable_approval"
    first, second, third = policy.pages
    assert first == PageRule(
        page_id="718962697",
        name="Release checklist",
        min_approvers=2,
        required_approvers=("acc-qa",),
        max_age_days=90,
        allowed_statuses=("current", "archived"),
        require_current_version=False,
        line=11,
    )
    assert second == PageRule(
        page_id="718962698",
        name=None,
        min_approvers=3,
        required_approvers=("acc-sec", "acc-qa"),
        max_age_days=None,  # an explicit null overrides the default of 90
        allowed_statuses=("current",),
        require_current_version=True,
        line=13,
    )
    # 0 is a real override, not "unset": the page keeps every other default.
    assert third.min_approvers == 0
    assert third.max_age_days == 90
    assert third.required_approvers == ("acc-qa",)
    assert third.line == 19


def test_minimal_policy_gets_the_documented_defaults() -> None:
    policy = parse(
        """\
        version: 1
        pages:
          - id: 5
        """
    )
    assert policy.site is None
    assert policy.property_key is None
    assert policy.pages == (
        PageRule(
            page_id="5",
            name=None,
            min_approvers=1,
            required_approvers=(),
            max_age_days=None,
            allowed_statuses=("current",),
            require_current_version=True,
            line=3,
        ),
    )


@pytest.mark.parametrize("written", ["718962697", '"718962697"', "'718962697'"])
def test_id_as_yaml_int_or_string_is_the_same_string(written: str) -> None:
    policy = parse(f"version: 1\npages:\n  - id: {written}\n")
    assert policy.pages[0].page_id == "718962697"
    assert isinstance(policy.pages[0].page_id, str)


def test_largest_page_id_keeps_every_digit() -> None:
    policy = parse("version: 1\npages:\n  - id: 9223372036854775807\n")
    assert policy.pages[0].page_id == "9223372036854775807"


def test_label_names_the_page_for_the_test_id() -> None:
    first, second = parse(FULL).pages[:2]
    assert first.label == 'page 718962697 "Release checklist"'
    assert second.label == "page 718962698"


def test_sha256_is_of_the_file_bytes() -> None:
    data = yml(FULL)
    policy = parse_policy(data, Path(NAME))
    assert policy.sha256 == hashlib.sha256(data).hexdigest()
    # A comment changes no rule but does change the audited file.
    commented = parse_policy(data + b"# reviewed\n", Path(NAME))
    assert commented.pages == policy.pages
    assert commented.sha256 != policy.sha256


def test_load_policy_reads_the_file(tmp_path: Path) -> None:
    path = tmp_path / NAME
    path.write_bytes(yml(FULL))
    policy = load_policy(path)
    assert policy.path == path
    assert policy.pages == parse(FULL).pages
    assert policy.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_shipped_example_policy_loads() -> None:
    policy = load_policy(REPO / "examples" / "policy.yaml")
    assert policy.pages
    assert all(re.fullmatch(r"[1-9][0-9]*", page.page_id) for page in policy.pages)


def test_policy_schema_is_a_valid_draft_2020_12_schema() -> None:
    schema = load_schema("policy")
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    # Editors use it directly on the YAML data: it accepts a good policy, refuses a bad one.
    validator = Draft202012Validator(schema)
    assert validator.is_valid(yaml.safe_load(FULL))
    assert not validator.is_valid({"version": 1, "pages": []})
    assert not validator.is_valid({"version": 1, "pages": [{"id": "12a"}]})


# --- usage errors: each names the file, the line and the key ------------------------------


@pytest.mark.parametrize(
    ("text", "line", "key"),
    [
        pytest.param(
            """\
            version: 1
            pages:
              - id: 1
            sites: https://acme.atlassian.net/wiki
            """,
            4,
            "sites",
            id="top-level",
        ),
        pytest.param(
            """\
            version: 1
            defaults:
              min_approver: 2
            pages:
              - id: 1
            """,
            3,
            "defaults.min_approver",
            id="in-defaults",
        ),
        pytest.param(
            """\
            version: 1
            pages:
              - id: 1
              - id: 2
                name: Risk
                min_aprovers: 2
            """,
            6,
            "pages[1].min_aprovers",
            id="in-page",
        ),
    ],
)
def test_unknown_keys(text: str, line: int, key: str) -> None:
    message = error_of(text)
    assert_names(message, line, key)
    assert "unknown key" in message


def test_an_entry_with_both_id_and_cql_says_it_is_one_or_the_other() -> None:
    message = error_of(
        """\
        version: 1
        pages:
          - id: 1
          - cql: space = OPS
            id: 2
            colour: blue
        """
    )
    assert message.splitlines() == [
        f"{NAME}:5: pages[1]: an entry names one page by id or finds pages by cql, not both; "
        "keep one",
        f"{NAME}:6: pages[1].colour: unknown key (allowed here: allowed_statuses, "
        "approval_writers, cql, expires_on, forbid_self_approval, ignore_minor_edits, max_age, "
        "max_age_days, max_rejections, min_approvers, name, require_current_version, "
        "required_approvers, required_groups)",
    ]


@pytest.mark.parametrize(
    ("text", "line", "key", "meant"),
    [
        (
            "version: 1\npages:\n  - id: 1\n    min_aprovers: 2\n",
            4,
            "pages[0].min_aprovers",
            "min_approvers",
        ),
        ("version: 1\ndefualts: {}\npages:\n  - id: 1\n", 2, "defualts", "defaults"),
        (
            "version: 1\npages:\n  - id: 1\n    required_groups: [{group: qa, mn: 2}]\n",
            4,
            "pages[0].required_groups[0].mn",
            "min",
        ),
    ],
)
def test_an_unknown_key_close_to_an_allowed_one_says_did_you_mean(
    text: str, line: int, key: str, meant: str
) -> None:
    [located] = [m for m in error_of(text).splitlines() if m.startswith(f"{NAME}:{line}:")]
    assert located.startswith(
        f"{NAME}:{line}: {key}: unknown key; did you mean {meant!r}? (allowed here: "
    )


def test_an_unknown_key_like_no_allowed_one_lists_them_without_a_guess() -> None:
    message = error_of("version: 1\npages:\n  - id: 1\n    colour: blue\n")
    assert message.startswith(f"{NAME}:4: pages[0].colour: unknown key (allowed here: ")
    assert "did you mean" not in message


def test_every_error_is_reported_at_once() -> None:
    message = error_of(
        """\
        version: 1
        colour: blue
        pages:
          - id: 1
            min_approvers: -1
        """
    )
    assert_names(message, 2, "colour")
    assert_names(message, 5, "pages[0].min_approvers")


@pytest.mark.parametrize(
    "written",
    [
        "abc",
        "PAGE-1",
        "'12a'",
        "''",
        "-5",
        "0",
        "'0'",
        "1.5",
        "true",
        "null",
        "[1]",
        "0x1F",
        "+5",
        "12:30",  # YAML 1.1 sexagesimal: would silently become 750
        "'00'",  # zeros only: no page id to suggest
        "1_000",  # YAML 1.1 digit separator: would silently become 1000
        "99999999999999999999",
    ],
)
def test_page_id_must_be_decimal_digits(written: str) -> None:
    message = error_of(
        f"""\
        version: 1
        pages:
          - id: 1
          - name: checklist
            id: {written}
        """
    )
    assert_names(message, 5, "pages[1].id")
    assert "decimal digits" in message


@pytest.mark.parametrize(
    ("written", "meant"),
    [("0900000001", "900000001"), ("'0900000001'", "900000001"), ("0755", "755"), ("007", "7")],
)
def test_a_page_id_with_a_leading_zero_says_so_and_the_id_meant(written: str, meant: str) -> None:
    message = error_of(
        f"""\
        version: 1
        pages:
          - id: {meant}
          - id: {written}
        waivers:
          - page: {written}
            reason: accepted
            expires: 2030-01-01
        """
    )
    raw = written.strip("'")
    said = f"page ids have no leading zero, got {raw!r}; did you mean {meant}?"
    assert message.splitlines() == [
        f"{NAME}:4: pages[1].id: {said}",
        f"{NAME}:6: waivers[0].page: {said}",
    ]


@pytest.mark.parametrize("written", ["0755", "1_000", "12:30"])
def test_odd_integer_spellings_never_check_another_page(written: str) -> None:
    message = error_of(f"version: 1\npages:\n  - id: {written}\n")
    assert repr(written) in message  # the id as written, not as YAML 1.1 reads it
    assert "493" not in message
    assert "1000" not in message
    assert "750" not in message


def test_missing_page_id() -> None:
    message = error_of(
        """\
        version: 1
        pages:
          - id: 1
          - name: orphan
        """
    )
    assert_names(message, 4, "pages[1]")
    assert "'id'" in message


def test_duplicate_page_ids_name_both_lines() -> None:
    message = error_of(
        """\
        version: 1
        pages:
          - id: 718962697
            name: first
          - id: 1
          - id: "718962697"
        """
    )
    assert_names(message, 6, "pages[2].id")
    assert "718962697" in message
    assert "line 3" in message


@pytest.mark.parametrize(
    ("text", "line", "first", "key"),
    [
        pytest.param(
            """\
            version: 1
            version: 1
            pages:
              - id: 1
            """,
            2,
            1,
            "version",
            id="top-level",
        ),
        pytest.param(
            """\
            version: 1
            defaults:
              min_approvers: 3
              min_approvers: 1
            pages:
              - id: 1
            """,
            4,
            3,
            "defaults.min_approvers",
            id="in-defaults",
        ),
        pytest.param(
            """\
            version: 1
            pages:
              - id: 1
                require_current_version: true
                name: x
                require_current_version: false
            """,
            6,
            4,
            "pages[0].require_current_version",
            id="in-page",
        ),
        pytest.param(
            """\
            version: 1
            pages:
              - id: 1
                id: 2
            """,
            4,
            3,
            "pages[0].id",
            id="page-id",
        ),
    ],
)
def test_duplicate_mapping_keys(text: str, line: int, first: int, key: str) -> None:
    """PyYAML keeps the last of two equal keys: a stricter setting would silently vanish."""
    message = error_of(text)
    assert_names(message, line, key)
    assert "duplicate key" in message
    assert f"line {first}" in message


@pytest.mark.parametrize(
    ("text", "line", "key"),
    [
        pytest.param(
            "version: 1\ndefaults:\n  min_approvers: -1\npages:\n  - id: 1\n",
            3,
            "defaults.min_approvers",
            id="default-min-approvers",
        ),
        pytest.param(
            "version: 1\ndefaults:\n  max_age_days: -3\npages:\n  - id: 1\n",
            3,
            "defaults.max_age_days",
            id="default-max-age",
        ),
        pytest.param(
            "version: 1\npages:\n  - id: 1\n    min_approvers: -2\n",
            4,
            "pages[0].min_approvers",
            id="page-min-approvers",
        ),
        pytest.param(
            "version: 1\npages:\n  - id: 1\n    max_age_days: -1\n",
            4,
            "pages[0].max_age_days",
            id="page-max-age",
        ),
    ],
)
def test_negative_numbers(text: str, line: int, key: str) -> None:
    message = error_of(text)
    assert_names(message, line, key)
    assert "0 or more" in message


@pytest.mark.parametrize(
    ("setting", "key"),
    [
        ('min_approvers: "2"', "min_approvers"),
        ("min_approvers: 1.5", "min_approvers"),
        ("min_approvers: true", "min_approvers"),
        ('require_current_version: "yes"', "require_current_version"),
        ("require_current_version: 1", "require_current_version"),
        ("required_approvers: acc-qa", "required_approvers"),
        ("required_approvers: [1]", "required_approvers[0]"),
        ("required_approvers: [a, a]", "required_approvers"),
        ('max_age_days: "90"', "max_age_days"),
        ("allowed_statuses: current", "allowed_statuses"),
        ("allowed_statuses: [published]", "allowed_statuses[0]"),
        ("allowed_statuses: []", "allowed_statuses"),
        ("name: 5", "name"),
        ('name: ""', "name"),
    ],
)
def test_wrong_types_in_a_page(setting: str, key: str) -> None:
    message = error_of(f"version: 1\npages:\n  - id: 1\n    {setting}\n")
    assert_names(message, 4, f"pages[0].{key}")


@pytest.mark.parametrize(
    ("text", "line", "key"),
    [
        pytest.param("version: 1\nsite: 5\npages: [{id: 1}]\n", 2, "site", id="site-int"),
        pytest.param(
            "version: 1\nsite: acme.atlassian.net\npages: [{id: 1}]\n", 2, "site", id="site-url"
        ),
        pytest.param(
            "version: 1\nproperty_key: ''\npages: [{id: 1}]\n", 2, "property_key", id="key-empty"
        ),
        pytest.param("version: 1\ndefaults: []\npages: [{id: 1}]\n", 2, "defaults", id="defaults"),
        pytest.param(
            "version: 1\ndefaults:\n  min_approvers: two\npages: [{id: 1}]\n",
            3,
            "defaults.min_approvers",
            id="default-min",
        ),
        pytest.param("version: 1\npages:\n  id: 1\n", 2, "pages", id="pages-mapping"),
        pytest.param("version: 1\npages:\n  - 718962697\n", 3, "pages[0]", id="page-bare-id"),
        pytest.param("- version: 1\n- pages: []\n", 1, "(top level)", id="top-level-list"),
    ],
)
def test_wrong_types_elsewhere(text: str, line: int, key: str) -> None:
    assert_names(error_of(text), line, key)


def test_wrong_type_message_says_what_was_expected_and_found() -> None:
    message = error_of('version: 1\npages:\n  - id: 1\n    min_approvers: "2"\n')
    assert "integer" in message
    assert "'2'" in message


@pytest.mark.parametrize(
    ("text", "line"),
    [
        pytest.param('version: 1\npages:\n  - id: 1\n    name: "unclosed\n', 5, id="unclosed"),
        pytest.param("version: 1\npages: [\n  {id: 1}\n", 4, id="unclosed-flow"),
        pytest.param("version: 1\npages:\n  - id: 1\n   name: x\n", 4, id="indentation"),
        pytest.param("version: 1\npages:\n  - id: 1\n\tname: x\n", 4, id="tab"),
        pytest.param("version: 1\npages: [{id: 1}]\n---\nversion: 1\n", 3, id="two-documents"),
        pytest.param(
            "version: 1\npages:\n  - id: !!python/object:os.system 1\n", 3, id="unsafe-tag"
        ),
    ],
)
def test_broken_yaml_names_its_line(text: str, line: int) -> None:
    message = error_of(text)
    assert message.startswith(f"{NAME}:{line}:")
    assert "invalid YAML" in message


def test_empty_pages_list() -> None:
    message = error_of("version: 1\nsite: https://acme.atlassian.net/wiki\npages: []\n")
    assert_names(message, 3, "pages")
    assert "empty" in message


def test_missing_pages() -> None:
    message = error_of("version: 1\nsite: https://acme.atlassian.net/wiki\n")
    assert_names(message, 1, "'pages'")
    assert "missing" in message


def test_missing_version() -> None:
    message = error_of("pages:\n  - id: 1\n")
    assert_names(message, 1, "'version'")


@pytest.mark.parametrize("written", ["2", "0", '"1"', "true"])
def test_version_other_than_1(written: str) -> None:
    message = error_of(f"# policy\nversion: {written}\npages:\n  - id: 1\n")
    assert_names(message, 2, "version")
    assert "must be 1" in message


@pytest.mark.parametrize("data", [b"", b"\n\n", b"# nothing here yet\n", b"---\n"])
def test_empty_file(data: bytes) -> None:
    message = error_of(data)
    assert message.startswith(NAME)
    assert "empty" in message


@pytest.mark.parametrize(
    "data",
    [
        "version: 1\npages:\n  - id: 1\n    name: Prüfung\n".encode("latin-1"),
        b"version: 1\npages:\n  - id: 1\n    name: \xff\xfe\n",
        "version: 1\npages: [{id: 1}]\n".encode("utf-16"),
    ],
    ids=["latin-1", "invalid-bytes", "utf-16"],
)
def test_non_utf8_file(data: bytes) -> None:
    message = error_of(data)
    assert message.startswith(NAME)
    assert "UTF-8" in message


def test_non_utf8_file_names_the_line_of_the_bad_byte() -> None:
    data = "version: 1\npages:\n  - id: 1\n    name: Prüfung\n".encode("latin-1")
    assert error_of(data).startswith(f"{NAME}:4:")


def test_utf8_byte_order_mark_is_accepted() -> None:
    policy = parse_policy(b"\xef\xbb\xbfversion: 1\npages:\n  - id: 7\n", Path(NAME))
    assert policy.pages[0].page_id == "7"


def test_load_policy_of_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "no-such-policy.yaml"
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    assert str(path) in str(info.value)
    assert "cannot read" in str(info.value)


def test_load_policy_of_a_directory(tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as info:
        load_policy(tmp_path)
    assert str(tmp_path) in str(info.value)


def test_load_policy_reports_errors_with_the_file_path(tmp_path: Path) -> None:
    path = tmp_path / "gate.yaml"
    path.write_bytes(b"version: 1\npages:\n  - id: 1\n    colour: blue\n")
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    assert f"{path}:4:" in str(info.value)
    assert "pages[0].colour" in str(info.value)


def test_load_policy_refuses_an_oversized_file(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_bytes(yml(FULL) + b"#" * 1_000_001)
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    assert str(path) in str(info.value)
    assert "larger than" in str(info.value)


def test_merge_key_is_refused_never_ignored() -> None:
    text = "version: 1\npages:\n  - &p {id: 1, min_approvers: 3}\n  - {<<: *p, id: 2}\n"
    message = error_of(text)
    assert message.startswith(f"{NAME}:3:")
    assert "anchors and aliases are not supported (anchor &p)" in message
    assert "defaults:" in message


@pytest.mark.parametrize(
    ("text", "line", "what"),
    [
        pytest.param("version: 1\npages:\n  - id: *nope\n", 3, "alias *nope", id="alias"),
        pytest.param("version: 1\ndefaults: &d\n  min_approvers: 2\n", 2, "anchor &d", id="anchor"),
        pytest.param("version: 1\npages:\n  - id: &i 1\n", 3, "anchor &i", id="scalar"),
    ],
)
def test_anchors_and_aliases_are_refused_with_their_line(text: str, line: int, what: str) -> None:
    message = error_of(text)
    assert message.startswith(f"{NAME}:{line}:")
    assert f"YAML anchors and aliases are not supported ({what})" in message


MB = 1_000_000


def _bounded(data: bytes) -> tuple[Policy | None, str, float, int]:
    """(the policy or None, the error, seconds, peak bytes under tracemalloc).

    Timed and traced in two passes: tracemalloc itself slows Python down severalfold.
    """

    def attempt() -> tuple[Policy | None, str]:
        try:
            return parse_policy(data, Path(NAME)), ""
        except PolicyError as exc:
            return None, str(exc)

    started = time.perf_counter()
    policy, error = attempt()
    seconds = time.perf_counter() - started
    tracemalloc.start()
    try:
        attempt()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return policy, error, seconds, peak


def test_billion_laughs_is_refused_at_once() -> None:
    lines = ["version: 1", 'a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 8)}]" for n in range(1, 12)]
    lines += ["pages:", "  - id: 1", "    name: *a11"]
    policy, error, seconds, peak = _bounded("\n".join(lines).encode())
    assert policy is None and "anchors and aliases are not supported" in error
    assert peak < 100 * MB and seconds < 5  # generous: the bound that matters is memory


def test_a_large_flat_policy_loads_within_bounds() -> None:
    entry = "  - id: {}\n    name: Page {} of a long policy\n    min_approvers: 2\n"
    entries = "".join(entry.format(n, n) for n in range(1, 5001))
    data = f"version: 1\npages:\n{entries}".encode()
    policy, error, seconds, peak = _bounded(data)
    assert policy is not None, error
    assert len(policy.pages) == 5000
    assert peak < 100 * MB and seconds < 5


def test_a_megabyte_of_tiny_values_is_refused_before_it_is_built() -> None:
    data = b"version: 1\npages: [{id: 1}]\ndefaults: {required_approvers: [" + b"a," * 499_000
    data += b"a]}\n"
    assert len(data) <= MAX_POLICY_BYTES
    policy, error, seconds, peak = _bounded(data)
    assert policy is None
    assert f"the policy has more than {MAX_POLICY_NODES} YAML values" in error
    assert peak < 100 * MB and seconds < 5


def test_alias_loop_is_an_error_not_a_hang() -> None:
    message = error_of("version: 1\npages: &p\n  - id: 1\n  - *p\n")
    assert message.startswith(f"{NAME}:")


# --- YAML the format does not expect -----------------------------------------------------


@pytest.mark.parametrize("char", ["\x00", "\x0c", "\x1b", "\x7f"])
def test_control_character_is_a_policy_error(char: str) -> None:
    message = error_of(f"version: 1\npages:\n  - id: 1\n    name: a{char}b\n".encode())
    assert message.startswith(NAME)
    assert "invalid YAML" in message


def test_control_character_names_its_line() -> None:
    message = error_of(b"version: 1\npages:\n  - id: 1\n    name: a\x00b\n")
    assert message.startswith(f"{NAME}:4:")


@pytest.mark.parametrize(
    ("text", "line", "key"),
    [
        pytest.param("version: 1\npages: [{id: 1}]\n1: x\n", 3, "1", id="int"),
        pytest.param("version: 1\npages: [{id: 1}]\n1: x\nfoo: y\n", 3, "1", id="int-and-str"),
        pytest.param("version: 1\npages: [{id: 1}]\n~: x\n", 3, "~", id="null"),
        pytest.param(
            "version: 1\npages:\n  - id: 1\n    yes: 2\n", 4, "pages[0].yes", id="yaml11-bool"
        ),
        pytest.param("version: 1\npages: [{id: 1}]\n? [a]\n: b\n", 3, "", id="sequence"),
    ],
)
def test_keys_that_are_not_text(text: str, line: int, key: str) -> None:
    message = error_of(text)
    assert_names(message, line, key)


def test_sequence_key_is_named_as_written() -> None:
    message = error_of("version: 1\npages: [{id: 1}]\n? [a]\n: b\n")
    assert "ScalarNode" not in message


@pytest.mark.parametrize(
    "value",
    [
        "!!int",
        "!!int 09",
        "!!int 0x",
        "!!float ''",
        "!!float x",
        "!!bool maybe",
        "!!timestamp x",
        "!!timestamp 2025-13-45",
    ],
)
def test_unconvertible_explicit_tag_names_its_line(value: str) -> None:
    """PyYAML raises plain ValueError & co. for these: they must still be usage errors."""
    message = error_of(f"version: 1\npages:\n  - id: 1\n  - id: {value}\n")
    assert message.startswith(f"{NAME}:4:")


@pytest.mark.parametrize(
    ("setting", "key"),
    [("min_approvers: 2.0", "min_approvers"), ("max_age_days: 30.0", "max_age_days")],
)
def test_whole_number_written_as_float_is_a_wrong_type(setting: str, key: str) -> None:
    # JSON Schema calls 2.0 an integer; it would reach the failure text as "of 2.0 approvals".
    message = error_of(f"version: 1\npages:\n  - id: 1\n    {setting}\n")
    assert_names(message, 4, f"pages[0].{key}")


@pytest.mark.parametrize(
    ("setting", "key"),
    [("max_age_days: 1000000000", "max_age_days"), ("min_approvers: 1000000", "min_approvers")],
)
def test_absurdly_large_numbers_are_refused(setting: str, key: str) -> None:
    message = error_of(f"version: 1\ndefaults:\n  {setting}\npages:\n  - id: 1\n")
    assert_names(message, 3, f"defaults.{key}")


# --- property: any input gives a Policy or a PolicyError, nothing else ----------------------


def _check(data: bytes) -> None:
    try:
        policy = parse_policy(data, Path(NAME))
    except PolicyError as exc:
        assert str(exc).startswith(NAME)
        return
    # Whatever got through must be a usable gate: at least one page, digit-only, unique ids.
    assert policy.pages
    ids = [page.page_id for page in policy.pages]
    assert all(re.fullmatch(r"[1-9][0-9]*", page_id) for page_id in ids)
    assert len(set(ids)) == len(ids)
    assert all(type(page.min_approvers) is int for page in policy.pages)
    assert policy.sha256 == hashlib.sha256(data).hexdigest()


_TOKENS = [
    *"01259:-_ \n\t{}[],'\"#&*!|>%@`~?.ab\x00\x0c\x85\ufeff",
    "version: 1\n",
    "pages:\n",
    "  - id: ",
    "    ",
    "defaults:",
    "min_approvers: ",
    "max_age_days: ",
    "required_approvers: ",
    "allowed_statuses: ",
    "require_current_version: ",
    "name: ",
    "site: ",
    "property_key: ",
    "<<: ",
    "&a ",
    "*a",
    "!!int ",
    "!!str ",
    "0755",
    "1_000",
    "718962697",
    "null",
    "true",
    "---\n",
]
_characters = st.characters(codec="utf-8")  # any encodable character
_yamlish = st.lists(st.sampled_from(_TOKENS) | st.text(_characters, max_size=3), max_size=40).map(
    "".join
)


@settings(max_examples=300, deadline=None)
@given(_yamlish)
def test_any_yamlish_text_gives_a_policy_or_a_policy_error(text: str) -> None:
    _check(text.encode("utf-8"))


_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=10)
    | st.dates()
    | st.binary(max_size=4)
    | st.sampled_from(["718962697", 718962697, "current", "archived", -1, 0, 1])
)
_keys = (
    st.sampled_from(
        [
            "version",
            "pages",
            "id",
            "name",
            "site",
            "property_key",
            "defaults",
            "min_approvers",
            "required_approvers",
            "max_age_days",
            "allowed_statuses",
            "require_current_version",
        ]
    )
    | st.text(max_size=6)
    | st.integers()
    | st.none()
)
_trees: st.SearchStrategy[Any] = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=4),
    max_leaves=10,
)
_policy_like: st.SearchStrategy[Any] = st.fixed_dictionaries(
    {
        "version": st.just(1) | _trees,
        "pages": st.lists(st.dictionaries(_keys, _trees, max_size=4), max_size=3),
    },
    optional={
        "defaults": st.dictionaries(_keys, _trees, max_size=4),
        "site": _trees,
        "junk": _trees,
    },
)


@settings(max_examples=300, deadline=None)
@given(_policy_like | _trees)
def test_any_dumped_structure_gives_a_policy_or_a_policy_error(document: Any) -> None:
    _check(yaml.safe_dump(document, sort_keys=False, allow_unicode=True).encode("utf-8"))


@pytest.mark.parametrize(
    "example", sorted((Path(__file__).parent.parent / "examples").glob("*policy*.yaml"))
)
def test_every_shipped_example_policy_is_valid(example: Path) -> None:
    policy = load_policy(example)
    assert policy.pages or policy.queries


# --- calendar expiry, exact dates and teams ------------------------------------------------


def test_max_age_expires_on_and_required_groups_merge_like_every_setting() -> None:
    policy = parse(
        """\
        version: 1
        defaults:
          max_age: 6 months
          expires_on: 2026-06-30
          required_groups: [{group: security-team}]
        pages:
          - id: 1
          - id: 2
            max_age_days: 30
            required_groups:
              - {group: security-team, min: 1}
              - {group: qa, min: 2}
          - id: 3
            max_age: P1Y2M
            expires_on: null
            required_groups: []
        """
    )
    first, second, third = policy.pages
    assert first.max_age == parse_calendar_duration("6 months")
    assert first.max_age_days is None
    assert first.expires_on == date(2026, 6, 30)
    assert first.required_groups == (GroupRequirement("security-team", 1),)
    # The entry's max_age_days replaces the defaults' max_age: one setting, two spellings.
    assert second.max_age is None
    assert second.max_age_days == 30
    assert second.age_limit == parse_calendar_duration("30 days")
    assert second.required_groups == (
        GroupRequirement("security-team", 1),
        GroupRequirement("qa", 2),
    )
    assert (third.max_age, third.expires_on, third.required_groups) == (
        parse_calendar_duration("P1Y2M"),
        None,
        (),
    )


@pytest.mark.parametrize("where", ["defaults", "entry"])
def test_max_age_and_max_age_days_in_one_mapping_is_a_usage_error(where: str) -> None:
    both = "max_age: 1 month\n    max_age_days: 30\n"
    if where == "defaults":
        text = f"version: 1\ndefaults:\n    {both}pages:\n  - id: 1\n"
        line, key = 3, "defaults.max_age"
    else:
        text = f"version: 1\npages:\n  - id: 1\n    {both}"
        line, key = 4, "pages[0].max_age"
    message = error_of(text)
    assert_names(message, line, key)
    assert "two spellings of one setting" in message


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("6 fortnights", "must be a duration such as 90 days"),
        ("PT12H", "must be a duration such as 90 days"),
        ("P", "is not a duration"),
        ("200 years", "longer than 100 years"),
        ("6", "must be a duration"),
    ],
)
def test_a_bad_max_age_names_the_line(value: str, fragment: str) -> None:
    message = error_of(f"version: 1\npages:\n  - id: 1\n    max_age: {value}\n")
    assert_names(message, 4, "pages[0].max_age")
    assert fragment in message


@pytest.mark.parametrize(
    ("value", "fragment"),
    [("30 June 2026", "must be a date such as"), ("2026-6-30", "must be a date such as")],
)
def test_a_bad_expires_on_names_the_line(value: str, fragment: str) -> None:
    message = error_of(f"version: 1\npages:\n  - id: 1\n    expires_on: {value}\n")
    assert_names(message, 4, "pages[0].expires_on")
    assert fragment in message


@pytest.mark.parametrize(
    ("groups", "key", "fragment"),
    [
        ("[{group: qa}, {group: qa, min: 2}]", "required_groups[1].group", "listed twice"),
        ("[{group: qa, min: 0}]", "required_groups[0].min", "must be 1 or more"),
        ("[{min: 2}]", "required_groups[0]", "missing required key 'group'"),
        ("[{group: qa, minimum: 2}]", "required_groups[0].minimum", "unknown key"),
        ("[{group: ''}]", "required_groups[0].group", "group"),
        ("qa", "required_groups", "must be a list"),
        ('[{group: "qa\\tteam"}]', "required_groups[0].group", "control characters"),
    ],
)
def test_bad_required_groups_name_the_line(groups: str, key: str, fragment: str) -> None:
    message = error_of(f"version: 1\npages:\n  - id: 1\n    required_groups: {groups}\n")
    assert_names(message, 4, f"pages[0].{key}")
    assert fragment in message


def test_the_new_settings_are_in_the_schema_with_editor_hints() -> None:
    schema = load_schema("policy")
    settings = schema["$defs"]["settings"]["properties"]
    for key in ("max_age", "expires_on", "required_groups"):
        assert settings[key]["description"]
        assert settings[key]["examples"]
        for entry in ("page", "query"):
            assert key in schema["$defs"][entry]["properties"]


# --- one source of truth for per-page settings ----------------------------------------------


def test_settings_are_declared_once_and_every_schema_agrees() -> None:
    declared = [f.name for f in dataclasses.fields(PageRule) if f.metadata.get("setting")]
    policy_schema = load_schema("policy")["$defs"]
    report_rule = load_schema("report")["$defs"]["page"]["properties"]["rule"]

    assert list(SETTINGS) == declared
    assert list(DEFAULT_SETTINGS) == declared
    assert list(policy_schema["settings"]["properties"]) == declared
    assert [k for k in policy_schema["page"]["properties"] if k not in ("id", "name")] == declared
    assert [k for k in policy_schema["query"]["properties"] if k not in ("cql", "name")] == declared
    assert list(report_rule["properties"]) == declared
    assert report_rule["required"] == declared
    for name in declared:  # each entry's setting is the shared definition
        ref = {"$ref": f"#/$defs/settings/properties/{name}"}
        assert policy_schema["page"]["properties"][name] == ref
        assert policy_schema["query"]["properties"][name] == ref


def test_every_default_is_a_valid_setting() -> None:
    document = {"version": 1, "defaults": dict(DEFAULT_SETTINGS), "pages": [{"id": "5"}]}

    assert list(Draft202012Validator(load_schema("policy")).iter_errors(document)) == []
    assert parse("version: 1\npages:\n  - id: 5\n").pages[0].settings() == dict(DEFAULT_SETTINGS)


def test_every_setting_reaches_the_page_rule_from_defaults_and_entries() -> None:
    policy = parse(
        """\
        version: 1
        defaults:
          min_approvers: 2
          required_approvers: [acc-qa]
          max_age: 6 months
          expires_on: 2026-06-30
          required_groups: [{group: cab, min: 2}]
          allowed_statuses: [current, archived]
          require_current_version: false
          forbid_self_approval: true
          ignore_minor_edits: true
          approval_writers: ["557058:app"]
          max_rejections: 0
        pages:
          - id: 5
          - id: 6
            approval_writers: null
            forbid_self_approval: false
            max_rejections: 3
        """
    )
    first, second = policy.pages

    assert first.settings() == {
        "min_approvers": 2,
        "required_approvers": ["acc-qa"],
        "max_age_days": None,
        "allowed_statuses": ["current", "archived"],
        "require_current_version": False,
        "forbid_self_approval": True,
        "ignore_minor_edits": True,
        "max_age": "6 months",
        "expires_on": "2026-06-30",
        "required_groups": [{"group": "cab", "min": 2}],
        "approval_writers": ["557058:app"],
        "max_rejections": 0,
    }
    assert first.approval_writers == ("557058:app",)
    assert second.approval_writers is None and second.forbid_self_approval is False
    assert second.max_rejections == 3


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("[]", "pages[0].approval_writers: [] should be non-empty"),
        ("acc-app", "pages[0].approval_writers: must be a list or null, got string 'acc-app'"),
        ('["acc app"]', "'acc app' is not an Atlassian account id"),
        ('["acc-app", "acc-app"]', "has non-unique elements"),
    ],
)
def test_approval_writers_must_be_account_ids(value: str, message: str) -> None:
    with pytest.raises(PolicyError) as error:
        parse(f"version: 1\npages:\n  - id: 5\n    approval_writers: {value}\n")

    assert f"{NAME}:4: " in str(error.value)
    assert message in str(error.value)


def test_required_approvers_must_be_account_ids() -> None:
    with pytest.raises(PolicyError, match=r"'acc-qa\\u200b' is not an Atlassian account id"):
        parse('version: 1\npages:\n  - id: 5\n    required_approvers: ["acc-qa\\u200b"]\n')


PAGE_ENTRY_VARIANTS = [
    {"id": "101"},
    {"id": 101},
    {"id": "101", "name": "Release notes"},
    {"id": 2**63 - 1},
    {"id": "1" * 19},
    # not what the schema allows, or not plain
    {"id": 0},
    {"id": 2**63},
    {"id": True},
    {"id": 1.0},
    {"id": "0101"},
    {"id": "101\n"},
    {"id": "1" * 20},
    {"id": "101", "name": ""},
    {"id": "101", "name": "x" * 201},
    {"id": "101", "name": 5},
    {"id": "101", "min_approvers": 2},
    {"id": "101", "extra": 1},
    {"name": "no id"},
    {"cql": "type = page"},
    "101",
    None,
]


@pytest.mark.parametrize("entry", PAGE_ENTRY_VARIANTS)
def test_the_quick_page_check_is_never_looser_than_the_schema(entry: Any) -> None:
    from pytest_confluence_approval.policy import _plain_page
    from pytest_confluence_approval.schemas import validator

    document = {"version": 1, "pages": [entry]}
    if _plain_page(entry):
        assert validator("policy").is_valid(document)
    if entry in PAGE_ENTRY_VARIANTS[:5]:
        assert _plain_page(entry)


def test_a_bad_entry_among_many_plain_ones_is_reported_at_its_own_line(tmp_path: Path) -> None:
    lines = ["version: 1", "pages:"] + [f'  - id: "{100 + n}"' for n in range(50)]
    lines[30] = '  - id: "0042"'  # line 31 of the file
    path = tmp_path / "policy.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    with pytest.raises(PolicyError) as caught:
        load_policy(path)

    assert f"{path}:31:" in str(caught.value)
