"""The verdict rules of SPEC section 4, judged on plain values (no HTTP, no pytester).

Every test starts from a fully approved page (``approval()``, ``page()``, ``rule()``) and
states only what differs, then asserts the outcome and the words a release manager reads.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from pytest_confluence_approval import schemas
from pytest_confluence_approval import verdict as verdict_module
from pytest_confluence_approval.facts import FetchFailure, GroupMembers, PageFacts
from pytest_confluence_approval.policy import GroupRequirement, PageRule
from pytest_confluence_approval.schemas import load_schema
from pytest_confluence_approval.verdict import (
    WAITABLE,
    Outcome,
    PageVersion,
    PageView,
    PropertyVersion,
    Rule,
    Verdict,
    evaluate,
    mentioned_accounts,
    needs_versions,
    read_page,
)

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
#: the account the approval app writes its property as
APP = "557058:0a0a0a0a-c0de-4a99-8a77-capableapprov"

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


def prop(value: Any, key: str = KEY, **written: Any) -> dict[str, Any]:
    """One result of GET /api/v2/pages/{id}/properties; ``written`` overrides its version."""
    property_version = _with(
        {
            "number": 3,
            "createdAt": iso(COMPLETED),
            "message": "",
            "minorEdit": False,
            "authorId": APP,
        },
        written,
    )
    return {"id": "727962697", "key": key, "value": value, "version": property_version}


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
    versions: list[Any] | None = None,
    versions_failure: FetchFailure | None = None,
    names: dict[str, str] | None = None,
) -> Verdict:
    """Evaluate one page; anything not given is the fully approved default."""
    if value is MISSING:
        value = approval()
    if page_payload is MISSING:
        page_payload = page()
    if properties is MISSING:
        properties = [prop({"unrelated": True}, key="editor.settings"), prop(value)]
    facts = PageFacts(
        page_id=PAGE_ID,
        page=page_payload,
        properties=properties,
        versions=versions,
        versions_failure=versions_failure,
    )
    return evaluate(
        policy or rule(),
        facts,
        as_of=as_of,
        site=SITE,
        property_key=property_key,
        names=names or {},
    )


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


# --- contradictions -------------------------------------------------------------------------


def failures_of(verdict: Verdict) -> list[tuple[Rule, str]]:
    return [(f.rule, f.reason) for f in verdict.failures]


@pytest.mark.parametrize(
    ("lists", "named"),
    [
        ({"approved": [ALICE, BOB], "pending": [BOB]}, "approved and pending"),
        (
            {"approved": [ALICE, BOB], "rejected": [BOB], "minimumRejections": 2},
            "approved and rejected",
        ),
        (
            {"approved": [ALICE], "pending": [BOB], "rejected": [BOB], "minimumRejections": 2},
            "pending and rejected",
        ),
    ],
)
def test_an_account_in_two_lists_is_a_contradiction(lists: dict[str, Any], named: str) -> None:
    verdict = judge(approval(**lists), names={BOB: "Bob Builder"})

    assert verdict.outcome is Outcome.NOT_APPROVED
    assert failures_of(verdict) == [
        (
            Rule.CONTRADICTION,
            f"the approval contradicts itself: Bob Builder listed as both {named}; "
            "ask the approvers to decide again",
        )
    ]
    assert not verdict.waitable


def test_every_overlap_is_named() -> None:
    verdict = judge(
        approval(
            approved=[ALICE, BOB],
            pending=[ALICE, CAROL],
            rejected=[CAROL, BOB],
            minimumRejections=3,
        )
    )

    assert verdict.failed_rules == (Rule.CONTRADICTION,) * 3
    assert [r.split(" listed as both ")[1].split(";")[0] for r in verdict.reasons] == [
        "approved and pending",
        "approved and rejected",
        "pending and rejected",
    ]


def test_an_approval_completed_in_the_future_is_a_contradiction() -> None:
    future = AS_OF + timedelta(days=365)

    verdict = judge(approval(completedAt=ms(future)), as_of=AS_OF)

    assert failures_of(verdict) == [
        (
            Rule.CONTRADICTION,
            "the approval claims to have completed 2026-08-01T12:00:00Z, after the as-of "
            "instant 2025-08-01T12:00:00Z: an approval cannot complete in the future",
        )
    ]


def test_clock_skew_of_five_minutes_is_allowed_and_not_a_millisecond_more() -> None:
    assert_approved(judge(approval(completedAt=ms(AS_OF + timedelta(minutes=5)))))

    verdict = judge(approval(completedAt=ms(AS_OF + timedelta(minutes=5, milliseconds=1))))

    assert verdict.failed_rules == (Rule.CONTRADICTION,)


def test_a_future_completion_time_of_a_pending_approval_means_nothing_yet() -> None:
    verdict = judge(approval(isComplete="false", completedAt=ms(AS_OF + timedelta(days=9))))

    assert verdict.failed_rules == (Rule.INCOMPLETE,)
    assert verdict.waitable


@pytest.mark.parametrize(
    "account",
    [
        "acc-a ",
        " acc-a",
        "\u200bacc-a",
        "acc-a\u200d",
        "acc a",
        "acc-a\n",
        "acc-a\t",
        "acc/a",
        "acc-ä",
    ],
)
def test_an_account_id_that_is_not_an_atlassian_account_id_is_malformed(account: str) -> None:
    verdict = judge(approval(approved=["acc-a", account], minimumApprovers=2))

    assert verdict.failed_rules == (Rule.NO_APPROVAL,)
    assert the_reason(verdict) == (
        f"approval property {KEY!r} is malformed, so it cannot be trusted: $.approved[1]: "
        f"{account!r} is not an Atlassian account id (letters, digits, ':', '-' and '_' only; "
        "no spaces or invisible characters)"
    )


@pytest.mark.parametrize("field", ["pending", "approved", "rejected", "commented"])
def test_every_account_list_is_checked(field: str) -> None:
    verdict = judge(approval(**{field: ["bad id"]}))

    assert verdict.failed_rules == (Rule.NO_APPROVAL,)
    assert f"$.{field}[0]: 'bad id' is not an Atlassian account id" in the_reason(verdict)


def test_real_account_id_shapes_are_accepted() -> None:
    accounts = [ALICE, BOB, "qm:1a2b3c4d-5e6f:7a8b9c0d", "a_b-c:D"]

    assert_approved(judge(approval(approved=accounts, minimumApprovers=4)))


# --- four eyes ------------------------------------------------------------------------------


def test_four_eyes_with_an_unknown_author_fails_closed() -> None:
    verdict = judge(
        page_payload=page(version=version(authorId=MISSING)), policy=rule(forbid_self_approval=True)
    )

    assert failures_of(verdict) == [
        (
            Rule.AUTHOR_UNKNOWN,
            "four eyes (forbid_self_approval) cannot be checked: Confluence does not say who "
            "published version 7",
        )
    ]
    assert not verdict.waitable


@pytest.mark.parametrize("author", [None, "", 7, ["acc"]])
def test_an_author_id_that_is_not_text_is_unknown(author: Any) -> None:
    verdict = judge(
        page_payload=page(version=version(authorId=author)), policy=rule(forbid_self_approval=True)
    )

    assert verdict.failed_rules == (Rule.AUTHOR_UNKNOWN,)
    assert verdict.version is not None and verdict.version.author_id is None


def test_an_unknown_author_does_not_matter_without_four_eyes() -> None:
    assert_approved(judge(page_payload=page(version=version(authorId=MISSING))))


def test_the_author_of_the_current_version_is_not_counted() -> None:
    verdict = judge(
        approval(approved=[AUTHOR, ALICE]),
        policy=rule(forbid_self_approval=True, min_approvers=2),
        names={AUTHOR: "Ann Author"},
    )

    assert failures_of(verdict) == [
        (
            Rule.APPROVALS,
            f"only 1 of 2 required approvals (approved: {ALICE}; not counted: Ann Author, "
            "who published the current version (forbid_self_approval))",
        )
    ]
    assert verdict.waitable  # another approver may still come


def test_four_eyes_off_counts_the_author() -> None:
    assert_approved(judge(approval(approved=[AUTHOR, ALICE]), policy=rule(min_approvers=2)))


def entry(number: int, at: datetime, author: Any = AUTHOR, minor: Any = False) -> dict[str, Any]:
    """One result of GET /api/v2/pages/{id}/versions (MISSING leaves a field out)."""
    return _with(
        {
            "number": number,
            "createdAt": iso(at),
            "message": "",
            "minorEdit": minor,
            "authorId": author,
        },
        {},
    )


#: versions 1..3 before the approval (3 is the approved one), 4..6 after it
V1, V2, V3 = (COMPLETED - timedelta(days=d) for d in (30, 20, 1))
V4, V5, V6 = (COMPLETED + timedelta(days=d) for d in (1, 2, 3))


def edited(current: int, **fields: Any) -> dict[str, Any]:
    """A page whose current version ``current`` (4..6) was published after the approval."""
    at = {4: V4, 5: V5, 6: V6}[current]
    return page(version=version(number=current, createdAt=iso(at), **fields))


def test_minor_edit_by_another_account_does_not_let_the_approved_versions_author_approve() -> None:
    # ALICE published v3, ALICE approved it, BOB then made a minor v4.
    history = [entry(4, V4, BOB, True), entry(3, V3, ALICE), entry(2, V2), entry(1, V1)]

    verdict = judge(
        approval(approved=[ALICE]),
        page_payload=edited(4, authorId=BOB, minorEdit=True),
        policy=rule(forbid_self_approval=True, ignore_minor_edits=True),
        versions=history,
    )

    assert failures_of(verdict) == [
        (
            Rule.APPROVALS,
            f"only 0 of 1 required approvals (approved: nobody; not counted: {ALICE}, who "
            "published the approved version or a later one (forbid_self_approval))",
        )
    ]


def test_the_author_of_a_version_before_the_approved_one_is_counted() -> None:
    history = [
        entry(4, V4, BOB, True),
        entry(3, V3, CAROL),
        entry(2, V2, ALICE),
        entry(1, V1, ALICE),
    ]

    verdict = judge(
        approval(approved=[ALICE]),
        page_payload=edited(4, authorId=BOB, minorEdit=True),
        policy=rule(forbid_self_approval=True, ignore_minor_edits=True),
        versions=history,
    )

    assert_approved(verdict)


def test_with_edits_allowed_every_later_publisher_is_excluded() -> None:
    # require_current_version off: later edits are allowed, but their authors still
    # cannot approve (minorEdit does not matter here, so it may be absent).
    history = [
        entry(6, V6, CAROL, MISSING),
        entry(5, V5, BOB, MISSING),
        entry(4, V4, AUTHOR, MISSING),
        entry(3, V3, AUTHOR),
    ]

    verdict = judge(
        approval(approved=[ALICE, BOB, CAROL]),
        page_payload=edited(6, authorId=CAROL),
        policy=rule(forbid_self_approval=True, require_current_version=False, min_approvers=2),
        versions=history,
    )

    assert verdict.failed_rules == (Rule.APPROVALS,)
    assert f"(approved: {ALICE}; not counted: {BOB}, {CAROL}, who published the approved" in (
        the_reason(verdict)
    )


def test_four_eyes_needs_the_author_of_every_version_since_the_approved_one() -> None:
    history = [entry(5, V5, BOB, True), entry(4, V4, MISSING, True), entry(3, V3, ALICE)]

    verdict = judge(
        approval(approved=[CAROL]),
        page_payload=edited(5, authorId=BOB, minorEdit=True),
        policy=rule(forbid_self_approval=True, ignore_minor_edits=True),
        versions=history,
    )

    assert failures_of(verdict) == [
        (
            Rule.AUTHOR_UNKNOWN,
            "four eyes (forbid_self_approval) cannot be checked: Confluence does not say who "
            "published version 4",
        )
    ]


def test_four_eyes_without_a_history_fails_closed() -> None:
    verdict = judge(
        page_payload=edited(4),
        policy=rule(forbid_self_approval=True, require_current_version=False),
    )

    assert failures_of(verdict) == [
        (
            Rule.HISTORY_UNVERIFIABLE,
            "four eyes (forbid_self_approval) cannot be checked: the version history was not "
            "fetched; record a new snapshot",
        )
    ]
    assert verdict.outcome is Outcome.UNVERIFIABLE  # so no waiver can cover it


def test_edits_allowed_without_four_eyes_need_no_history() -> None:
    assert_approved(judge(page_payload=edited(4), policy=rule(require_current_version=False)))


# --- minor edits ----------------------------------------------------------------------------

MINOR = rule(ignore_minor_edits=True)


def minor_history(*later: tuple[int, datetime, Any]) -> list[dict[str, Any]]:
    """Versions 1..3 (3 approved) plus ``later`` (number, time, minorEdit), newest first."""
    rows = [entry(n, at, minor=m) for n, at, m in later]
    return sorted([*rows, entry(3, V3), entry(2, V2), entry(1, V1)], key=lambda r: -r["number"])


def test_only_minor_edits_after_the_approval_keep_it_current() -> None:
    history = minor_history((4, V4, True), (5, V5, True))

    assert_approved(judge(page_payload=edited(5, minorEdit=True), policy=MINOR, versions=history))


def test_a_major_edit_between_minor_ones_makes_it_stale() -> None:
    history = minor_history((4, V4, True), (5, V5, False), (6, V6, True))

    verdict = judge(page_payload=edited(6, minorEdit=True), policy=MINOR, versions=history)

    assert failures_of(verdict) == [
        (
            Rule.STALE,
            "page was edited after approval: version 6 published 2025-07-18T10:33:14Z, approval "
            "completed 2025-07-15T10:33:14Z; version 5 after the approval was not a minor edit; "
            "request a new approval of the current version",
        )
    ]


def test_every_major_edit_is_listed() -> None:
    history = minor_history((4, V4, False), (5, V5, True), (6, V6, False))

    reason = the_reason(judge(page_payload=edited(6), policy=MINOR, versions=history))

    assert "; version 4, 6 after the approval were not minor edits; request a new" in reason


def test_the_history_order_does_not_matter() -> None:
    history = list(reversed(minor_history((4, V4, True), (5, V5, True))))

    assert_approved(judge(page_payload=edited(5, minorEdit=True), policy=MINOR, versions=history))


@pytest.mark.parametrize(
    ("history", "why"),
    [
        # v5 minor, v3 approved, no v4: the gap must not read as "nothing major happened"
        (minor_history((5, V5, True)), "version 4 is missing from the version history"),
        (
            [*minor_history((5, V5, True)), _with(entry(4, V4), {"createdAt": MISSING})],
            "the version history gives no publication time for version 4",
        ),
        (
            minor_history((5, V5, True), (4, V4, MISSING)),
            "the version history does not say whether version 4 was minor",
        ),
        (
            minor_history((5, V5, True), (4, V4, "true")),
            "the version history does not say whether version 4 was minor",
        ),
        (
            [*minor_history((5, V5, True), (4, V4, True)), entry(4, V4, BOB, True)],
            "the version history lists version 4 twice, differently",
        ),
        (
            minor_history((6, V6, True), (5, V5, True), (4, V4, True)),
            "the version history shows version 6, newer than the page's current version 5 "
            "(the page changed while the gate read it); run it again",
        ),
        (
            minor_history((5, V6, True), (4, V4, True)),
            "the version history and the page disagree on version 5: who published it, when, "
            "or whether it was minor",
        ),
        (
            minor_history((5, V5, True), (4, V4, True))[:2],
            "version 3 is missing from the version history",
        ),
        # Times that go backwards: a major v4 dated before v3 would read as the approved
        # version, and the edit after the approval would vanish.
        (
            [entry(5, V5, minor=True), entry(4, V3 - timedelta(hours=1)), *minor_history()],
            "the version history contradicts itself: version 3 is dated after version 4",
        ),
        (
            minor_history((5, V5, True), (4, V5 + timedelta(hours=1), True)),
            "the version history contradicts itself: version 4 is dated after version 5",
        ),
        (
            [
                entry(5, V5, minor=True),
                entry(4, V4, minor=True),
                entry(3, V4),
                entry(2, V4),
                entry(1, V4),
            ],
            "no version of the page was published before the approval completed",
        ),
        (
            [
                {"number": True},
                "v4",
                {"number": "4"},
                *minor_history((5, V5, True))[:1],
                *minor_history(),
            ],
            "version 4 is missing from the version history",
        ),
    ],
)
def test_an_incomplete_or_inconsistent_history_keeps_the_page_stale(
    history: list[Any], why: str
) -> None:
    verdict = judge(page_payload=edited(5, minorEdit=True), policy=MINOR, versions=history)

    assert verdict.failed_rules == (Rule.STALE,)
    assert the_reason(verdict) == (
        "page was edited after approval: version 5 published 2025-07-17T10:33:14Z, approval "
        "completed 2025-07-15T10:33:14Z; whether those edits were minor could not be checked "
        f"({why})"
    )
    assert not verdict.waitable


def test_a_history_that_calls_the_current_version_minor_when_the_page_does_not_is_stale() -> None:
    # The page says its current version was a major edit; its history says minor.
    verdict = judge(
        page_payload=edited(5, minorEdit=False),
        policy=MINOR,
        versions=minor_history((5, V5, True), (4, V4, True)),
    )

    assert verdict.failed_rules == (Rule.STALE,)
    assert the_reason(verdict).endswith(
        "could not be checked (the version history and the page disagree on version 5: who "
        "published it, when, or whether it was minor)"
    )


def test_a_history_that_could_not_be_fetched_keeps_the_page_stale() -> None:
    verdict = judge(
        page_payload=edited(4),
        policy=MINOR,
        versions_failure=FetchFailure("Confluence answered HTTP 500", 500),
    )

    assert the_reason(verdict).endswith(
        "could not be checked (the version history could not be fetched: "
        "Confluence answered HTTP 500)"
    )
    assert verdict.failed_rules == (Rule.HISTORY_UNVERIFIABLE,)
    assert verdict.outcome is Outcome.UNVERIFIABLE  # so no waiver can cover it


def test_without_ignore_minor_edits_a_minor_edit_is_an_edit() -> None:
    history = minor_history((4, V4, True))

    verdict = judge(page_payload=edited(4, minorEdit=True), versions=history)

    assert the_reason(verdict).endswith(
        "approval completed 2025-07-15T10:33:14Z; request a new approval of the current version"
    )


def test_minor_edits_do_not_matter_without_require_current_version() -> None:
    policy = rule(ignore_minor_edits=True, require_current_version=False)

    assert_approved(judge(page_payload=edited(4), policy=policy))


# --- provenance -----------------------------------------------------------------------------


def test_the_property_version_is_kept_as_evidence() -> None:
    verdict = judge()

    assert verdict.approval is not None
    assert verdict.approval.written == PropertyVersion(3, COMPLETED, APP)


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        (
            {"number": MISSING, "createdAt": MISSING, "authorId": MISSING},
            PropertyVersion(None, None, None),
        ),
        (
            {"number": True, "createdAt": "yesterday", "authorId": ""},
            PropertyVersion(None, None, None),
        ),
        ({"number": "3", "createdAt": 5, "authorId": 7}, PropertyVersion(None, None, None)),
    ],
)
def test_an_unreadable_property_version_is_kept_as_unknown(
    written: dict[str, Any], expected: PropertyVersion
) -> None:
    verdict = judge(properties=[prop(approval(), **written)])

    assert_approved(verdict)
    assert verdict.approval is not None and verdict.approval.written == expected


def test_approval_data_written_by_an_approval_writer_passes() -> None:
    assert_approved(judge(policy=rule(approval_writers=(BOB, APP))))


def test_approval_data_written_by_anyone_else_fails() -> None:
    verdict = judge(
        properties=[prop(approval(), authorId=CAROL)],
        policy=rule(approval_writers=(APP,)),
        names={CAROL: "Carol Editor"},
    )

    assert failures_of(verdict) == [
        (
            Rule.WRITER,
            f"approval data last written by Carol Editor ({CAROL}), who is not one of "
            "approval_writers; have the approval app record the approval again",
        )
    ]
    assert not verdict.waitable


@pytest.mark.parametrize("written", [{"authorId": MISSING}, {"authorId": ""}])
def test_approval_data_of_unknown_writer_fails_when_writers_are_pinned(
    written: dict[str, Any],
) -> None:
    verdict = judge(properties=[prop(approval(), **written)], policy=rule(approval_writers=(APP,)))

    assert failures_of(verdict) == [
        (
            Rule.WRITER,
            "Confluence does not say who last wrote the approval data (its property version "
            "has no authorId), so it cannot be checked against approval_writers",
        )
    ]


def test_a_property_without_a_version_fails_when_writers_are_pinned() -> None:
    raw = {"id": "1", "key": KEY, "value": approval()}

    verdict = judge(properties=[raw], policy=rule(approval_writers=(APP,)))

    assert verdict.failed_rules == (Rule.WRITER,)
    assert verdict.approval is not None and verdict.approval.written is None


def test_without_approval_writers_anyone_may_have_written_it() -> None:
    assert_approved(judge(properties=[prop(approval(), authorId=CAROL)]))


# --- failed rules and waiting ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("verdict_of", "rules", "waitable"),
    [
        (lambda: judge(approval(isComplete="false", pending=[BOB])), (Rule.INCOMPLETE,), True),
        (lambda: judge(policy=rule(min_approvers=2)), (Rule.APPROVALS,), True),
        (lambda: judge(policy=rule(required_approvers=(BOB,))), (Rule.REQUIRED_APPROVERS,), True),
        (
            lambda: judge(
                approval(isComplete="false", approved=[]), policy=rule(required_approvers=(BOB,))
            ),
            (Rule.INCOMPLETE, Rule.APPROVALS, Rule.REQUIRED_APPROVERS),
            True,
        ),
        (lambda: judge(approval(rejected=[BOB])), (Rule.REJECTED,), False),
        # A required approver who published the current version never counts: no wait.
        (
            lambda: judge(
                approval(approved=[ALICE, AUTHOR]),
                policy=rule(forbid_self_approval=True, required_approvers=(AUTHOR,)),
            ),
            (Rule.SELF_APPROVAL,),
            False,
        ),
        (
            lambda: judge(policy=rule(forbid_self_approval=True, required_approvers=(AUTHOR,))),
            (Rule.SELF_APPROVAL,),
            False,
        ),
        (
            lambda: judge(approval(isComplete="false", rejected=[BOB])),
            (Rule.REJECTED, Rule.INCOMPLETE),
            False,
        ),
        (lambda: judge(page_payload=page(status="archived")), (Rule.STATUS,), False),
        (lambda: judge(properties=[]), (Rule.NO_APPROVAL,), False),
        (lambda: judge(page_payload=edited(4)), (Rule.STALE,), False),
        (
            lambda: judge(policy=rule(max_age_days=1, min_approvers=2)),
            (Rule.APPROVALS, Rule.TOO_OLD),
            False,
        ),
        (lambda: judge(approval(completedAt=None)), (Rule.NO_COMPLETION_TIME,), False),
        (lambda: judge(page_payload=None), (Rule.FETCH,), False),
    ],
)
def test_failed_rules_and_whether_waiting_can_fix_them(
    verdict_of: Any, rules: tuple[Rule, ...], waitable: bool
) -> None:
    verdict = verdict_of()

    assert verdict.failed_rules == rules
    assert verdict.waitable is waitable
    assert len(verdict.reasons) == len(rules)


def test_a_required_approver_who_published_is_told_their_approval_cannot_count() -> None:
    verdict = judge(policy=rule(forbid_self_approval=True, required_approvers=(AUTHOR,)))

    assert the_reason(verdict) == (
        f"required approvers have not approved: {AUTHOR}; {AUTHOR} published the current "
        "version, so their approval cannot count (forbid_self_approval)"
    )


def test_an_approved_page_is_not_waitable() -> None:
    verdict = judge()

    assert verdict.failed_rules == ()
    assert verdict.waitable is False


def test_waitable_is_exactly_incomplete_or_short_of_approvers() -> None:
    assert {Rule.INCOMPLETE, Rule.APPROVALS, Rule.REQUIRED_APPROVERS, Rule.GROUPS} == WAITABLE


# --- unverifiable pages keep what is known --------------------------------------------------


def test_a_page_that_could_not_be_fetched_falls_back_to_the_viewpage_link() -> None:
    facts = PageFacts.failed(PAGE_ID, "Confluence answered HTTP 404", 404)

    verdict = evaluate(rule(), facts, as_of=AS_OF, site=SITE)

    assert verdict.outcome is Outcome.UNVERIFIABLE
    assert (verdict.link, verdict.title, verdict.status, verdict.version) == (
        FALLBACK_LINK,
        None,
        None,
        None,
    )
    assert failures_of(verdict) == [(Rule.FETCH, "could not verify: Confluence answered HTTP 404")]


def test_properties_in_an_unexpected_shape_keep_the_page_facts() -> None:
    verdict = judge(properties={"results": []})

    assert verdict.outcome is Outcome.UNVERIFIABLE
    assert (verdict.link, verdict.title, verdict.status) == (
        PAGE_LINK,
        "Release checklist",
        "current",
    )
    assert verdict.version == PageVersion(7, PUBLISHED, AUTHOR, False)
    assert verdict.approval is None
    assert the_reason(verdict) == (
        "could not verify: Confluence sent the page's properties in an unexpected shape"
    )


def test_a_page_without_approval_keeps_its_facts() -> None:
    verdict = judge(properties=[])

    assert (verdict.link, verdict.title, verdict.status) == (
        PAGE_LINK,
        "Release checklist",
        "current",
    )
    assert verdict.version is not None and verdict.version.number == 7


def test_times_are_rendered_in_utc_whatever_the_zone_of_the_instant() -> None:
    india = timezone(timedelta(hours=5, minutes=30))

    reason = the_reason(judge(policy=rule(max_age_days=1), as_of=AS_OF.astimezone(india)))

    assert reason == (
        "the approval is too old: it expired on 2025-07-16T10:33:14Z (completed "
        "2025-07-15T10:33:14Z, max_age_days 1 day; 17 days before 2025-08-01T12:00:00Z); "
        "request a new approval"
    )


# --- what the gate asks for before judging --------------------------------------------------


def view(page_payload: Any = MISSING, value: Any = MISSING, **facts: Any) -> PageView:
    properties = [prop(approval() if value is MISSING else value, **facts)]
    return read_page(
        PageFacts(
            PAGE_ID, page=page() if page_payload is MISSING else page_payload, properties=properties
        ),
        site=SITE,
    )


@pytest.mark.parametrize(
    ("policy", "page_payload", "value", "needed"),
    [
        (MINOR, edited(4), MISSING, True),
        (MINOR, page(), MISSING, False),  # approved the current version
        (rule(), edited(4), MISSING, False),  # stale whatever the history says
        (rule(forbid_self_approval=True), edited(4), MISSING, False),  # stale anyway
        (rule(forbid_self_approval=True, require_current_version=False), edited(4), MISSING, True),
        (rule(require_current_version=False), edited(4), MISSING, False),
        (rule(ignore_minor_edits=True, require_current_version=False), edited(4), MISSING, False),
        (MINOR, edited(4), approval(isComplete="false"), False),
        (MINOR, edited(4), approval(completedAt=None), False),
        (MINOR, edited(4), {"not": "an approval"}, False),
        (MINOR, None, MISSING, False),
        (MINOR, page(version=version(createdAt=iso(COMPLETED))), MISSING, False),
    ],
)
def test_the_history_is_fetched_only_where_the_verdict_needs_it(
    policy: PageRule, page_payload: Any, value: Any, needed: bool
) -> None:
    assert needs_versions(policy, view(page_payload, value)) is needed


def test_every_account_a_verdict_may_name_is_looked_up() -> None:
    value = approval(approved=[ALICE], pending=[BOB], rejected=[CAROL])
    policy = rule(required_approvers=("acc-req",), approval_writers=("acc-writer",))

    accounts = mentioned_accounts(policy, view(page(), value, authorId="acc-prop"))

    assert accounts == {ALICE, BOB, CAROL, AUTHOR, "acc-req", "acc-writer", "acc-prop"}


def test_an_unreadable_page_still_names_the_policy_accounts() -> None:
    policy = rule(required_approvers=("acc-req",))

    assert mentioned_accounts(policy, view(None)) == {"acc-req"}


@pytest.mark.parametrize(
    ("value", "schema_calls"),
    [(approval(), []), (approval(approved=["not an id"]), ["approval"])],
)
def test_the_approval_is_validated_once_per_page(
    monkeypatch: pytest.MonkeyPatch, value: dict[str, Any], schema_calls: list[str]
) -> None:
    # A well-formed approval passes the quick check alone; jsonschema runs only for one
    # that may be malformed, to name what is wrong. Either happens once per page.
    quick_calls, calls = [], []
    real_quick, real = verdict_module._approval_ok, schemas.validator

    def counting_quick(value: dict[str, Any]) -> bool:
        quick_calls.append(value)
        return real_quick(value)

    def counting(name: str) -> Any:
        calls.append(name)
        return real(name)

    monkeypatch.setattr(verdict_module, "_approval_ok", counting_quick)
    monkeypatch.setattr(verdict_module, "validator", counting)
    facts = PageFacts(PAGE_ID, page=page(), properties=[prop(value)])
    page_view = read_page(facts, site=SITE)
    needs_versions(MINOR, page_view)
    mentioned_accounts(MINOR, page_view)
    evaluate(MINOR, facts, as_of=AS_OF, site=SITE, view=page_view)

    assert len(quick_calls) == 1
    assert calls == schema_calls


# --- property: the gate approves exactly where a small independent oracle does -------------

_POOL = [ALICE, BOB, CAROL, AUTHOR]
_DAY = timedelta(days=1)
#: the instants versions and approvals may have: days around AS_OF, so they often tie
_instants = st.integers(min_value=-40, max_value=2).map(lambda d: AS_OF + d * _DAY)


@st.composite
def _scenarios(draw: st.DrawFn) -> dict[str, Any]:
    accounts = st.lists(st.sampled_from(_POOL), max_size=3)
    # Each part is often sound, so that approvals are common and every rule decides some.
    sound = st.sampled_from([True, True, True, True, False])
    value = {
        "approved": draw(st.lists(st.sampled_from(_POOL), min_size=1, max_size=4)),
        "pending": [] if draw(sound) else draw(accounts),
        "rejected": [] if draw(sound) else draw(accounts),
        "isComplete": "true" if draw(sound) else draw(st.sampled_from(["false", True, False])),
        "completedAt": ms(draw(_instants)) if draw(sound) else None,
        "minimumApprovers": draw(st.integers(min_value=0, max_value=3)),
        "minimumRejections": draw(st.integers(min_value=0, max_value=3)),
    }
    current = draw(st.integers(min_value=1, max_value=6))
    # A history that is usually complete and increasing in time, sometimes not.
    times = sorted(draw(st.lists(_instants, min_size=current + 1, max_size=current + 1)))
    history: dict[int, dict[str, Any]] = {}
    for number in range(1, current + 2):
        history[number] = {
            "number": number,
            "createdAt": iso(times[number - 1]),
            "minorEdit": draw(st.booleans()),
            "authorId": draw(st.sampled_from(_POOL)),
        }
    if draw(st.booleans()):  # the page has no newer version than `current`
        del history[current + 1]
    for number in (
        [] if draw(sound) else draw(st.lists(st.sampled_from(sorted(history)), max_size=2))
    ):
        damage = draw(st.sampled_from(["drop", "createdAt", "minorEdit", "authorId", "shift"]))
        if damage == "drop":
            history.pop(number, None)
        elif damage == "shift" and number in history:
            history[number]["createdAt"] = iso(draw(_instants))
        elif number in history:
            history[number].pop(damage, None)
    page_version = {"number": current, "createdAt": iso(times[current - 1])}
    if draw(sound):
        page_version["authorId"] = history.get(current, {}).get("authorId", AUTHOR)
    if current in history and "authorId" not in history[current]:
        page_version.pop("authorId", None)
    if current in history and "minorEdit" in history[current]:
        # The page's own word on its current version: usually the history's.
        minor = history[current]["minorEdit"]
        page_version["minorEdit"] = minor if draw(sound) else draw(st.booleans())
    return {
        "value": value,
        "page_version": page_version,
        "history": list(history.values()) if draw(sound) else None,
        "writer": APP if draw(sound) else draw(st.sampled_from([None, CAROL])),
        "rule": rule(
            min_approvers=draw(st.integers(min_value=0, max_value=2)),
            required_approvers=tuple(
                draw(st.lists(st.sampled_from(_POOL), unique=True, max_size=1))
            ),
            max_age_days=None if draw(sound) else draw(st.integers(min_value=0, max_value=40)),
            require_current_version=draw(st.booleans()),
            forbid_self_approval=draw(st.booleans()),
            ignore_minor_edits=draw(st.booleans()),
            approval_writers=draw(st.none() | st.just((APP,))),
        ),
        "as_of": AS_OF + draw(st.integers(min_value=-3, max_value=3)) * timedelta(minutes=3),
    }


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def oracle(s: dict[str, Any]) -> bool:
    """Approval as the README states it, written directly over the raw data."""
    r, a, current, history = s["rule"], s["value"], s["page_version"], s["history"]
    approved, pending, rejected = set(a["approved"]), set(a["pending"]), set(a["rejected"])
    if approved & pending or approved & rejected or pending & rejected:
        return False
    if a["isComplete"] not in ("true", True) or a["completedAt"] is None:
        return False
    completed = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=a["completedAt"])
    if completed > s["as_of"] + timedelta(minutes=5):
        return False
    if len(rejected) >= max(1, a["minimumRejections"]):
        return False
    if r.approval_writers is not None and s["writer"] not in r.approval_writers:
        return False
    if r.max_age_days is not None and s["as_of"] - completed > timedelta(days=r.max_age_days):
        return False
    answerable = [current]  # the versions the approval answers for
    if completed < _instant(current["createdAt"]):
        minor_matters = r.require_current_version and r.ignore_minor_edits
        if r.require_current_version and not minor_matters:
            return False  # stale
        if minor_matters or r.forbid_self_approval:
            if history is None:
                return False
            by_number = {h["number"]: h for h in history}
            mine = by_number.get(current["number"], {})
            if max(by_number, default=0) > current["number"]:
                return False
            if mine.get("createdAt") != current["createdAt"]:
                return False
            if mine.get("authorId") != current.get("authorId"):
                return False
            if "minorEdit" in mine and mine["minorEdit"] != current.get(
                "minorEdit", mine["minorEdit"]
            ):
                return False
            before = [
                n
                for n, h in by_number.items()
                if "createdAt" in h and _instant(h["createdAt"]) <= completed
            ]
            if not before:
                return False
            since = range(max(before), current["number"] + 1)
            if any(n not in by_number or "createdAt" not in by_number[n] for n in since):
                return False
            # Times never go backwards from the version before the approved one on.
            times = [
                _instant(by_number[n]["createdAt"])
                for n in range(since[0] - 1, since[-1] + 1)
                if "createdAt" in by_number.get(n, {})
            ]
            if times != sorted(times):
                return False
            if minor_matters and any(by_number[n].get("minorEdit") is not True for n in since[1:]):
                return False
            answerable = [by_number[n] for n in since]
    if r.forbid_self_approval:
        authors = {h.get("authorId") for h in answerable}
        if None in authors:
            return False
        approved -= authors
    if len(approved) < max(1, r.min_approvers, a["minimumApprovers"]):
        return False
    return set(r.required_approvers) <= approved


@settings(max_examples=10 * settings().max_examples, deadline=None)
@given(_scenarios())
def test_the_gate_approves_exactly_where_the_oracle_does(s: dict[str, Any]) -> None:
    properties = [prop(approval(**s["value"]), authorId=s["writer"] or MISSING)]
    verdict = judge(
        policy=s["rule"],
        page_payload=page(
            version=_with(version(authorId=MISSING, minorEdit=MISSING), s["page_version"])
        ),
        properties=properties,
        versions=s["history"],
        as_of=s["as_of"],
    )

    expected = oracle(s)
    completed = s["value"]["completedAt"]
    edited = completed is not None and completed < ms(_instant(s["page_version"]["createdAt"]))
    event(f"approved: {expected}, edited after the approval: {edited}")
    assert verdict.passed is expected, verdict.reasons
    assert verdict.passed is (verdict.failures == ())


# --- gaps found by mutation testing ---------------------------------------------------------

_NO_PAGE = "could not verify: Confluence sent no page data"
_NO_STATUS = "could not verify: Confluence sent a page without a status"
_NO_VERSION = "could not verify: Confluence sent a page without version information"
_BAD_VERSION = (
    "could not verify: Confluence sent a page version without a number or publication time"
)


@pytest.mark.parametrize(
    ("page_payload", "reason"),
    [
        (None, _NO_PAGE),
        (["not", "a", "page"], _NO_PAGE),
        (page(status=MISSING), _NO_STATUS),
        (page(version="7"), _NO_VERSION),
        (page(version=version(number=True)), _BAD_VERSION),
        (page(version=version(createdAt="2025-07-14T08:55:00")), _BAD_VERSION),
    ],
)
def test_an_unreadable_page_says_what_is_missing_and_links_to_viewpage(
    page_payload: Any, reason: str
) -> None:
    policy = rule()

    verdict = judge(page_payload=page_payload, policy=policy)

    assert failures_of(verdict) == [(Rule.FETCH, reason)]
    assert verdict.rule is policy
    assert (verdict.link, verdict.title, verdict.status, verdict.version) == (
        FALLBACK_LINK,
        None,
        None,
        None,
    )


def test_a_page_without_approval_names_what_to_do() -> None:
    policy = rule()

    verdict = judge(properties=[], policy=policy)

    assert verdict.rule is policy
    assert the_reason(verdict) == (
        "no approval has been requested (the page has no content property a key ending in "
        "_capable_approval); request an approval with Capable Approval"
    )


def test_ambiguous_approvals_are_named_in_order() -> None:
    value = approval()
    properties = [prop(value, key="b_capable_approval"), prop(value, key="a_capable_approval")]

    assert the_reason(judge(properties=properties)) == (
        "ambiguous approval: several properties end in _capable_approval "
        "(a_capable_approval, b_capable_approval); set property_key in the policy to the one "
        "to check"
    )


def test_a_value_that_is_not_an_object_names_its_type() -> None:
    assert the_reason(judge([1, 2])) == (
        f"approval property {KEY!r} is malformed, so it cannot be trusted: $: its value is "
        "list, not an object"
    )


@pytest.mark.parametrize(("bad", "more"), [(10, ""), (11, " (and 1 more)")])
def test_ten_violations_are_listed_before_counting_the_rest(bad: int, more: str) -> None:
    reason = the_reason(judge(approval(approved=[7] * bad)))

    assert reason.count("is not of type 'string'") == 10
    assert reason.endswith(f"$.approved[9]: 7 is not of type 'string'{more}")
    assert "; $.approved[1]: " in reason


def test_violations_of_different_fields_are_listed_by_field_name() -> None:
    reason = the_reason(judge(approval(pending=[7], approved=[8])))

    assert reason.index("$.approved[0]") < reason.index("$.pending[0]")


def test_an_incomplete_approval_with_nobody_pending_says_only_that() -> None:
    assert the_reason(judge(approval(isComplete="false"))) == "the approval is not complete yet"


def test_a_complete_approval_without_completion_time_says_so() -> None:
    assert the_reason(judge(approval(completedAt=None))) == (
        "the approval is marked complete but has no completion time"
    )


def test_a_missing_required_approver_is_not_said_to_be_excluded() -> None:
    # AUTHOR approved and is not counted; BOB, who is required, simply did not approve.
    verdict = judge(
        approval(approved=[AUTHOR, ALICE]),
        policy=rule(forbid_self_approval=True, required_approvers=(BOB,)),
    )

    assert failures_of(verdict) == [
        (Rule.REQUIRED_APPROVERS, f"required approvers have not approved: {BOB}")
    ]


def test_a_required_approver_who_published_the_version_is_said_to_be_excluded() -> None:
    verdict = judge(
        approval(approved=[AUTHOR, ALICE]),
        policy=rule(forbid_self_approval=True, required_approvers=(AUTHOR,)),
    )

    assert failures_of(verdict) == [
        (
            Rule.SELF_APPROVAL,  # waiting cannot help: their approval never counts
            f"required approvers have not approved: {AUTHOR}; not counted: {AUTHOR}, who "
            "published the current version (forbid_self_approval)",
        )
    ]


def test_with_edits_allowed_minor_flags_are_not_needed_even_with_ignore_minor_edits() -> None:
    history = [entry(5, V5, BOB, MISSING), entry(4, V4, BOB, MISSING), entry(3, V3, BOB)]
    policy = rule(forbid_self_approval=True, require_current_version=False, ignore_minor_edits=True)

    assert_approved(judge(page_payload=edited(5, authorId=BOB), policy=policy, versions=history))


@pytest.mark.parametrize("author", ["", 7])
def test_an_author_in_the_history_that_is_not_text_is_unknown(author: Any) -> None:
    history = [entry(5, V5, BOB, True), entry(4, V4, author, True), entry(3, V3, BOB)]

    verdict = judge(
        page_payload=edited(5, authorId=BOB, minorEdit=True),
        policy=rule(forbid_self_approval=True, ignore_minor_edits=True),
        versions=history,
    )

    assert verdict.failed_rules == (Rule.AUTHOR_UNKNOWN,)
    assert the_reason(verdict).endswith("does not say who published version 4")


def test_an_empty_history_keeps_the_page_stale() -> None:
    verdict = judge(page_payload=edited(5, minorEdit=True), policy=MINOR, versions=[])

    assert the_reason(verdict).endswith("(version 5 is missing from the version history)")


def test_what_confluence_did_not_say_about_the_page_is_unknown() -> None:
    verdict = judge(page_payload=page(title=7, version=version(minorEdit="yes")))

    assert_approved(verdict)
    assert verdict.title is None
    assert verdict.version == PageVersion(7, PUBLISHED, AUTHOR, None)


def test_a_plain_http_site_link_is_kept() -> None:
    site = "http://wiki.internal"
    payload = page(_links={"base": site, "webui": "/pages/1"})
    facts = PageFacts(page_id=PAGE_ID, page=payload, properties=[prop(approval())])

    assert evaluate(rule(), facts, as_of=AS_OF, site=site).link == "http://wiki.internal/pages/1"
    # The same link from a site other than the configured one is not shown (a proxy's word).
    assert judge(page_payload=payload).link == FALLBACK_LINK


def test_a_writer_without_a_display_name_is_shown_by_id() -> None:
    verdict = judge(
        properties=[prop(approval(), authorId=CAROL)], policy=rule(approval_writers=(APP,))
    )

    assert the_reason(verdict).startswith(f"approval data last written by {CAROL}, who is not")


def test_the_property_writer_is_looked_up_only_when_known() -> None:
    raw = {"id": "1", "key": KEY, "value": approval()}
    page_view = read_page(PageFacts(PAGE_ID, page=page(), properties=[raw]), site=SITE)

    assert mentioned_accounts(rule(), page_view) == {ALICE, AUTHOR}


def test_the_page_author_is_looked_up_even_when_the_properties_are_unreadable() -> None:
    page_view = read_page(PageFacts(PAGE_ID, page=page(), properties=["junk"]), site=SITE)

    assert mentioned_accounts(rule(), page_view) == {AUTHOR}


@pytest.fixture
def far_from_utc(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The runner's local zone is not UTC (times must still be read and shown in UTC)."""
    time = pytest.importorskip("time")
    if not hasattr(time, "tzset"):
        pytest.skip("needs time.tzset")
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("far_from_utc")
def test_times_are_shown_in_utc_whatever_the_runners_zone() -> None:
    verdict = judge(page_payload=edited(4))

    assert "version 4 published 2025-07-16T10:33:14Z, approval completed 2025-07-15T10:33:14Z" in (
        the_reason(verdict)
    )
    assert verdict.version is not None
    assert verdict.version.created_at.utcoffset() == timedelta(0)


def test_the_first_version_can_be_the_approved_one() -> None:
    # ALICE published v1 and the approval completed; BOB's minor v2 came after it.
    verdict = judge(
        approval(approved=[CAROL]),
        page_payload=page(
            version=version(number=2, createdAt=iso(V4), authorId=BOB, minorEdit=True)
        ),
        policy=rule(forbid_self_approval=True, ignore_minor_edits=True),
        versions=[entry(2, V4, BOB, True), entry(1, V1, ALICE)],
    )

    assert_approved(verdict)


def test_a_version_published_in_the_same_instant_as_the_approved_one_is_not_backwards() -> None:
    # v2 and v3 share their publication time: the approved version is still v3, so v2's
    # publisher ALICE is not excluded by four eyes.
    history = [entry(4, V4, BOB, True), entry(3, V3, CAROL), entry(2, V3, ALICE), entry(1, V1)]

    verdict = judge(
        approval(approved=[ALICE]),
        page_payload=edited(4, authorId=BOB, minorEdit=True),
        policy=rule(forbid_self_approval=True, ignore_minor_edits=True),
        versions=history,
    )

    assert_approved(verdict)


# --- required groups: the exact words and what the evidence gets ---------------------------


def judge_groups(approved: list[str], groups: dict[str, GroupMembers], need: int = 2) -> Verdict:
    facts = PageFacts(PAGE_ID, page=page(), properties=[prop(approval(approved=approved))])
    policy = rule(required_groups=(GroupRequirement("cab", need),))
    return evaluate(policy, facts, as_of=AS_OF, site=SITE, groups=groups)


def test_a_group_short_of_members_says_who_approved_from_outside() -> None:
    members = GroupMembers(frozenset({ALICE}))

    verdict = judge_groups([ALICE, BOB], {"cab": members})

    assert the_reason(verdict) == (
        f'only 1 of 2 required approvals from group "cab" (members who approved: {ALICE}; '
        f"approved, but not in the group: {BOB})"
    )


def test_a_group_with_no_member_approving_says_nobody() -> None:
    verdict = judge_groups([ALICE], {"cab": GroupMembers(frozenset({BOB}))}, need=1)

    assert the_reason(verdict) == (
        'only 0 of 1 required approvals from group "cab" (members who approved: nobody; '
        f"approved, but not in the group: {ALICE})"
    )


def test_a_group_whose_members_all_approved_but_too_few_names_no_outsider() -> None:
    verdict = judge_groups([ALICE], {"cab": GroupMembers(frozenset({ALICE, BOB}))})

    assert the_reason(verdict) == (
        f'only 1 of 2 required approvals from group "cab" (members who approved: {ALICE})'
    )


@pytest.mark.parametrize(
    ("groups", "why"),
    [
        ({}, "its members were not fetched; record a snapshot that includes them"),
        (
            {"cab": GroupMembers(failure=FetchFailure("HTTP 403: not allowed", 403))},
            "HTTP 403: not allowed",
        ),
    ],
)
def test_an_unreadable_group_counts_nobody_and_says_why(
    groups: dict[str, GroupMembers], why: str
) -> None:
    verdict = judge_groups([ALICE, BOB], groups)

    assert verdict.outcome is Outcome.UNVERIFIABLE
    assert failures_of(verdict) == [
        (Rule.GROUPS_UNVERIFIABLE, f'could not verify the approvers from group "cab": {why}')
    ]
    assert [(t.members_counted, t.failure) for t in verdict.groups] == [((), why)]


def test_a_version_published_at_the_completion_instant_is_the_approved_one() -> None:
    # v4 (a major edit) was published exactly when the approval completed: it is the
    # approved version, and only the minor v5 came after it.
    history = [entry(5, V5, minor=True), entry(4, COMPLETED, minor=False), entry(3, V3)]

    verdict = judge(page_payload=edited(5, minorEdit=True), policy=MINOR, versions=history)

    assert_approved(verdict)


# --- the quick approval check (verdict._approval_ok) against the approval schema ---

#: strings one step from an account id: whitespace, invisible and look-alike characters,
#: a final newline (which Python's "$" would let through), lengths around the limit
_NEAR_IDS = [
    "",
    " ",
    "a" * 129,
    "a\n",
    "\na",
    "a\r\n",
    "a b",
    "a\t",
    "a\x00",
    "a\u200b",
    "\ufeffa",
    "a\u00a0",
    "a\u2028",
    "caf\u00e9",
    "\u0663",
    "\uff41",
    "a.b",
    "a@b",
    ALICE + " ",
    " " + BOB,
]
_IDS = [ALICE, BOB, APP, "a", "a" * 128, "Z9:_-"]
#: (field, values one step from what the schema accepts there, or accepted at the edge)
_NEAR_MISSES: dict[str, list[Any]] = {
    "pending": [None, "", ALICE, {}, {"0": ALICE}, [[ALICE]], [1], [True], [None]],
    "isComplete": [
        *("TRUE", "True", "FALSE", "False", "true ", " true", "true\n", "yes", "1", ""),
        *(1, 0, 1.0, 0.0, None, [], ["true"], {"true": True}),
    ],
    "completedAt": [
        *(-1, 253402300799999, 253402300799999 + 1, 2**63, 2**64, 10**30, -(2**63)),
        *(True, False, 0.0, 2.0, 1752575594000.0, "0", "1752575594000", [], {}),
    ],
    "createdBy": [None, 1, True, [], {}, ["a"]],
    "status": [True, False, 1.0, 2.0, "1", None, 2**70, -1],
    "minimumApprovers": [True, False, 1.0, 2.0, -0.0, -1, -(2**70), 2**70, "1", None, []],
}
for _twin, _of in (
    ("approved", "pending"),
    ("rejected", "pending"),
    ("commented", "pending"),
    ("createdAt", "completedAt"),
    ("latestVersionBy", "createdBy"),
    ("minimumRejections", "minimumApprovers"),
):
    _NEAR_MISSES[_twin] = _NEAR_MISSES[_of]
_NEAR_MISS_CASES = [
    *((name, value) for name, values in _NEAR_MISSES.items() for value in values),
    *(
        (name, [odd])
        for name in ("pending", "approved", "rejected", "commented")
        for odd in _NEAR_IDS
    ),
    *((name, [ALICE, odd]) for name in ("approved", "commented") for odd in _NEAR_IDS),
    *((name, odd) for name in ("createdBy", "latestVersionBy") for odd in _NEAR_IDS),
    *((name, MISSING) for name in _NEAR_MISSES),
]


@pytest.mark.parametrize(("name", "value"), _NEAR_MISS_CASES)
def test_the_quick_approval_check_takes_no_near_miss_the_schema_refuses(
    name: str, value: Any
) -> None:
    candidate = approval(**{name: value})
    if verdict_module._approval_ok(candidate):
        assert schemas.validator("approval").is_valid(candidate)


_account_ids = st.one_of(
    st.sampled_from(_IDS + _NEAR_IDS),
    st.text(st.sampled_from("aZ09:_-"), min_size=0, max_size=130),
    st.text(st.sampled_from("aZ09:_- \t\n\r\x00\u200b\u00a0\ufeff\u00e9\u0663.@"), max_size=6),
    st.text(max_size=6),
)
_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=6)
    | st.sampled_from([v for values in _NEAR_MISSES.values() for v in values if v is not None]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=6,
)


@st.composite
def _field_value(draw: st.DrawFn, name: str) -> Any:
    if name in ("pending", "approved", "rejected", "commented") and draw(st.booleans()):
        ids = st.sampled_from(_IDS) | st.sampled_from(_NEAR_IDS) | _account_ids
        return draw(st.lists(ids, min_size=1, max_size=3))
    if name in ("createdBy", "latestVersionBy") and draw(st.booleans()):
        return draw(_account_ids)
    return draw(st.sampled_from([MISSING, *_NEAR_MISSES[name]]) | _json_values)


@st.composite
def _near_miss_approvals(draw: st.DrawFn) -> dict[str, Any]:
    """A complete approval with one field (sometimes two) changed or removed, maybe one added."""
    names = draw(st.lists(st.sampled_from(sorted(_NEAR_MISSES)), min_size=1, max_size=2))
    value = approval(**{name: draw(_field_value(name)) for name in names})
    if draw(st.integers(0, 3)) == 0:
        value.update(draw(st.dictionaries(st.text(max_size=6), _json_values, max_size=1)))
    return value


_approval_candidates = st.one_of(
    _near_miss_approvals(),
    _near_miss_approvals(),
    st.dictionaries(st.sampled_from(sorted(_NEAR_MISSES)), _json_values),
    st.dictionaries(st.text(max_size=8), _json_values),
)


@settings(max_examples=600)
@given(_approval_candidates)
def test_the_quick_approval_check_is_never_looser_than_the_schema(value: dict[str, Any]) -> None:
    quick = verdict_module._approval_ok(value)
    schema_says = schemas.validator("approval").is_valid(value)
    event(f"quick {quick}, schema {schema_says}")
    if quick:
        assert schema_says, value


@settings(max_examples=300)
@given(_approval_candidates)
def test_the_quick_approval_check_changes_no_reading_of_a_property(
    value: dict[str, Any],
) -> None:
    properties = [prop(value)]
    quick = verdict_module.find_approval(properties, None)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(verdict_module, "_approval_ok", lambda value: False)
        schema_only = verdict_module.find_approval(properties, None)

    assert quick == schema_only


@pytest.mark.parametrize(
    "value",
    [
        approval(),
        approval(isComplete=True, approved=[ALICE, BOB, ALICE], pending=[CAROL]),
        approval(isComplete="false", completedAt=None, approved=[]),
        approval(**{name: MISSING for name in ("commented", "status", "createdAt")}),
        approval(createdBy=MISSING, minimumApprovers=MISSING, minimumRejections=0),
        approval(appVersion="2.1", history=[{"x": 1}]),
    ],
)
def test_approvals_as_the_app_writes_them_take_the_quick_check(value: dict[str, Any]) -> None:
    assert verdict_module._approval_ok(value)
    assert schemas.validator("approval").is_valid(value)
