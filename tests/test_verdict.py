"""The verdict rules of SPEC section 4, judged on plain values (no HTTP, no pytester).

Every test starts from a fully approved page (``approval()``, ``page()``, ``rule()``) and
states only what differs, then asserts the outcome and the words a release manager reads.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from pytest_confluence_approval.facts import FetchFailure, PageFacts
from pytest_confluence_approval.policy import PageRule
from pytest_confluence_approval.schemas import load_schema
from pytest_confluence_approval.verdict import Outcome, Verdict, evaluate

UTC = timezone.utc
SITE = "https://acme.atlassian.net/wiki"
PAGE_ID = "718962697"
KEY = "njyzjq_capable_approval"
WEBUI = f"/spaces/ENG/pages/{PAGE_ID}/Release+checklist"
PAGE_LINK = SITE + WEBUI
FALLBACK_LINK = f"{SITE}/pages/viewpage.action?pageId={PAGE_ID}"

ALICE = "5b10a2844c20165700ede21g"
BOB = "557058:f3a1c2d4-9e7b-4c1a-8f2e-0a1b2c3d4e5f"
CAROL = "557058:0c0c0c0c-1111-4222-8333-444444444444"
AUTHOR = "557058:1d2e3f40-aaaa-4bbb-8ccc-dddddddddddd"

#: the evaluation instant: fixed, never the real clock
AS_OF = datetime(2025, 8, 1, 12, 0, tzinfo=UTC)
#: when version 7 of the page was published
PUBLISHED = datetime(2025, 7, 14, 8, 55, tzinfo=UTC)
#: when the approval of version 7 completed
COMPLETED = datetime(2025, 7, 15, 10, 33, 14, tzinfo=UTC)

#: marks a field to leave out of a payload
MISSING: Any = object()


def ms(instant: datetime) -> int:
    """Epoch milliseconds, as Capable Approval stores times."""
    return round(instant.timestamp() * 1000)


def iso(instant: datetime) -> str:
    """An ISO 8601 instant, as Confluence REST v2 sends ``version.createdAt``."""
    return instant.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _with(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    merged = {**base, **overrides}
    return {k: v for k, v in merged.items() if v is not MISSING}


def approval(**overrides: Any) -> dict[str, Any]:
    """A complete approval property value (as the app writes it), with ``overrides``."""
    base: dict[str, Any] = {
        "pending": [],
        "approved": [ALICE],
        "rejected": [],
        "commented": [],
        "status": 1,
        "isComplete": "true",
        "completedAt": ms(COMPLETED),
        "createdAt": ms(COMPLETED - timedelta(days=1)),
        "createdBy": AUTHOR,
        "latestVersionBy": AUTHOR,
        "minimumApprovers": 1,
        "minimumRejections": 1,
    }
    return _with(base, overrides)


def version(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "number": 7,
        "createdAt": iso(PUBLISHED),
        "authorId": AUTHOR,
        "minorEdit": False,
        "message": "",
    }
    return _with(base, overrides)


def page(**overrides: Any) -> dict[str, Any]:
    """A page payload of GET /api/v2/pages/{id}, with ``overrides``."""
    base: dict[str, Any] = {
        "id": PAGE_ID,
        "status": "current",
        "title": "Release checklist",
        "spaceId": "98306",
        "version": version(),
        "_links": {"base": SITE, "webui": WEBUI, "tinyui": "/x/AYBQKw"},
    }
    return _with(base, overrides)


def prop(value: Any, key: str = KEY) -> dict[str, Any]:
    """One result of GET /api/v2/pages/{id}/properties."""
    return {"id": "727962697", "key": key, "value": value, "version": {"number": 3}}


def rule(**overrides: Any) -> PageRule:
    base = PageRule(
        page_id=PAGE_ID,
        name="Release checklist",
        min_approvers=1,
        required_approvers=(),
        max_age_days=None,
        allowed_statuses=("current",),
        require_current_version=True,
        line=11,
    )
    return dataclasses.replace(base, **overrides)


def judge(
    value: Any = MISSING,
    *,
    policy: PageRule | None = None,
    page_payload: Any = MISSING,
    properties: Any = MISSING,
    property_key: str | None = None,
    as_of: datetime = AS_OF,
) -> Verdict:
    """Evaluate one page; anything not given is the fully approved default."""
    if value is MISSING:
        value = approval()
    if page_payload is MISSING:
        page_payload = page()
    if properties is MISSING:
        properties = [prop({"unrelated": True}, key="editor.settings"), prop(value)]
    facts = PageFacts(page_id=PAGE_ID, page=page_payload, properties=properties)
    return evaluate(policy or rule(), facts, as_of=as_of, site=SITE, property_key=property_key)


def the_reason(verdict: Verdict) -> str:
    """The single reason of a verdict that must fail for exactly one rule."""
    assert len(verdict.reasons) == 1, verdict.reasons
    return verdict.reasons[0]


def assert_approved(verdict: Verdict) -> None:
    assert verdict.outcome is Outcome.APPROVED, verdict.reasons
    assert verdict.passed
    assert verdict.reasons == ()


# --- a fully approved page ----------------------------------------------------------------


def test_fully_approved_page_passes_with_no_reasons() -> None:
    verdict = judge()
    assert_approved(verdict)
    assert verdict.title == "Release checklist"
    assert verdict.status == "current"
    assert verdict.version is not None
    assert verdict.version.number == 7
    assert verdict.version.created_at == PUBLISHED
    assert verdict.version.author_id == AUTHOR
    assert verdict.approval is not None
    assert verdict.approval.key == KEY
    assert verdict.approval.approved == (ALICE,)
    assert verdict.approval.completed_at == COMPLETED


def test_approved_explain_names_the_page_and_ends_with_its_web_link() -> None:
    text = judge().explain()
    assert text.splitlines()[0] == f'page {PAGE_ID} "Release checklist" is approved'
    assert text.endswith(PAGE_LINK)
    assert judge().link == PAGE_LINK


def test_failed_explain_lists_every_reason_then_the_web_link() -> None:
    verdict = judge(approval(isComplete="false", approved=[]))
    lines = verdict.explain().splitlines()
    assert lines[0] == f'page {PAGE_ID} "Release checklist" is not approved:'
    assert lines[1:-1] == [f"  - {reason}" for reason in verdict.reasons]
    assert len(lines[1:-1]) == 2
    assert lines[-1].strip() == PAGE_LINK


def test_label_without_name_is_the_bare_page_id() -> None:
    verdict = judge(approval(approved=[]), policy=rule(name=None))
    assert verdict.explain().splitlines()[0] == f"page {PAGE_ID} is not approved:"


def test_link_falls_back_to_viewpage_when_the_page_was_not_fetched() -> None:
    facts = PageFacts.failed(PAGE_ID, "HTTP 404: check the page id", status=404)
    verdict = evaluate(rule(), facts, as_of=AS_OF, site=SITE)
    assert verdict.link == FALLBACK_LINK
    assert verdict.explain().endswith(FALLBACK_LINK)
    assert verdict.explain().splitlines()[0] == (
        f'page {PAGE_ID} "Release checklist" could not be verified:'
    )


@pytest.mark.parametrize(
    "links",
    [
        MISSING,
        {"base": SITE},
        {"base": "", "webui": "javascript:alert(1)"},
        "not an object",
        # Links are untrusted too: the failure text must not send an auditor elsewhere.
        {"base": "https://evil.example/wiki", "webui": WEBUI},
        {"base": "https://acme.atlassian.net.evil.example/wiki", "webui": WEBUI},
        {"base": "https://acme.atlassian.net@evil.example/wiki", "webui": WEBUI},
        {"base": "https://acme.atlassian.net/wikiX", "webui": WEBUI},
    ],
    ids=[
        "no-links",
        "no-webui",
        "not-a-web-link",
        "links-not-object",
        "other-site",
        "lookalike-host",
        "userinfo",
        "other-path",
    ],
)
def test_link_falls_back_to_viewpage_when_the_page_has_no_usable_link(links: Any) -> None:
    verdict = judge(page_payload=page(_links=links))
    assert_approved(verdict)
    assert verdict.link == FALLBACK_LINK
    assert verdict.explain().endswith(FALLBACK_LINK)


def test_link_without_base_is_relative_to_the_site() -> None:
    # Batch answers (GET /api/v2/pages?id=...) carry _links.base once, not in each page.
    verdict = judge(page_payload=page(_links={"webui": WEBUI}))
    assert verdict.link == PAGE_LINK
    assert verdict.explain().endswith(PAGE_LINK)


# --- every failing rule is listed ---------------------------------------------------------


def test_several_failing_rules_are_all_listed() -> None:
    verdict = judge(
        approval(isComplete="false", approved=[BOB], pending=[CAROL], rejected=[AUTHOR]),
        page_payload=page(status="archived"),
        policy=rule(min_approvers=2, required_approvers=(ALICE,)),
    )
    assert verdict.outcome is Outcome.NOT_APPROVED
    text = "\n".join(verdict.reasons)
    assert len(verdict.reasons) == 5, verdict.reasons
    assert "'archived'" in text  # rule 2
    assert "rejected" in text  # rule 5
    assert "not complete" in text  # rule 6
    assert "only 1 of 2 required approvals" in text  # rule 7
    assert f"required approvers have not approved: {ALICE}" in text  # rule 8
    explained = verdict.explain()
    assert all(reason in explained for reason in verdict.reasons)


def test_stale_old_and_underapproved_are_all_listed() -> None:
    completed = PUBLISHED - timedelta(days=100)
    verdict = judge(
        approval(completedAt=ms(completed)),
        policy=rule(min_approvers=2, max_age_days=30),
    )
    assert verdict.outcome is Outcome.NOT_APPROVED
    assert len(verdict.reasons) == 3, verdict.reasons
    only, stale, old = verdict.reasons
    assert "only 1 of 2 required approvals" in only
    assert "page was edited after approval" in stale
    assert "too old" in old


# --- real-world quirks of the Capable Approval property -----------------------------------


@pytest.mark.parametrize("complete", ["true", True])
def test_is_complete_true_as_string_or_boolean(complete: Any) -> None:
    verdict = judge(approval(isComplete=complete))
    assert_approved(verdict)
    assert verdict.approval is not None
    assert verdict.approval.is_complete is True


@pytest.mark.parametrize("incomplete", ["false", False])
def test_is_complete_false_as_string_or_boolean(incomplete: Any) -> None:
    verdict = judge(approval(isComplete=incomplete, pending=[BOB]))
    assert verdict.outcome is Outcome.NOT_APPROVED
    reason = the_reason(verdict)
    assert "not complete" in reason
    assert BOB in reason  # who is still to approve


def test_completed_at_of_a_pending_approval_is_not_judged() -> None:
    """The app fills in completedAt while pending: it must not read as stale or old."""
    long_ago = PUBLISHED - timedelta(days=400)
    verdict = judge(
        approval(isComplete="false", pending=[BOB], completedAt=ms(long_ago)),
        policy=rule(max_age_days=1, require_current_version=True),
    )
    assert verdict.outcome is Outcome.NOT_APPROVED
    reason = the_reason(verdict)
    assert "not complete" in reason
    assert "edited after approval" not in reason
    assert "stale" not in reason
    assert "too old" not in reason


def test_complete_approval_without_completion_time_fails() -> None:
    verdict = judge(approval(completedAt=None))
    assert verdict.outcome is Outcome.NOT_APPROVED
    assert "no completion time" in the_reason(verdict)


def test_unknown_extra_fields_in_the_property_value_are_allowed() -> None:
    verdict = judge(
        approval(
            futureField={"nested": [1, 2, 3]},
            workflowId="wf-9",
            commented=[BOB],
            status=7,
        )
    )
    assert_approved(verdict)


def test_duplicate_approvals_by_one_account_count_once() -> None:
    verdict = judge(approval(approved=[ALICE, ALICE, ALICE]), policy=rule(min_approvers=2))
    assert verdict.outcome is Outcome.NOT_APPROVED
    assert "only 1 of 2 required approvals" in the_reason(verdict)


def test_optional_property_fields_may_be_absent() -> None:
    verdict = judge(
        approval(
            commented=MISSING,
            status=MISSING,
            createdAt=MISSING,
            createdBy=MISSING,
            latestVersionBy=MISSING,
            minimumRejections=MISSING,
        )
    )
    assert_approved(verdict)


# --- rule 1: could the page be fetched, in a shape we understand ---------------------------


def test_fetch_failure_is_unverifiable_with_its_message() -> None:
    message = "HTTP 403 Forbidden: check the credentials and that the account can view the page"
    facts = PageFacts(
        page_id=PAGE_ID,
        page=page(),  # whatever was fetched before the failure must not count
        properties=[prop(approval())],
        failure=FetchFailure(message, status=403),
    )
    verdict = evaluate(rule(), facts, as_of=AS_OF, site=SITE)
    assert verdict.outcome is Outcome.UNVERIFIABLE
    assert not verdict.passed
    reason = the_reason(verdict)
    assert "could not verify" in reason
    assert message in reason
    assert message in verdict.explain()


@pytest.mark.parametrize(
    ("page_payload", "properties"),
    [
        pytest.param(None, [prop(approval())], id="no-page"),
        pytest.param(["not", "a", "page"], [prop(approval())], id="page-is-a-list"),
        pytest.param(page(status=MISSING), [prop(approval())], id="page-without-status"),
        pytest.param(page(status=7), [prop(approval())], id="status-not-string"),
        pytest.param(page(version=MISSING), [prop(approval())], id="page-without-version"),
        pytest.param(page(version="7"), [prop(approval())], id="version-not-object"),
        pytest.param(
            page(version=version(createdAt=MISSING)), [prop(approval())], id="no-createdAt"
        ),
        pytest.param(page(version=version(number=MISSING)), [prop(approval())], id="no-number"),
        pytest.param(page(version=version(number="7")), [prop(approval())], id="number-string"),
        pytest.param(page(version=version(number=True)), [prop(approval())], id="number-bool"),
        pytest.param(
            page(version=version(createdAt="2025-07-14T08:55:00")),
            [prop(approval())],
            id="naive-createdAt",
        ),
        pytest.param(
            page(version=version(createdAt="last Tuesday")), [prop(approval())], id="bad-time"
        ),
        pytest.param(
            page(version=version(createdAt=ms(PUBLISHED))), [prop(approval())], id="epoch-time"
        ),
        pytest.param(page(), None, id="no-properties"),
        pytest.param(page(), {"results": [prop(approval())]}, id="properties-not-list"),
        pytest.param(page(), [{"value": approval()}], id="property-without-key"),
        pytest.param(page(), [{"key": 42, "value": approval()}], id="key-not-string"),
        pytest.param(page(), [prop(approval()), "junk"], id="property-not-object"),
    ],
)
def test_wrong_shape_payloads_are_unverifiable_never_an_exception(
    page_payload: Any, properties: Any
) -> None:
    verdict = judge(page_payload=page_payload, properties=properties)
    assert verdict.outcome is Outcome.UNVERIFIABLE
    assert "could not verify" in the_reason(verdict)
    assert verdict.explain().splitlines()[0].endswith("could not be verified:")


def test_created_at_with_an_offset_is_compared_as_an_instant() -> None:
    # 12:33:14+02:00 is exactly when the approval completed (10:33:14Z): not stale.
    at_completion = version(createdAt="2025-07-15T12:33:14+02:00")
    assert_approved(judge(page_payload=page(version=at_completion)))
    # One second later, in another offset, the edit came after the approval.
    after = version(createdAt="2025-07-15T05:33:15-05:00")
    verdict = judge(page_payload=page(version=after))
    assert "page was edited after approval" in the_reason(verdict)


# --- rule 2: page status ------------------------------------------------------------------


@pytest.mark.parametrize("status", ["archived", "trashed", "draft", "deleted"])
def test_status_other_than_current_fails_by_default(status: str) -> None:
    verdict = judge(page_payload=page(status=status))
    assert verdict.outcome is Outcome.NOT_APPROVED
    reason = the_reason(verdict)
    assert f"page status is '{status}'" in reason
    assert "current" in reason  # what the policy allows


def test_allowed_statuses_may_include_archived() -> None:
    policy = rule(allowed_statuses=("current", "archived"))
    assert_approved(judge(page_payload=page(status="archived"), policy=policy))
    trashed = judge(page_payload=page(status="trashed"), policy=policy)
    assert "page status is 'trashed'" in the_reason(trashed)
    assert "current, archived" in the_reason(trashed)


# --- rule 3: exactly one approval property -----------------------------------------------


def test_exact_property_key_picks_that_property_among_several() -> None:
    other = prop(approval(isComplete="false", approved=[]), key="abcdef_capable_approval")
    verdict = judge(properties=[other, prop(approval())], property_key=KEY)
    assert_approved(verdict)
    assert verdict.approval is not None
    assert verdict.approval.key == KEY


def test_exact_property_key_missing_means_no_approval_requested() -> None:
    properties = [prop(approval(), key="abcdef_capable_approval")]
    verdict = judge(properties=properties, property_key=KEY)
    assert verdict.outcome is Outcome.NOT_APPROVED
    reason = the_reason(verdict)
    assert "no approval has been requested" in reason
    assert KEY in reason


def test_default_key_is_the_one_ending_in_capable_approval() -> None:
    properties = [
        prop({"x": 1}, key="capable_approval_settings"),
        prop(approval(), key="q_capable_approval"),
    ]
    verdict = judge(properties=properties)
    assert_approved(verdict)
    assert verdict.approval is not None
    assert verdict.approval.key == "q_capable_approval"


@pytest.mark.parametrize(
    "properties",
    [
        pytest.param([], id="no-properties"),
        pytest.param([prop(approval(), key="editor.settings")], id="unrelated-key"),
        pytest.param([prop(approval(), key="capable_approval")], id="no-underscore-prefix"),
        pytest.param([prop(approval(), key="x_capable_approval_old")], id="suffix-not-at-end"),
    ],
)
def test_no_approval_property_means_no_approval_requested(properties: Any) -> None:
    verdict = judge(properties=properties)
    assert verdict.outcome is Outcome.NOT_APPROVED
    reason = the_reason(verdict)
    assert "no approval has been requested" in reason
    assert "_capable_approval" in reason


def test_several_approval_properties_are_ambiguous_and_named() -> None:
    properties = [
        prop(approval(), key="zzz_capable_approval"),
        prop(approval(), key=KEY),
    ]
    verdict = judge(properties=properties)
    assert verdict.outcome is Outcome.NOT_APPROVED
    reason = the_reason(verdict)
    assert "ambiguous" in reason
    assert "zzz_capable_approval" in reason
    assert KEY in reason
    assert "property_key" in reason  # how to resolve it


def test_missing_property_is_listed_with_other_failures() -> None:
    verdict = judge(properties=[], page_payload=page(status="archived"))
    assert len(verdict.reasons) == 2
    assert "'archived'" in verdict.reasons[0]
    assert "no approval has been requested" in verdict.reasons[1]


# --- rule 4: the property value matches the approval schema -------------------------------


@pytest.mark.parametrize(
    ("overrides", "path"),
    [
        pytest.param({"approved": ALICE}, "$.approved", id="approved-string"),
        pytest.param({"approved": [42]}, "$.approved[0]", id="approved-item-int"),
        pytest.param({"approved": [""]}, "$.approved[0]", id="approved-item-empty"),
        pytest.param({"pending": None}, "$.pending", id="pending-null"),
        pytest.param({"rejected": {"a": 1}}, "$.rejected", id="rejected-object"),
        pytest.param({"completedAt": "1752575594000"}, "$.completedAt", id="completedAt-str"),
        pytest.param({"completedAt": -1}, "$.completedAt", id="completedAt-negative"),
        pytest.param({"completedAt": 1.5}, "$.completedAt", id="completedAt-fraction"),
        pytest.param({"isComplete": "yes"}, "$.isComplete", id="isComplete-yes"),
        pytest.param({"isComplete": 1}, "$.isComplete", id="isComplete-one"),
        pytest.param({"isComplete": None}, "$.isComplete", id="isComplete-null"),
        pytest.param({"minimumApprovers": "2"}, "$.minimumApprovers", id="minApprovers-str"),
        pytest.param({"minimumApprovers": -1}, "$.minimumApprovers", id="minApprovers-neg"),
        pytest.param({"minimumRejections": True}, "$.minimumRejections", id="minRej-bool"),
    ],
)
def test_wrong_types_are_malformed_with_the_json_path(overrides: dict[str, Any], path: str) -> None:
    verdict = judge(approval(**overrides))
    assert verdict.outcome is Outcome.NOT_APPROVED
    reason = the_reason(verdict)
    assert "malformed" in reason
    assert KEY in reason
    assert f"{path}:" in reason


@pytest.mark.parametrize("field", ["pending", "approved", "rejected", "isComplete", "completedAt"])
def test_missing_required_fields_are_malformed_and_named(field: str) -> None:
    verdict = judge(approval(**{field: MISSING}))
    assert verdict.outcome is Outcome.NOT_APPROVED
    reason = the_reason(verdict)
    assert "malformed" in reason
    assert "$:" in reason  # the path of the object that lacks the field
    assert f"'{field}'" in reason


def test_every_schema_violation_is_listed() -> None:
    verdict = judge(approval(approved="x", isComplete="yes", completedAt="soon"))
    reason = the_reason(verdict)
    for path in ("$.approved:", "$.isComplete:", "$.completedAt:"):
        assert path in reason


def test_a_flood_of_violations_is_capped_and_counted() -> None:
    verdict = judge(approval(pending=list(range(13))))
    reason = the_reason(verdict)
    assert reason.count("$.pending[") == 10
    assert "(and 3 more)" in reason


@pytest.mark.parametrize("value", [[], "approved", None, 5, True])
def test_value_that_is_not_an_object_is_malformed(value: Any) -> None:
    verdict = judge(value)
    assert verdict.outcome is Outcome.NOT_APPROVED
    reason = the_reason(verdict)
    assert "malformed" in reason
    assert "not an object" in reason


def test_property_without_value_is_malformed() -> None:
    verdict = judge(properties=[{"id": "1", "key": KEY}])
    assert verdict.outcome is Outcome.NOT_APPROVED
    assert "not an object" in the_reason(verdict)


def test_approval_schema_is_a_valid_draft_2020_12_schema() -> None:
    schema = load_schema("approval")
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


# --- rule 5: not rejected -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("rejected", "minimum", "is_rejected"),
    [
        pytest.param([BOB], 1, True, id="one-of-1"),
        pytest.param([BOB], MISSING, True, id="one-default-1"),
        pytest.param([BOB], 2, False, id="one-of-2"),
        pytest.param([BOB, CAROL], 2, True, id="two-of-2"),
        pytest.param([BOB, BOB], 2, False, id="same-account-twice-of-2"),
        pytest.param([BOB], 0, True, id="zero-behaves-like-1"),
        pytest.param([], 0, False, id="none-of-0"),
        pytest.param([], 1, False, id="none-of-1"),
    ],
)
def test_rejections_against_minimum_rejections(
    rejected: list[str], minimum: Any, is_rejected: bool
) -> None:
    verdict = judge(approval(rejected=rejected, minimumRejections=minimum))
    if is_rejected:
        assert verdict.outcome is Outcome.NOT_APPROVED
        reason = the_reason(verdict)
        assert "rejected" in reason
        assert BOB in reason  # by whom
    else:
        assert_approved(verdict)


# --- rule 7: enough distinct approvals ----------------------------------------------------


@pytest.mark.parametrize(
    ("policy_min", "property_min", "approved", "failure"),
    [
        pytest.param(2, 1, [ALICE], "only 1 of 2 required approvals", id="policy-stricter"),
        pytest.param(1, 2, [ALICE], "only 1 of 2 required approvals", id="property-stricter"),
        pytest.param(1, 3, [ALICE, BOB], "only 2 of 3 required approvals", id="property-3"),
        pytest.param(3, 2, [ALICE, BOB], "only 2 of 3 required approvals", id="policy-3"),
        pytest.param(0, MISSING, [], "only 0 of 1 required approvals", id="property-default-1"),
        pytest.param(3, 2, [ALICE, BOB, CAROL], None, id="policy-3-met"),
        pytest.param(2, 3, [ALICE, BOB, CAROL], None, id="property-3-met"),
        pytest.param(1, MISSING, [ALICE], None, id="defaults-met"),
    ],
)
def test_effective_minimum_is_the_larger_of_policy_and_property(
    policy_min: int, property_min: Any, approved: list[str], failure: str | None
) -> None:
    verdict = judge(
        approval(approved=approved, minimumApprovers=property_min),
        policy=rule(min_approvers=policy_min),
    )
    if failure is None:
        assert_approved(verdict)
    else:
        assert verdict.outcome is Outcome.NOT_APPROVED
        reason = the_reason(verdict)
        assert failure in reason
        assert all(account in reason for account in approved)  # who did approve


# --- rule 8: required approvers -----------------------------------------------------------


def test_required_approvers_must_all_have_approved() -> None:
    verdict = judge(
        approval(approved=[ALICE, BOB], pending=[CAROL]),
        policy=rule(required_approvers=(ALICE, CAROL)),
    )
    assert verdict.outcome is Outcome.NOT_APPROVED
    reason = the_reason(verdict)
    assert "required approvers have not approved" in reason
    assert CAROL in reason
    assert ALICE not in reason


def test_required_approver_who_rejected_has_not_approved() -> None:
    verdict = judge(
        approval(approved=[ALICE], rejected=[BOB], minimumRejections=2),
        policy=rule(required_approvers=(BOB,)),
    )
    assert f"required approvers have not approved: {BOB}" in the_reason(verdict)


def test_required_approvers_all_present_pass() -> None:
    verdict = judge(
        approval(approved=[CAROL, BOB, ALICE]),
        policy=rule(required_approvers=(ALICE, CAROL)),
    )
    assert_approved(verdict)


# --- rule 9: current (no edit published after the approval completed) ----------------------


def test_edit_after_approval_makes_it_stale() -> None:
    published = datetime(2025, 8, 1, 10, 0, tzinfo=UTC)
    verdict = judge(page_payload=page(version=version(createdAt=iso(published))))
    assert verdict.outcome is Outcome.NOT_APPROVED
    reason = the_reason(verdict)
    assert "page was edited after approval" in reason
    assert "version 7" in reason
    assert "2025-08-01T10:00:00Z" in reason  # when the edit was published
    assert "2025-07-15T10:33:14Z" in reason  # when the approval completed


def test_edit_after_approval_is_allowed_without_require_current_version() -> None:
    published = COMPLETED + timedelta(days=3)
    verdict = judge(
        page_payload=page(version=version(createdAt=iso(published))),
        policy=rule(require_current_version=False),
    )
    assert_approved(verdict)


def test_completion_at_the_same_instant_as_the_version_is_current() -> None:
    at_completion = page(version=version(createdAt=iso(COMPLETED)))
    assert_approved(judge(page_payload=at_completion))


def test_version_one_millisecond_after_completion_is_stale() -> None:
    just_after = page(version=version(createdAt=iso(COMPLETED + timedelta(milliseconds=1))))
    assert "page was edited after approval" in the_reason(judge(page_payload=just_after))


# --- rule 10: fresh (measured from the as-of instant) -----------------------------------


def test_approval_exactly_max_age_days_old_passes() -> None:
    as_of = COMPLETED + timedelta(days=30)
    assert_approved(judge(policy=rule(max_age_days=30), as_of=as_of))


def test_approval_max_age_days_and_one_millisecond_old_is_too_old() -> None:
    as_of = COMPLETED + timedelta(days=30, milliseconds=1)
    verdict = judge(policy=rule(max_age_days=30), as_of=as_of)
    assert verdict.outcome is Outcome.NOT_APPROVED
    reason = the_reason(verdict)
    assert "too old" in reason
    assert "30" in reason


def test_max_age_is_judged_at_the_as_of_instant_not_the_clock() -> None:
    policy = rule(max_age_days=30)
    assert_approved(judge(policy=policy, as_of=COMPLETED + timedelta(days=17)))
    late = judge(policy=policy, as_of=COMPLETED + timedelta(days=31))
    reason = the_reason(late)
    assert "too old" in reason
    assert "2025-07-15T10:33:14Z" in reason  # when it completed


def test_no_max_age_means_any_age() -> None:
    verdict = judge(policy=rule(max_age_days=None), as_of=COMPLETED + timedelta(days=3650))
    assert_approved(verdict)


def test_max_age_zero_accepts_an_approval_completed_at_the_as_of_instant() -> None:
    assert_approved(judge(policy=rule(max_age_days=0), as_of=COMPLETED))
    late = judge(policy=rule(max_age_days=0), as_of=COMPLETED + timedelta(milliseconds=1))
    assert "too old" in the_reason(late)


# --- values at the edge of the calendar and of arithmetic ---------------------------------


def test_huge_max_age_days_is_judged_not_crashed() -> None:
    # The policy schema caps max_age_days, but a PageRule can still carry any int.
    verdict = judge(policy=rule(max_age_days=10**12))
    assert_approved(verdict)


@pytest.mark.parametrize(
    "created_at",
    ["9999-12-31T23:00:00-05:00", "0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59.999999Z"],
)
def test_version_time_at_the_edge_of_the_calendar_never_crashes(created_at: str) -> None:
    # Each is either after the approval or outside the range of instants: never a pass.
    verdict = judge(page_payload=page(version=version(createdAt=created_at)))
    assert verdict.outcome is not Outcome.APPROVED
    assert verdict.reasons
    assert verdict.explain()


# --- property: evaluate never raises, and never approves what it must not ------------------

_json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
)
_json: st.SearchStrategy[Any] = st.recursive(
    _json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_accounts = st.lists(st.sampled_from([ALICE, BOB, CAROL, "", 7]), max_size=4) | _json
_values: st.SearchStrategy[Any] = (
    st.fixed_dictionaries(
        {},
        optional={
            "pending": _accounts,
            "approved": _accounts,
            "rejected": _accounts,
            "isComplete": st.sampled_from(["true", "false", True, False, 1, 0, "yes", None]),
            "completedAt": st.integers(min_value=-1, max_value=253402300799999 + 1)
            | st.none()
            | _json,
            "minimumApprovers": st.integers(min_value=-1, max_value=4) | _json,
            "minimumRejections": st.integers(min_value=-1, max_value=4) | _json,
            "extra": _json,
        },
    )
    | _json
)
_created_at = (
    st.datetimes(
        timezones=st.sampled_from(
            [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]
        ),
    ).map(datetime.isoformat)
    | st.sampled_from(["2025-07-14T08:55:00.000Z", "2025-07-14T08:55:00", "garbage"])
    | _json
)
_pages: st.SearchStrategy[Any] = (
    st.fixed_dictionaries(
        {},
        optional={
            "status": st.sampled_from(["current", "archived", "trashed"]) | _json,
            "title": _json,
            "version": st.fixed_dictionaries(
                {},
                optional={
                    "number": st.integers() | _json,
                    "createdAt": _created_at,
                    "authorId": _json,
                },
            )
            | _json,
            "_links": st.fixed_dictionaries(
                {}, optional={"base": st.just(SITE) | _json, "webui": st.just(WEBUI) | _json}
            )
            | _json,
        },
    )
    | _json
)
_keys = st.sampled_from([KEY, "other_capable_approval", "editor.settings"]) | _json
_properties: st.SearchStrategy[Any] = (
    st.lists(st.fixed_dictionaries({"key": _keys}, optional={"value": _values}) | _json, max_size=3)
    | _json
)
_rules = st.builds(
    rule,
    min_approvers=st.integers(min_value=0, max_value=3),
    required_approvers=st.lists(st.sampled_from([ALICE, BOB]), unique=True).map(tuple),
    max_age_days=st.none() | st.integers(min_value=0, max_value=10**12),
    allowed_statuses=st.sampled_from([("current",), ("current", "archived")]),
    require_current_version=st.booleans(),
)


@settings(max_examples=300, deadline=None)
@given(
    policy=_rules,
    page_payload=_pages,
    properties=_properties,
    property_key=st.none() | st.sampled_from([KEY, "other_capable_approval"]),
)
def test_evaluate_never_raises_and_never_approves_without_reason(
    policy: PageRule, page_payload: Any, properties: Any, property_key: str | None
) -> None:
    verdict = judge(
        policy=policy, page_payload=page_payload, properties=properties, property_key=property_key
    )
    assert isinstance(verdict, Verdict)
    assert verdict.explain()
    if verdict.outcome is not Outcome.APPROVED:
        assert verdict.reasons
        assert all(isinstance(reason, str) and reason for reason in verdict.reasons)
        return
    # Approved: check against the raw payloads, not the verdict's own reading of them.
    assert verdict.reasons == ()
    assert isinstance(page_payload, dict)
    assert page_payload["status"] in policy.allowed_statuses
    assert verdict.approval is not None
    chosen = [p for p in properties if p["key"] == verdict.approval.key]
    assert len(chosen) == 1
    raw = chosen[0]["value"]
    assert raw["isComplete"] in (True, "true")
    approved = set(raw["approved"])
    assert len(approved) >= max(policy.min_approvers, raw.get("minimumApprovers", 1))
    assert set(policy.required_approvers) <= approved
    completed = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=raw["completedAt"])
    if policy.require_current_version:
        published = page_payload["version"]["createdAt"].replace("Z", "+00:00")
        assert completed >= datetime.fromisoformat(published)
    assert len(set(raw["rejected"])) < max(1, raw.get("minimumRejections", 1))


def test_an_approval_nobody_gave_never_passes_even_with_minimums_of_zero() -> None:
    verdict = judge(approval(approved=[], minimumApprovers=0), policy=rule(min_approvers=0))

    assert verdict.outcome is Outcome.NOT_APPROVED
    assert "only 0 of 1 required approvals (approved: nobody)" in the_reason(verdict)


def test_schema_violations_are_listed_in_document_order() -> None:
    accounts: list[Any] = [f"acc-{n}" for n in range(12)]
    accounts[2] = accounts[10] = 7

    reason = the_reason(judge(approval(approved=accounts)))

    assert reason.index("$.approved[2]") < reason.index("$.approved[10]")
