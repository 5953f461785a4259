"""pytest glue: options, one item per policy page, failure text, header and summary."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
from _pytest.terminal import TerminalReporter

from .confluence import ConfigurationError
from .gate import Gate, GateOptions, GateSettings
from .policy import PageRule, PolicyError
from .snapshot import SnapshotError
from .verdict import Outcome, Verdict

MARKER = "confluence_approval"
gate_key = pytest.StashKey[Gate]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("confluence-approval", "Confluence approval gate")
    group.addoption(
        "--confluence-policy",
        metavar="PATH",
        help="policy file naming the pages that must be approved; enables the gate",
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
        default=8,
        metavar="N",
        help="requests in flight at once (default: 8)",
    )
    group.addoption(
        "--confluence-timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="timeout of each request (default: 30)",
    )
    group.addoption(
        "--confluence-retries",
        type=int,
        default=4,
        metavar="N",
        help="retries on 429, 502-504 and connection errors, honouring Retry-After (default: 4)",
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
    policy = _policy_path(config)
    if policy is None:
        return
    option = config.option
    options = GateOptions(
        policy=policy,
        url=option.confluence_url,
        concurrency=option.confluence_concurrency,
        timeout=option.confluence_timeout,
        retries=option.confluence_retries,
        as_of=option.confluence_as_of,
        record=_path(option.confluence_record),
        replay=_path(option.confluence_replay),
        insecure_http=option.confluence_insecure_http,
    )
    try:
        settings = GateSettings.resolve(options)
    except (PolicyError, SnapshotError, ConfigurationError) as exc:
        raise pytest.UsageError(f"confluence approval gate: {exc}") from None
    config.stash[gate_key] = Gate(settings)
    # With no positional arguments the gate runs alone (testpaths are not collected);
    # with some, it runs beside them.
    if config.args_source != pytest.Config.ArgsSource.ARGS:
        config.args = [str(policy)]
    elif not any(_same_file(arg, policy) for arg in config.args):
        config.args.append(str(policy))


def _policy_path(config: pytest.Config) -> Path | None:
    given = config.getoption("confluence_policy")
    if given:
        return Path(given).absolute()
    from_ini = str(config.getini("confluence_policy") or "")
    if from_ini:
        base = config.inipath.parent if config.inipath else config.rootpath
        return (base / from_ini).absolute()
    return None


def _path(value: str | None) -> Path | None:
    return Path(value).absolute() if value else None


def _same_file(arg: str, path: Path) -> bool:
    try:
        return Path(arg.split("::")[0]).absolute().resolve() == path.resolve()
    except OSError:
        return False


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    gate = config.stash.get(gate_key, None)
    if gate is None:
        return None
    s = gate.settings
    auth = "none needed (replay)" if s.mode == "replay" else s.credentials.describe()
    return [
        f"confluence approval gate: policy {s.policy.path} ({len(s.policy.pages)} pages)",
        f"confluence approval gate: site {s.site}, mode {s.mode}, auth {auth}",
    ]


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    gate = parent.config.stash.get(gate_key, None)
    if gate is not None and file_path == gate.settings.policy.path:
        return PolicyFile.from_parent(parent, path=file_path)
    return None


class PolicyFile(pytest.File):
    def collect(self) -> Iterator[ApprovalItem]:
        gate = self.config.stash[gate_key]
        for rule in gate.settings.policy.pages:
            name = f"page[{rule.page_id} {rule.name}]" if rule.name else f"page[{rule.page_id}]"
            yield ApprovalItem.from_parent(self, name=name, rule=rule)


class ApprovalNotGranted(Exception):
    """Raised by an item whose page is not approved; carries the verdict for the report."""

    def __init__(self, verdict: Verdict) -> None:
        super().__init__(verdict.explain())
        self.verdict = verdict


class ApprovalItem(pytest.Item):
    def __init__(self, *, rule: PageRule, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rule = rule
        self.add_marker(MARKER)

    def runtest(self) -> None:
        verdict = self.config.stash[gate_key].verdict(self.rule.page_id)
        if not verdict.passed:
            raise ApprovalNotGranted(verdict)

    def repr_failure(
        self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None
    ) -> str | Any:
        if isinstance(excinfo.value, ApprovalNotGranted):
            return excinfo.value.verdict.explain()
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.rule.line - 1, f"Confluence approval of {self.rule.label}"


@pytest.hookimpl(wrapper=True)
def pytest_runtestloop(session: pytest.Session) -> Generator[None, object, object]:
    gate = session.config.stash.get(gate_key, None)
    if gate is not None and not session.config.option.collectonly:
        # Fetch every selected page at once, before the first item runs, so the
        # items themselves only look up their verdicts.
        gate.prepare(i.rule.page_id for i in session.items if isinstance(i, ApprovalItem))
    return (yield)


def pytest_terminal_summary(terminalreporter: TerminalReporter, config: pytest.Config) -> None:
    gate = config.stash.get(gate_key, None)
    if gate is None or not gate.verdicts:
        return
    counts = gate.counts()
    terminalreporter.section("Confluence approval gate")
    terminalreporter.line(
        f"{counts[Outcome.APPROVED]} approved, {counts[Outcome.NOT_APPROVED]} not approved, "
        f"{counts[Outcome.UNVERIFIABLE]} not verifiable"
    )
    for verdict in sorted(gate.verdicts.values(), key=lambda v: v.rule.page_id):
        if not verdict.passed:
            terminalreporter.line(
                f"{verdict.outcome.value.upper()}: {verdict.rule.label}: {verdict.reasons[0]}"
                + (f" (+{len(verdict.reasons) - 1} more)" if len(verdict.reasons) > 1 else "")
            )
