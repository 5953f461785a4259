"""What the evidence outputs add to the run's one result (result.GateResult).

The attestation (attestation.py) and the HTML report (html_report.py) are pure
functions of the result; here is what they need beside it: a file's digest
(:class:`FileDigest`), how the run stands as a whole (:func:`standing`) and the CI
run's address (:func:`ci_run_url`, checked by :func:`https_url`). Pure: no I/O, no pytest.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from .result import GateResult


@dataclass(frozen=True, slots=True)
class FileDigest:
    """A file the run read or wrote: its path as the run names it, and its SHA-256 (hex)."""

    path: str
    sha256: str


class Standing(enum.Enum):
    """The run as a whole, whatever was or was not enforced."""

    APPROVED = "approved"
    #: approved, except pages whose "not approved" a waiver covers
    APPROVED_WITH_WAIVERS = "approved with waivers"
    #: nothing failed, but some policy pages were not judged (-k, -m, --deselect, -x)
    PARTIAL = "partial"
    NOT_APPROVED = "not approved"


def standing(result: GateResult) -> Standing:
    """How the run stands. Fail closed: a run that judged nothing is not approved.

    A failed or empty query fails whatever else happened (its pages are unknown); so
    does a page that is not approved and not waived, or not verifiable. Only then do
    unjudged pages make the run partial, and only then do waivers make it "with waivers".
    """
    pages, not_judged = result.judged, result.not_judged
    if any(q.judged_nothing for q in result.queries):
        return Standing.NOT_APPROVED
    if not_judged.queries_failed or not_judged.queries_empty:
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
