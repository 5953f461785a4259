"""The gate's options in one place: each one's flag, help, default and bounds, and their checks.

entrypoint.py adds the options to pytest from :data:`OPTIONS` and :data:`INI_OPTIONS`
(so anything that lists the options, such as a documentation page, reads them here);
:class:`GateOptions` holds what a user gave; :func:`validate_options` checks it against
the bounds before anything is read or sent. The defaults live here, at the bottom of
the layers, as requests keeps its own in ``adapters.py``: the HTTP client and the gate
take them from here, and importing them loads nothing else.

Stdlib only, and cheap to import: entrypoint.py imports it in every pytest run, gate on
or off. So the option records are plain classes (creating a frozen dataclass takes
longer than the rest of this module), GateOptions a NamedTuple, and errors.py and
instants.py load only once a value is checked (the gate is on by then).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

if TYPE_CHECKING:
    from datetime import datetime

    from .errors import ConfigurationError

#: The one place each option's default lives; GateOptions and the HTTP client take them
#: from here.
DEFAULT_CONCURRENCY = 32
DEFAULT_TIMEOUT = 30.0
DEFAULT_RETRIES = 4
DEFAULT_DEADLINE = "10m"
DEFAULT_POLL = "1m"
#: The range each numeric option accepts, both ends included unless said otherwise
#: (validate_options checks them): a typo must not start ten million threads, wait for
#: years or never time out.
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


class Option:
    """One ``--confluence-*`` option: what pytest's parser is given, and what it accepts.

    ``least``/``most``: the range of a number or a duration, both ends included unless
    ``least_excluded`` ("more than 0"); a duration is always more than zero. ``unit``:
    what the number counts, in the out-of-range message ("retries").
    """

    # A plain class, not a dataclass: see the module docstring.
    __slots__ = (
        "action",
        "default",
        "flag",
        "help",
        "least",
        "least_excluded",
        "metavar",
        "most",
        "type",
        "unit",
    )

    def __init__(
        self,
        flag: str,
        *,
        help: str,
        metavar: str | None = None,
        type: type[int] | type[float] | None = None,
        default: Any = None,
        action: str | None = None,
        least: float | None = None,
        most: float | None = None,
        least_excluded: bool = False,
        unit: str = "",
    ) -> None:
        self.flag = flag
        self.help = help
        self.metavar = metavar
        #: int, float, or None: the text as given (a path, a URL, a duration, an instant)
        self.type = type
        self.default = default
        self.action = action
        self.least = least
        self.most = most
        self.least_excluded = least_excluded
        self.unit = unit

    def __repr__(self) -> str:
        return f"<Option {self.flag}>"

    @property
    def dest(self) -> str:
        """The attribute of pytest's ``config.option``: ``confluence_concurrency``."""
        return self.flag.removeprefix("--").replace("-", "_")

    @property
    def field(self) -> str:
        """The field of :class:`GateOptions` that holds the value: ``concurrency``."""
        return self.dest.removeprefix("confluence_")

    def parser_arguments(self) -> dict[str, Any]:
        """The keyword arguments of ``parser.addoption``: only those this option sets."""
        given = {
            "action": self.action,
            "type": self.type,
            "default": self.default,
            "metavar": self.metavar,
            "help": self.help,
        }
        return {name: value for name, value in given.items() if value is not None}


class IniOption:
    """One ini option of the gate: the arguments of ``parser.addini``."""

    __slots__ = ("default", "help", "name", "type")

    def __init__(
        self,
        name: str,
        help: str,
        *,
        type: Literal["string", "paths", "args", "linelist", "bool"],
        default: Any,
    ) -> None:
        self.name = name
        self.help = help
        self.type = type
        self.default = default


POLICY = Option(
    "--confluence-policy",
    metavar="PATH",
    help="policy file naming the pages that must be approved; enables the gate. "
    "Secrets come only from the environment: CONFLUENCE_USERNAME + CONFLUENCE_API_TOKEN "
    "(Cloud API token, HTTP Basic) or CONFLUENCE_PERSONAL_TOKEN (bearer: OAuth 2.0 "
    "access token); neither: anonymous; a replay reads none of them",
)
URL = Option(
    "--confluence-url",
    metavar="URL",
    help="wiki base URL, e.g. https://acme.atlassian.net/wiki "
    "(default: $CONFLUENCE_URL, then the policy's site:)",
)
CONCURRENCY = Option(
    "--confluence-concurrency",
    type=int,
    default=DEFAULT_CONCURRENCY,
    metavar="N",
    help="most requests in flight at once; below it the gate finds the site's pace "
    f"itself, slowing down on 429/503 (1 to {MAX_CONCURRENCY}; default: "
    f"{DEFAULT_CONCURRENCY})",
    least=1,
    most=MAX_CONCURRENCY,
    unit="requests in flight at once",
)
TIMEOUT = Option(
    "--confluence-timeout",
    type=float,
    default=DEFAULT_TIMEOUT,
    metavar="SECONDS",
    help=f"timeout of each request (more than 0, at most {MAX_TIMEOUT:g}; default: "
    f"{DEFAULT_TIMEOUT:g})",
    least=0.0,
    most=MAX_TIMEOUT,
    least_excluded=True,
    unit="seconds for each request",
)
RETRIES = Option(
    "--confluence-retries",
    type=int,
    default=DEFAULT_RETRIES,
    metavar="N",
    help="retries on 429, 502-504 and connection errors, honouring Retry-After "
    f"(0 to {MAX_RETRIES}; default: {DEFAULT_RETRIES})",
    least=0,
    most=MAX_RETRIES,
    unit="retries",
)
DEADLINE = Option(
    "--confluence-deadline",
    default=DEFAULT_DEADLINE,
    metavar="DURATION",
    help="time all network work of the run may take (queries, pages, histories, names, "
    f"body reads), e.g. 90s, 10m (at most {spelled_duration(MAX_DEADLINE)}; default: "
    f"{DEFAULT_DEADLINE}); --confluence-wait counts on top; a Retry-After beyond it "
    "fails at once instead of sleeping",
    least=0.0,
    most=MAX_DEADLINE,
)
WAIT = Option(
    "--confluence-wait",
    metavar="DURATION",
    help=f"wait up to this long (e.g. 30m; at most {spelled_duration(MAX_WAIT)}) for pages "
    "whose only failures are approvers not done yet, re-checking them every "
    "--confluence-poll",
    least=0.0,
    most=MAX_WAIT,
)
POLL = Option(
    "--confluence-poll",
    default=DEFAULT_POLL,
    metavar="DURATION",
    help=f"how often to re-check while waiting ({spelled_duration(MIN_POLL)} to "
    f"{spelled_duration(MAX_POLL)}; default: {DEFAULT_POLL})",
    least=MIN_POLL,
    most=MAX_POLL,
)
AS_OF = Option(
    "--confluence-as-of",
    metavar="ISO8601",
    help="judge approval age at this instant (default: now; in replay: the recording time)",
)
RECORD = Option(
    "--confluence-record",
    metavar="PATH",
    help="write everything fetched to this snapshot file",
)
REPLAY = Option(
    "--confluence-replay",
    metavar="PATH",
    help="evaluate from this snapshot file, with no network access",
)
REPORT = Option(
    "--confluence-report",
    metavar="PATH",
    help="write a JSON evidence report (format: schemas/report.schema.json)",
)
ATTESTATION = Option(
    "--confluence-attestation",
    metavar="PATH",
    help="write the verdict as an in-toto statement (test-result predicate) about the "
    "--confluence-subject artifacts",
)
SUBJECT = Option(
    "--confluence-subject",
    metavar="SUBJECT",
    action="append",
    help="what the attestation is about: a file (its name and SHA-256) or NAME@ALG:HEX "
    "(sha256, sha512, gitCommit); repeatable",
)
HTML = Option(
    "--confluence-html",
    metavar="PATH",
    help="write a self-contained HTML audit report (opens offline, prints on A4)",
)
INSECURE_HTTP = Option(
    "--confluence-insecure-http",
    action="store_true",
    default=False,
    help="allow plain http to a host other than this machine (credentials travel unencrypted)",
)

#: Every command-line option of the gate, in the order ``pytest --help`` lists them.
OPTIONS: tuple[Option, ...] = (
    POLICY,
    URL,
    CONCURRENCY,
    TIMEOUT,
    RETRIES,
    DEADLINE,
    WAIT,
    POLL,
    AS_OF,
    RECORD,
    REPLAY,
    REPORT,
    ATTESTATION,
    SUBJECT,
    HTML,
    INSECURE_HTTP,
)
#: Every ini option of the gate.
INI_OPTIONS: tuple[IniOption, ...] = (
    IniOption(
        "confluence_policy",
        "policy file for the Confluence approval gate (relative to the ini file)",
        type="string",
        default="",
    ),
)


class GateOptions(NamedTuple):
    """The gate's options as the user gave them (command line, ini), before validation."""

    policy: Path
    url: str | None = None
    concurrency: int = DEFAULT_CONCURRENCY
    timeout: float = DEFAULT_TIMEOUT
    retries: int = DEFAULT_RETRIES
    as_of: str | None = None
    record: Path | None = None
    replay: Path | None = None
    report: Path | None = None
    attestation: Path | None = None
    #: each --confluence-subject as given (parsed by subjects.parse_subjects)
    subject: tuple[str, ...] = ()
    html: Path | None = None
    insecure_http: bool = False
    deadline: str = DEFAULT_DEADLINE
    wait: str | None = None
    poll: str = DEFAULT_POLL


#: the GateOptions fields that name a file (made absolute where pytest reads them)
PATH_FIELDS = frozenset({"record", "replay", "report", "attestation", "html"})


def validate_options(options: GateOptions) -> tuple[float, float | None, float]:
    """Every option's bounds and the combinations that cannot work, in a fixed order (the
    first problem is the one reported); raises ConfigurationError. Reads nothing.

    Returns the time options in seconds: the deadline, the wait (None: do not wait) and
    the poll interval.
    """
    for option in (CONCURRENCY, TIMEOUT, RETRIES):
        _check_number(option, getattr(options, option.field))
    if options.attestation and not options.subject:
        raise _refused(
            "--confluence-attestation needs --confluence-subject: an attestation is always "
            "about something (a file, or NAME@sha256:HEX)"
        )
    if options.record and options.replay:
        raise _refused(
            "--confluence-record and --confluence-replay cannot be combined: a replay "
            "fetches nothing new to record"
        )
    deadline = parse_option_duration(options.deadline, DEADLINE)
    wait = parse_option_duration(options.wait, WAIT) if options.wait else None
    poll = parse_option_duration(options.poll, POLL)
    if wait is not None and options.replay:
        raise _refused(
            "--confluence-wait cannot be combined with --confluence-replay: a snapshot "
            "never changes"
        )
    return deadline, wait, poll


def _refused(message: str) -> ConfigurationError:
    """The usage error of an option refused (errors.py loads now: see the module docstring)."""
    from .errors import ConfigurationError

    return ConfigurationError(message)


def _number(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:g}"


def _check_number(option: Option, value: float) -> None:
    least, most = option.least, option.most
    assert least is not None and most is not None
    # Written so that NaN is refused too: every comparison with it is false.
    above_least = least < value if option.least_excluded else least <= value
    if not (above_least and value <= most):
        accepted = (
            f"more than {_number(least)} and at most {_number(most)}"
            if option.least_excluded
            else f"{_number(least)} to {_number(most)}"
        )
        raise _refused(
            f"{option.flag} {_number(value)} is out of range: give {accepted} {option.unit}"
        )


# Two duration languages, on purpose two parsers: this one reads the time options
# (``90s``, ``30m``, ``2h``: elapsed seconds for the run's deadline and polling, a usage
# error naming the option); expiry.parse_calendar_duration reads a policy's max_age
# (``6 months``, ``P6M``: calendar months and days counted from an approval, an error
# the policy loader places at its file and line). Neither accepts the other's spelling,
# and neither result could stand for the other's (a month is no fixed number of seconds).
# A pattern, not a compiled one: ``re`` compiles it on first use (not in every pytest run).
_DURATION = r"^\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*$"
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600}


def parse_option_duration(text: str, option: Option) -> float:
    """``90``, ``90s``, ``30m`` or ``2h`` -> seconds: more than zero and within the
    option's bounds (a typo of many digits must not become a wait of centuries)."""
    least, most = option.least or 0.0, option.most
    assert most is not None
    found = re.match(_DURATION, text)
    seconds = float(found.group(1)) * _UNIT_SECONDS[found.group(2)] if found else 0.0
    if seconds <= 0:
        raise _refused(
            f"{option.flag} {text!r} is not a duration such as 90s, 30m or 2h (more than zero)"
        )
    if not least <= seconds <= most:
        shorter = seconds < least
        raise _refused(
            f"{option.flag} {text!r} is {'shorter' if shorter else 'longer'} than "
            f"{spelled_duration(least if shorter else most)}: give "
            + (
                f"{spelled_duration(least)} to {spelled_duration(most)}"
                if least
                else f"at most {spelled_duration(most)}"
            )
        )
    return seconds


def parse_as_of(text: str) -> datetime:
    """``--confluence-as-of``: an ISO 8601 date or date-time, typed by a person (spaces
    around it and lower case are fine; without an offset it is UTC); raises
    ConfigurationError."""
    from .instants import parse_instant

    try:
        return parse_instant(text.strip().upper(), naive_as_utc=True)
    except ValueError:
        raise _refused(
            f"--confluence-as-of {text!r} is not an ISO 8601 instant such as 2025-08-01T10:00:00Z"
        ) from None
