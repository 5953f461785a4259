"""The module pytest's ``pytest11`` entry point names: options, the marker, and the switch.

Every pytest run in an environment where the plugin is installed imports this
module, with or without the gate. So it imports nothing heavy: requests, urllib3,
jsonschema, PyYAML and the gate itself load only when ``--confluence-policy`` (or
the ini option ``confluence_policy``) turns the gate on.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

MARKER = "confluence_approval"

#: The one place each option's default lives; GateOptions takes them from here.
DEFAULT_CONCURRENCY = 32
DEFAULT_TIMEOUT = 30.0
DEFAULT_RETRIES = 4
DEFAULT_DEADLINE = "10m"
DEFAULT_POLL = "1m"
#: The range each numeric option accepts, both ends included (GateSettings.resolve checks
#: them): a typo must not start ten million threads, wait for years or never time out.
MAX_CONCURRENCY = 256
MAX_TIMEOUT = 600.0
MAX_RETRIES = 20
MAX_DEADLINE = 24 * 3600.0
MAX_WAIT = 24 * 3600.0
MIN_POLL = 1.0
MAX_POLL = 3600.0


def spelled_duration(seconds: float) -> str:
    """A bound in the options' own syntax: ``24h``, ``1h``, ``90s``."""
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("confluence-approval", "Confluence approval gate")
    group.addoption(
        "--confluence-policy",
        metavar="PATH",
        help="policy file naming the pages that must be approved; enables the gate. "
        "Secrets come only from the environment: CONFLUENCE_USERNAME + CONFLUENCE_API_TOKEN "
        "(Cloud API token, HTTP Basic) or CONFLUENCE_PERSONAL_TOKEN (bearer: OAuth 2.0 "
        "access token); neither: anonymous; a replay reads none of them",
    )
    group.addoption(
        "--confluence-url",
        metavar="URL",
        help="wiki base URL, e.g. https://acme.atlassian.net/wiki "
        "(default: $CONFLUENCE_URL, then the policy's site:)",
    )
    group.addoption(
        "--confluence-concurrency",
        type=int,
        default=DEFAULT_CONCURRENCY,
        metavar="N",
        help="most requests in flight at once; below it the gate finds the site's pace "
        f"itself, slowing down on 429/503 (1 to {MAX_CONCURRENCY}; default: "
        f"{DEFAULT_CONCURRENCY})",
    )
    group.addoption(
        "--confluence-timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"timeout of each request (more than 0, at most {MAX_TIMEOUT:g}; default: "
        f"{DEFAULT_TIMEOUT:g})",
    )
    group.addoption(
        "--confluence-retries",
        type=int,
        default=DEFAULT_RETRIES,
        metavar="N",
        help="retries on 429, 502-504 and connection errors, honouring Retry-After "
        f"(0 to {MAX_RETRIES}; default: {DEFAULT_RETRIES})",
    )
    group.addoption(
        "--confluence-deadline",
        default=DEFAULT_DEADLINE,
        metavar="DURATION",
        help="time all network work of the run may take (queries, pages, histories, names, "
        f"body reads), e.g. 90s, 10m (at most {spelled_duration(MAX_DEADLINE)}; default: "
        f"{DEFAULT_DEADLINE}); --confluence-wait counts on top; a Retry-After beyond it "
        "fails at once instead of sleeping",
    )
    group.addoption(
        "--confluence-wait",
        metavar="DURATION",
        help=f"wait up to this long (e.g. 30m; at most {spelled_duration(MAX_WAIT)}) for pages "
        "whose only failures are approvers not done yet, re-checking them every "
        "--confluence-poll",
    )
    group.addoption(
        "--confluence-poll",
        default=DEFAULT_POLL,
        metavar="DURATION",
        help=f"how often to re-check while waiting ({spelled_duration(MIN_POLL)} to "
        f"{spelled_duration(MAX_POLL)}; default: {DEFAULT_POLL})",
    )
    group.addoption(
        "--confluence-as-of",
        metavar="ISO8601",
        help="judge approval age at this instant (default: now; in replay: the recording time)",
    )
    group.addoption(
        "--confluence-record",
        metavar="PATH",
        help="write everything fetched to this snapshot file",
    )
    group.addoption(
        "--confluence-replay",
        metavar="PATH",
        help="evaluate from this snapshot file, with no network access",
    )
    group.addoption(
        "--confluence-report",
        metavar="PATH",
        help="write a JSON evidence report (format: schemas/report.schema.json)",
    )
    group.addoption(
        "--confluence-insecure-http",
        action="store_true",
        default=False,
        help="allow plain http to a host other than this machine (credentials travel unencrypted)",
    )
    parser.addini(
        "confluence_policy",
        "policy file for the Confluence approval gate (relative to the ini file)",
        type="string",
        default="",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARKER}: a Confluence page's approval, checked by pytest-confluence-approval"
    )
    policy = policy_path(config)
    if policy is None:
        return
    from . import xdist_support  # light: a pytest-xdist worker loads nothing more

    if xdist_support.configure(config, policy):
        return  # a pytest-xdist worker: its controller runs the gate's items itself
    from .plugin import enable_gate  # the heavy part: only now that the gate is on

    enable_gate(config, policy)


def policy_path(config: pytest.Config) -> Path | None:
    """The policy file, absolute: the command line's, else the ini file's (relative to it)."""
    given = config.getoption("confluence_policy")
    if given:
        return absolute_path(given)
    from_ini = str(config.getini("confluence_policy") or "")
    if from_ini:
        base = config.inipath.parent if config.inipath else config.rootpath
        return absolute_path(base / from_ini)
    return None


def absolute_path(path: str | os.PathLike[str]) -> Path:
    """Absolute and normalized (``..`` removed, symlinks kept), the way pytest names its nodes.

    ``Path.absolute()`` keeps ``..``: ``../policy.yaml`` would stay ``sub/../policy.yaml``,
    never equal to the path pytest collects, and the policy would be "not found".
    """
    return Path(os.path.abspath(path))


def names_file(arg: str, path: Path) -> bool:
    """Whether a command-line argument (a path or a node id) names this file."""
    try:
        return Path(arg.split("::")[0]).absolute().resolve() == path.resolve()
    except OSError:
        return False
