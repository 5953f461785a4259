"""The facts of one run that the evidence outputs state, as plain frozen inputs.

The attestation (attestation.py) and the HTML report (html_report.py) are pure
functions of these values; the plugin builds them from the run's one result, so
every output states the same facts and counts. Pure: no I/O, no pytest.

Also here, because every output that names the run needs them: where the run's
standing comes from (:func:`standing`) and the CI run's address (:func:`ci_run_url`).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Literal
from urllib.parse import quote, urlsplit

from .policy import Waiver
from .scope import NotJudged
from .verdict import Outcome, PageVersion, Verdict

Mode = Literal["live", "replay"]
WaiverState = Literal["applied", "expired", "unused"]


@dataclass(frozen=True, slots=True)
class FileDigest:
    """A file the run read or wrote: its path as the run names it, and its SHA-256 (hex)."""

    path: str
    sha256: str


@dataclass(frozen=True, slots=True)
class PageWaiver:
    """A page's waiver and where it stands at the as-of instant.

    ``applied``: it covers the page's "not approved"; ``expired``: its day has come;
    ``unused``: the page needs none (approved), or it may not cover it (not verifiable).
    """

    waiver: Waiver
    state: WaiverState


@dataclass(frozen=True, slots=True)
class JudgedPage:
    """One page the run judged: its gate item, its verdict, and what the evidence adds."""

    #: the gate item's pytest node id (``policy.yaml::page[101 Release notes]``)
    node_id: str
    verdict: Verdict
    waiver: PageWaiver | None = None
    #: the label of the ``cql:`` entry that found the page (``query "Orion page"``);
    #: None for a page the policy lists
    found_by: str | None = None
    #: under ``ignore_minor_edits``: the version the approval answers for (None: the
    #: current one, or not known)
    approved_version: PageVersion | None = None
    #: under ``ignore_minor_edits``: every minor edit after the approved version that the
    #: verdict tolerated, oldest first
    tolerated_edits: tuple[PageVersion, ...] = ()

    @property
    def waived(self) -> bool:
        """Not approved, and a waiver covers it (never a page that could not be verified)."""
        return (
            self.waiver is not None
            and self.waiver.state == "applied"
            and self.verdict.outcome is Outcome.NOT_APPROVED
        )


@dataclass(frozen=True, slots=True)
class FailedQuery:
    """A ``cql:`` entry's gate item that judged no page: the search failed or found nothing."""

    node_id: str
    #: ``query "Orion page"`` (policy.PageQuery.label)
    label: str
    cql: str
    #: why the search failed; None: it matched no pages
    failure: str | None = None


@dataclass(frozen=True, slots=True)
class RunFacts:
    """What every output says about the run itself."""

    #: the configured Confluence site (normalised: ``https://acme.atlassian.net/wiki``)
    site: str
    #: the instant the approvals were judged at
    as_of: datetime
    mode: Mode
    #: ``--confluence-audit``: judged and reported, never enforced (never a pass in evidence)
    audit: bool
    policies: tuple[FileDigest, ...]
    gate_version: str
    #: when the replayed snapshot was recorded (None in a live run)
    recorded_at: datetime | None = None
    #: the CI run (see :func:`ci_run_url`); None when not known
    ci_run_url: str | None = None
    #: ``--confluence-var NAME=VALUE``: name -> value
    variables: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


class Standing(enum.Enum):
    """The run as a whole, whatever was or was not enforced."""

    APPROVED = "approved"
    #: approved, except pages whose "not approved" a waiver covers
    APPROVED_WITH_WAIVERS = "approved with waivers"
    #: nothing failed, but some policy pages were not judged (-k, -m, --deselect, -x)
    PARTIAL = "partial"
    NOT_APPROVED = "not approved"


def standing(
    pages: Sequence[JudgedPage], failed_queries: Sequence[FailedQuery], not_judged: NotJudged
) -> Standing:
    """How the run stands. Fail closed: a run that judged nothing is not approved.

    A failed or empty query fails whatever else happened (its pages are unknown); so
    does a page that is not approved and not waived, or not verifiable. Only then do
    unjudged pages make the run partial, and only then do waivers make it "with waivers".
    """
    if failed_queries or not_judged.queries_failed or not_judged.queries_empty:
        return Standing.NOT_APPROVED
    if any(not p.verdict.passed and not p.waived for p in pages):
        return Standing.NOT_APPROVED
    if not_judged:
        return Standing.PARTIAL
    if not pages:
        return Standing.NOT_APPROVED
    if any(p.waived for p in pages):
        return Standing.APPROVED_WITH_WAIVERS
    return Standing.APPROVED


# --- the CI run -----------------------------------------------------------------------------

#: A URL shown or attested is at most this long: a CI system's run address is far shorter.
MAX_URL_LENGTH = 2048
_GITHUB_REPOSITORY = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
_DIGITS = re.compile(r"[0-9]{1,20}")


def https_url(text: str | None) -> str | None:
    """``text`` if it is a plain https URL a reader may follow, else None.

    The environment is semi-trusted: a URL with credentials in it, with spaces or
    control characters, another scheme (``javascript:``, ``file:``, plain ``http:``) or
    no host is not linked or attested.
    """
    if not text or len(text) > MAX_URL_LENGTH or not text.isascii() or not text.isprintable():
        return None
    if any(c in text for c in " \\\"'<>`{}|^"):
        return None
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        return None
    if parts.scheme != "https" or not parts.hostname or "@" in parts.netloc:
        return None
    return text


def ci_run_url(environ: Mapping[str, str]) -> str | None:
    """The address of the CI run this is, from its own variables; None when not known.

    GitHub Actions (``GITHUB_SERVER_URL``/``GITHUB_REPOSITORY``/``GITHUB_RUN_ID``, and
    ``GITHUB_RUN_ATTEMPT`` for a re-run), GitLab (``CI_JOB_URL``, else
    ``CI_PIPELINE_URL``), Azure Pipelines (``SYSTEM_COLLECTIONURI``,
    ``SYSTEM_TEAMPROJECT``, ``BUILD_BUILDID``) and Jenkins (``BUILD_URL``). Only an https
    URL (see :func:`https_url`) is returned.
    """
    server, repository, run = (
        environ.get("GITHUB_SERVER_URL"),
        environ.get("GITHUB_REPOSITORY"),
        environ.get("GITHUB_RUN_ID"),
    )
    if server and repository and run:
        if not (_GITHUB_REPOSITORY.fullmatch(repository) and _DIGITS.fullmatch(run)):
            return None
        url = f"{server.rstrip('/')}/{repository}/actions/runs/{run}"
        attempt = environ.get("GITHUB_RUN_ATTEMPT", "")
        if _DIGITS.fullmatch(attempt) and attempt != "0":
            url += f"/attempts/{attempt}"
        return https_url(url)
    gitlab = environ.get("CI_JOB_URL") or environ.get("CI_PIPELINE_URL")
    if gitlab:
        return https_url(gitlab)
    collection, project, build = (
        environ.get("SYSTEM_COLLECTIONURI"),
        environ.get("SYSTEM_TEAMPROJECT"),
        environ.get("BUILD_BUILDID"),
    )
    if collection and project and build:
        if not _DIGITS.fullmatch(build):
            return None
        return https_url(
            f"{collection.rstrip('/')}/{quote(project, safe='')}/_build/results?buildId={build}"
        )
    jenkins = environ.get("BUILD_URL")
    if jenkins:
        return https_url(jenkins)
    return None
