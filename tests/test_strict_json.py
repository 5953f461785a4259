"""Strict JSON in and out: NaN, Infinity and -Infinity are not JSON (RFC 8259).

Python's json reads and writes them by default, so a hostile or broken server (or a
proxy) that sends ``{"x": NaN}`` had it recorded raw in the snapshot and the report,
files that other JSON readers (jq, JavaScript's JSON.parse, Go, Java) then refuse.
Every answer from Confluence is parsed strictly (one with such a constant fails as
malformed JSON, for that page or that query alone), a replayed snapshot must be strict
JSON too, and every file the gate writes is.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from pytest_confluence_approval.snapshot import write_json_atomically
from tests.conftest import GateRunner, approved_page
from tests.fake_confluence import RewriteText, rewrite_text

CONSTANTS = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}
#: What Python's json reads as a float that is not finite; for each, what the gate says.
NOT_JSON = {
    **{token: f"({token}, which JSON does not allow)" for token in CONSTANTS},
    # A JSON number, but beyond a double: read as infinity, then written as Infinity.
    "1e999": "(1e999, a number too large to read)",
    "-1e400": "(-1e400, a number too large to read)",
}
CQL = "label = release"
PLACEHOLDER = "__NOT_JSON__"


def strict_loads(text: str) -> Any:
    """JSON as every other reader takes it: NaN and Infinity refused."""

    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} in a file the gate wrote")

    return json.loads(text, parse_constant=refuse)


def assert_clean_session(output: str) -> None:
    assert "INTERNALERROR" not in output and "Traceback" not in output


def sending(token: str, after: str) -> RewriteText:
    """The site's own answer, with ``"x": <token>`` inserted after the text ``after``."""
    return rewrite_text(lambda text: text.replace(after, f'{after} "x": {token},', 1))


@pytest.mark.parametrize("token", list(NOT_JSON))
def test_a_number_json_does_not_allow_in_a_property_fails_that_page_as_malformed_json(
    gate: GateRunner, token: str
) -> None:
    # The approval schema allows unknown fields, so an extra "score": NaN left the page
    # approved and put a bare NaN into the snapshot.
    approved_page(gate.site, "101")
    approved_page(gate.site, "102", score=PLACEHOLDER)
    gate.site.fault(
        "/wiki/api/v2/pages/102/properties",
        rewrite_text(lambda text: text.replace(f'"{PLACEHOLDER}"', token)),
    )
    gate.write_policy([{"id": "101"}, {"id": "102"}])
    snapshot = gate.pytester.path / "snap.json"
    report = gate.pytester.path / "report.json"

    run = gate.run("--confluence-record", snapshot, "--confluence-report", report)

    assert_clean_session(run.output)
    run.result.assert_outcomes(passed=1, failed=1)
    assert "1 approved, 0 not approved, 1 not verifiable" in run.output
    failure = run.failure_text("102")
    assert "Confluence sent malformed JSON for the properties of page 102" in failure
    assert NOT_JSON[token] in failure
    # Both files are JSON for any reader, and say why the page could not be verified.
    recorded = strict_loads(snapshot.read_text(encoding="utf-8"))
    assert NOT_JSON[token] in recorded["pages"]["102"]["failure"]["message"]
    strict_loads(report.read_text(encoding="utf-8"))


def test_nan_in_the_page_batch_fails_the_pages_of_that_answer(gate: GateRunner) -> None:
    approved_page(gate.site, "101")
    approved_page(gate.site, "102")
    gate.site.fault("/wiki/api/v2/pages", sending("NaN", '"id": "102",'))
    gate.write_policy([{"id": "101"}, {"id": "102"}])

    run = gate.run()

    assert_clean_session(run.output)
    run.result.assert_outcomes(failed=2)
    for page_id in ("101", "102"):
        assert "malformed JSON for a batch of 2 pages (NaN, which JSON does not allow)" in (
            run.failure_text(page_id)
        )


def test_infinity_in_a_cql_answer_fails_the_query_alone(gate: GateRunner) -> None:
    approved_page(gate.site, "101")
    approved_page(gate.site, "201")
    gate.site.add_cql(CQL, ["201"])
    gate.site.fault("/wiki/rest/api/content/search", sending("Infinity", '"type": "page",'))
    gate.write_policy([{"id": "101"}, {"cql": CQL}])

    run = gate.run()

    assert_clean_session(run.output)
    assert run.result.ret == pytest.ExitCode.TESTS_FAILED
    assert "malformed JSON for the CQL query" in run.output
    assert "(Infinity, which JSON does not allow)" in run.output
    run.result.assert_outcomes(passed=1, failed=1)  # the listed page is still judged


def test_minus_infinity_in_users_bulk_only_costs_the_names(gate: GateRunner) -> None:
    approved_page(gate.site, "101", pending=["acc-b"], complete=False)
    gate.site.add_user("acc-b", "Bea")
    gate.site.fault("/wiki/api/v2/users-bulk", sending("-Infinity", '"accountId": "acc-b",'))
    gate.write_policy([{"id": "101"}])
    snapshot = gate.pytester.path / "snap.json"

    run = gate.run("--confluence-record", snapshot)

    assert_clean_session(run.output)
    run.result.assert_outcomes(failed=1)
    assert "still pending: acc-b" in run.failure_text("101")  # the id, not a name
    assert strict_loads(snapshot.read_text(encoding="utf-8"))["users"] == {}


# -- replaying a snapshot that is not strict JSON ------------------------------------------


def _digest(document: dict[str, Any]) -> str:
    """The snapshot's SHA-256 as its format defines it, computed the lax way Python can
    (NaN allowed): an old recording, or a hand-made file, sealed with NaN inside."""
    content = {k: document[k] for k in ("site", "recorded_at", "pages", "users", "queries")}
    if "groups" in document:
        content["groups"] = document["groups"]
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _recorded_approved(gate: GateRunner) -> Path:
    approved_page(gate.site, "101")
    gate.write_policy([{"id": "101"}])
    snapshot = gate.pytester.path / "snap.json"
    gate.run("--confluence-record", snapshot).result.assert_outcomes(passed=1)
    return snapshot


@pytest.mark.parametrize("token", list(NOT_JSON))
@pytest.mark.parametrize("where", ["a page entry", "outside the pages"])
def test_a_snapshot_holding_a_number_json_does_not_allow_is_a_usage_error(
    gate: GateRunner, token: str, where: str
) -> None:
    # Consistent with every other file that is not valid JSON (a lone surrogate, a cut
    # file): the whole snapshot is refused, since its content is not what any other
    # reader of the evidence would read. Sealed as the loader used to read it (1e999 as
    # infinity), so only reading it strictly refuses it.
    snapshot = _recorded_approved(gate)
    document = json.loads(snapshot.read_text(encoding="utf-8"))
    if where == "a page entry":
        document["pages"]["101"]["properties"][0]["value"]["score"] = float(token)
    else:
        document["tool"]["build"] = float(token)
    document["sha256"] = _digest(document)
    text = json.dumps(document, indent=2)
    snapshot.write_text(re.sub(r"-?(NaN|Infinity)", token, text), encoding="utf-8")

    run = gate.run("--confluence-replay", snapshot, url=False)

    assert_clean_session(run.output)
    assert run.result.ret == pytest.ExitCode.USAGE_ERROR, run.output
    assert f"{snapshot}: not a snapshot: the file is not valid JSON" in run.output
    assert NOT_JSON[token] in run.output


# -- every file the gate writes -------------------------------------------------------------


def test_the_gate_never_writes_a_json_file_with_a_non_finite_number(tmp_path: Path) -> None:
    # The one writer of the snapshot and the report: a value that slipped past every
    # parser is a bug, refused rather than written as a file no other reader takes.
    path = tmp_path / "report.json"
    with pytest.raises(ValueError, match="not JSON compliant"):
        write_json_atomically(path, {"x": [float("nan")]})
    assert list(tmp_path.iterdir()) == []
    write_json_atomically(path, {"x": 1.5})
    assert strict_loads(path.read_text(encoding="utf-8")) == {"x": 1.5}
