"""What a failed request says: the reason a release manager reads, and what to check.

Only words here: which request failed (``what``: "page 101", "the properties of page
101", ...), how, and the advice that fits. The request loop and the client decide when a
request has failed; this module decides how that is said.
"""

from __future__ import annotations

from .errors import ConfluenceError, Interrupted, RetryBudgetExceeded
from .site import AuthKind

#: The scope a scoped API token or OAuth 2.0 app needs to read group members.
GROUP_SCOPE = "read:group:confluence"


def status_message(status: int, what: str, auth: AuthKind) -> str:
    """An answer other than 200, in words."""
    if status == 401:
        if auth == "anonymous":
            return (
                f"Confluence requires a login to read {what} (HTTP 401): set CONFLUENCE_USERNAME "
                "and CONFLUENCE_API_TOKEN, or CONFLUENCE_PERSONAL_TOKEN"
            )
        return (
            f"Confluence did not accept the credentials for {what} (HTTP 401): check that the "
            "token in the environment is valid, not expired, and belongs to this site"
        )
    if status == 403:
        return (
            f"the account may not read {what} (HTTP 403): check the page's restrictions and "
            "the token's permissions"
        )
    if status == 404:
        return (
            f"{what} was not found (HTTP 404): check the page id in the policy, and that the "
            "account can view the page (Confluence answers 404 for pages it hides)"
        )
    if status == 429:
        return (
            f"Confluence kept rate-limiting the requests for {what} (HTTP 429) until the retries "
            "ran out; re-run later or lower --confluence-concurrency"
        )
    if status >= 500:
        return (
            f"Confluence failed while serving {what} (HTTP {status}) until the retries ran "
            "out; re-run later"
        )
    return f"Confluence answered HTTP {status} for {what}"


def no_v2_api(origin: str, site: str) -> str:
    """The page listing answered 404: no Confluence Cloud at that address."""
    return (
        f"{origin} has no Confluence Cloud REST v2 API at {site}/api/v2/pages (HTTP 404): "
        "check the site URL (Cloud: https://<site>.atlassian.net/wiki); Confluence Data "
        "Center and Server do not have this API and are not supported"
    )


def group_error(exc: ConfluenceError, group: str) -> ConfluenceError:
    """The generic status messages speak of pages; a group needs its own advice."""
    if exc.status == 404:
        return ConfluenceError(
            f'group "{group}" was not found (HTTP 404): check the group name in the '
            "policy's required_groups (as Confluence administration shows it)",
            404,
        )
    if exc.status == 403:
        return ConfluenceError(
            f'the account may not read the members of group "{group}" (HTTP 403): it needs '
            f"Confluence's 'Can use' permission, and a scoped API token or OAuth 2.0 app the "
            f"scope {GROUP_SCOPE}",
            403,
        )
    if exc.status == 401:
        return ConfluenceError(
            f"{exc.message}; a scoped API token or OAuth 2.0 app also needs the scope "
            f"{GROUP_SCOPE} to read group members",
            401,
        )
    return exc


def no_answer(
    kind: str,
    reason: str,
    *,
    what: str,
    origin: str,
    host: str,
    timeout: float,
    attempts: int,
) -> ConfluenceError:
    """A request that got no answer, however many times it was tried (``attempts``)."""
    tries = f" (up to {attempts} attempts)" if attempts > 1 else ""
    if kind == "dns":
        return ConfluenceError(
            f"cannot resolve host {host!r} while fetching {what}: no such name, or no "
            "DNS service here; check the spelling of the site URL and the machine's DNS"
        )
    if kind == "refused":
        return ConfluenceError(
            f"{origin} refused the connection while fetching {what}: nothing accepts "
            "connections at that address and port; check the site URL (scheme and port)"
        )
    if kind == "tls":
        return ConfluenceError(
            f"the TLS connection to {origin} failed while fetching {what} ({reason}); if "
            "the site uses a private certificate authority, point REQUESTS_CA_BUNDLE at its "
            "certificate; a proxy that intercepts TLS needs the same"
        )
    if kind == "proxy":
        return ConfluenceError(f"{reason} (while fetching {what})")
    if kind == "timeout":
        return ConfluenceError(
            f"Confluence did not answer for {what} within {timeout:g} s{tries}; "
            "check that the site is reachable, or raise --confluence-timeout"
        )
    if kind == "reset":
        return ConfluenceError(
            f"network error while fetching {what} from {origin}{tries}: the connection "
            f"was reset or closed without an answer ({reason}); a proxy or firewall "
            "may be cutting it; re-run later"
        )
    return ConfluenceError(
        f"network error while fetching {what} from {origin}{tries}: {reason}; "
        "check the site URL and the network"
    )


def interrupted_while(what: str) -> Interrupted:
    return Interrupted(f"interrupted while fetching {what}")


def deadline_ran_out_while(what: str) -> RetryBudgetExceeded:
    return RetryBudgetExceeded(
        f"the gate's --confluence-deadline ran out while fetching {what}; re-run "
        "later or raise --confluence-deadline"
    )


def broke_while_reading(what: str, reason: str) -> ConfluenceError:
    return ConfluenceError(f"the connection broke while reading {what}: {reason}")


def too_large(what: str, limit_bytes: int) -> str:
    limit = limit_bytes // (1024 * 1024)
    return f"Confluence's answer for {what} is larger than {limit} MB; refused"


def not_json(what: str, content_type: str, status: int) -> ConfluenceError:
    received = content_type.split(";")[0] or "no content type"
    return ConfluenceError(
        f"Confluence answered for {what} with {received} "
        "instead of JSON: usually a single sign-on or proxy login page; check the "
        "site URL and that the credentials are accepted",
        status,
    )


def over_budget(what: str, limit_bytes: int) -> ConfluenceError:
    return ConfluenceError(
        f"Confluence's answers in this run would take more than "
        f"{limit_bytes // (1024 * 1024):,} MB of memory (while reading {what}); "
        "refused, so a misbehaving server cannot exhaust this machine's memory"
    )


def malformed_json(what: str, detail: str | None = None) -> ConfluenceError:
    return ConfluenceError(
        f"Confluence sent malformed JSON for {what}" + (f" ({detail})" if detail else "")
    )
