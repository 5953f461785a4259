"""One gate run: resolved settings, the facts (live or replayed) and the verdicts.

Knows nothing of pytest, so the plugin stays glue and this stays testable.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, time, timezone
from pathlib import Path
from time import monotonic
from typing import Literal

from .confluence import (
    ConfigurationError,
    ConfluenceClient,
    ConfluenceError,
    Credentials,
    Deadline,
    normalize_site,
)
from .entrypoint import (
    DEFAULT_CONCURRENCY,
    DEFAULT_DEADLINE,
    DEFAULT_POLL,
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT,
)
from .facts import FetchFailure, GroupMembers, PageFacts, QueryResult
from .fetch import fetch_all, fetch_groups, fetch_versions
from .pace import Pace
from .policy import Policy, Waiver, load_policy
from .snapshot import Snapshot, dump_snapshot, load_snapshot
from .verdict import (
    Outcome,
    PageView,
    Verdict,
    evaluate,
    mentioned_accounts,
    needs_versions,
    read_page,
    unverifiable,
)

Mode = Literal["live", "replay"]
WaiverState = Literal["applied", "expired", "unused"]


@dataclass(frozen=True)
class GateOptions:
    """The gate's options as the user gave them (command line, ini), before validation."""

    policy: Path
    url: str | None = None
    concurrency: int = DEFAULT_CONCURRENCY
    timeout: float = DEFAULT_TIMEOUT
    retries: int = DEFAULT_RETRIES
    as_of: str | None = None
    record: Path | None = None
    replay: Path | None = None
    #: the replay file is this run's own xdist handoff, sealed with this key (snapshot.py)
    handoff_key: str | None = field(default=None, repr=False)
    report: Path | None = None
    insecure_http: bool = False
    deadline: str = DEFAULT_DEADLINE
    wait: str | None = None
    poll: str = DEFAULT_POLL


@dataclass(frozen=True)
class GateSettings:
    policy: Policy
    site: str
    mode: Mode
    credentials: Credentials
    as_of: datetime | None
    snapshot: Snapshot | None
    options: GateOptions
    #: seconds the whole fetch may take
    deadline: float
    #: --confluence-wait / --confluence-poll in seconds (wait None: do not wait)
    wait: float | None
    poll: float

    @classmethod
    def resolve(
        cls, options: GateOptions, environ: Mapping[str, str] | None = None
    ) -> GateSettings:
        """Validate everything up front; raises PolicyError, SnapshotError or ConfigurationError.

        ``environ`` defaults to the process environment, read where it is needed: no
        frame that can raise keeps it in a local, where ``pytest -l`` would print it.
        """
        if options.concurrency < 1:
            raise ConfigurationError("--confluence-concurrency must be 1 or more")
        if not options.timeout > 0:
            raise ConfigurationError("--confluence-timeout must be more than 0 seconds")
        if options.retries < 0:
            raise ConfigurationError("--confluence-retries must be 0 or more")
        if options.record and options.replay:
            raise ConfigurationError(
                "--confluence-record and --confluence-replay cannot be combined: a replay "
                "fetches nothing new to record"
            )
        deadline = parse_duration(options.deadline, "--confluence-deadline")
        wait = parse_duration(options.wait, "--confluence-wait") if options.wait else None
        poll = parse_duration(options.poll, "--confluence-poll")
        if wait is not None and options.replay:
            raise ConfigurationError(
                "--confluence-wait cannot be combined with --confluence-replay: a snapshot "
                "never changes"
            )
        # A replay sends nothing, so it reads no secret at all: a half-set or conflicting
        # pair in the environment of a replay is none of its business.
        credentials = (
            Credentials("anonymous") if options.replay else Credentials.from_environment(environ)
        )
        policy = load_policy(options.policy)
        as_of = parse_instant(options.as_of) if options.as_of else None
        if policy.site:  # checked even when overridden: a policy's site must be valid
            try:
                normalize_site(policy.site, allow_insecure_http=True)
            except ConfigurationError as exc:
                raise ConfigurationError(f"{options.policy}: site: {exc}") from None
        configured = (
            options.url
            or (os.environ if environ is None else environ).get("CONFLUENCE_URL")
            or policy.site
        )
        snapshot = (
            load_snapshot(options.replay, handoff_key=options.handoff_key)
            if options.replay
            else None
        )
        if snapshot is not None:
            site = snapshot.site
            if configured and normalize_site(configured, allow_insecure_http=True) != site:
                raise ConfigurationError(
                    f"{options.replay}: the snapshot was recorded from {site}, but the "
                    f"configured site is {configured}; replay the snapshot of this site"
                )
        elif configured:
            site = normalize_site(configured, allow_insecure_http=options.insecure_http)
        else:
            raise ConfigurationError(
                "no Confluence site given: pass --confluence-url, set CONFLUENCE_URL, or put "
                f"site: in {options.policy}"
            )
        return cls(
            policy=policy,
            site=site,
            mode="replay" if snapshot else "live",
            credentials=credentials,
            as_of=as_of,
            snapshot=snapshot,
            options=options,
            deadline=deadline,
            wait=wait,
            poll=poll,
        )


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600}


def parse_duration(text: str, option: str) -> float:
    """``90``, ``90s``, ``30m`` or ``2h`` -> seconds (more than zero)."""
    found = _DURATION.match(text)
    seconds = float(found.group(1)) * _UNIT_SECONDS[found.group(2)] if found else 0.0
    if seconds <= 0:
        raise ConfigurationError(
            f"{option} {text!r} is not a duration such as 90s, 30m or 2h (more than zero)"
        )
    return seconds


def _duration(seconds: float) -> str:
    if seconds >= 120:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"


def parse_instant(text: str) -> datetime:
    """ISO 8601 date or date-time; without an offset it is taken as UTC."""
    try:
        parsed = datetime.fromisoformat(text.strip().upper().replace("Z", "+00:00"))
    except ValueError:
        raise ConfigurationError(
            f"--confluence-as-of {text!r} is not an ISO 8601 instant such as 2025-08-01T10:00:00Z"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


class Gate:
    """Fetches once, then answers verdicts for the pages of this session."""

    def __init__(self, settings: GateSettings) -> None:
        self.settings = settings
        self.rules = {rule.page_id: rule for rule in settings.policy.pages}
        #: cql -> what it found; None until resolve_queries() ran
        self.query_results: dict[str, QueryResult] | None = None
        #: cql -> the page ids that query contributes (not listed explicitly or earlier)
        self.query_pages: dict[str, list[str]] = {}
        self.waivers = {w.page_id: w for w in settings.policy.waivers}
        self.facts: dict[str, PageFacts] = {}
        #: each fetched page's payloads read once (the approval validated once)
        self.views: dict[str, PageView] = {}
        self.verdicts: dict[str, Verdict] = {}
        #: account id -> display name, looked up once per run (or taken from the snapshot)
        self.names: dict[str, str] = {}
        #: group name -> members, for required_groups: fetched once per run (or replayed)
        self.groups: dict[str, GroupMembers] = {}
        self.as_of: datetime | None = None
        self.recorded_at: datetime | None = None
        #: The run's one time limit, shared by every phase that goes to the network:
        #: queries, pages and properties, version histories, display names and the
        #: polling of --confluence-wait (whose time counts on top of the deadline).
        self.deadline = Deadline(settings.deadline + (settings.wait or 0.0))
        #: Where links for people point: the site's own base URL as Confluence states it
        #: (``_links.base``), never Atlassian's API gateway that the requests go to.
        self.link_base = settings.snapshot.site if settings.snapshot else settings.site
        #: the pace of every client this gate made, for the summary's "requests at up to N"
        self.paces: list[Pace] = []

    def resolve_queries(self) -> None:
        """Turn ``cql:`` entries into page rules (once). Raises ConfigurationError for a
        waiver that names a page neither listed nor found."""
        if self.query_results is not None:
            return
        s = self.settings
        queries = s.policy.queries
        results: dict[str, QueryResult] = {}
        if s.snapshot is not None:
            for q in queries:
                results[q.cql] = s.snapshot.queries.get(q.cql) or QueryResult(
                    failure=FetchFailure(
                        "the query is not in the snapshot; record a new snapshot that includes it"
                    )
                )
        elif queries:
            with self._client() as client:
                for q in queries:
                    try:
                        results[q.cql] = QueryResult(pages=tuple(client.search_pages(q.cql)))
                    except ConfluenceError as exc:
                        results[q.cql] = QueryResult(failure=FetchFailure(exc.message, exc.status))
        self.query_results = results
        for q in queries:
            # An explicit id entry wins over a query; of two queries, the first wins.
            mine: list[str] = []
            for page_id, title in results[q.cql].pages:
                if page_id not in self.rules:
                    self.rules[page_id] = replace(
                        q.rule, page_id=page_id, name=q.rule.name or title or None
                    )
                    mine.append(page_id)
            self.query_pages[q.cql] = mine
        if any(r.failure for r in results.values()):
            return  # a failed query fails the gate anyway; its pages are unknown
        for waiver in s.policy.waivers:
            if waiver.page_id not in self.rules:
                raise ConfigurationError(
                    f"{s.policy.path}:{waiver.line}: waivers: page {waiver.page_id} is neither "
                    "in the policy's pages nor found by its queries; a waiver can only cover a "
                    "page the gate checks"
                )

    @contextmanager
    def _client(self) -> Iterator[ConfluenceClient]:
        """A client for one phase, spending from the run's deadline."""
        s = self.settings
        client = ConfluenceClient(
            s.site,
            s.credentials,
            timeout=s.options.timeout,
            retries=s.options.retries,
            concurrency=s.options.concurrency,
            deadline=self.deadline,
        )
        self.paces.append(client.pace)
        try:
            yield client
        except KeyboardInterrupt:
            self.deadline.cancel()  # Ctrl-C: cut whatever is still in flight
            raise
        finally:
            client.close()
            self.deadline.stop_watching()
            if client.human_base and self.link_base == s.site:
                self.link_base = client.human_base

    def pace_reached(self) -> str | None:
        """ "fetched 1,503 requests at up to 32 in flight (...)", or None if nothing was sent."""
        sent = sum(p.sent for p in self.paces)
        if not sent:
            return None
        peak = max(p.peak for p in self.paces)
        push_backs = sum(p.push_backs for p in self.paces)
        slowed = (
            f"; the site asked to slow down {push_backs:,} time{'s' if push_backs > 1 else ''}"
            if push_backs
            else ""
        )
        return (
            f"fetched {sent:,} request{'s' if sent > 1 else ''} at up to {peak} in flight "
            f"(ceiling {self.settings.options.concurrency}{slowed})"
        )

    def prepare(
        self, page_ids: Iterable[str], progress: Callable[[str], None] | None = None
    ) -> None:
        """Fetch (or replay) the facts for these pages, all at once. Idempotent.

        With ``--confluence-wait``, pages whose only failures are approvers not done
        yet are fetched again every poll interval until they pass or time runs out.
        """
        wanted = [p for p in dict.fromkeys(page_ids) if p not in self.facts]
        if not wanted and self.as_of is not None:
            return
        s = self.settings
        if s.snapshot is not None:
            self.recorded_at = s.snapshot.recorded_at
            self.as_of = s.as_of or s.snapshot.recorded_at
            self.facts.update({p: s.snapshot.facts_for(p) for p in wanted})
            self.names.update(s.snapshot.names)
            for group in self._groups_for(wanted):
                self.groups[group] = s.snapshot.groups.get(group) or GroupMembers(
                    failure=FetchFailure(
                        f'group "{group}" is not in the snapshot; record a new snapshot '
                        "that includes it"
                    )
                )
            return
        fetched_at = self._fetch(wanted)
        if s.wait is not None:
            fetched_at = self._wait(wanted, fetched_at, progress or (lambda _: None))
        self.as_of = s.as_of or fetched_at
        if s.options.record:
            dump_snapshot(
                s.options.record,
                site=s.site,
                recorded_at=fetched_at,
                facts=self.facts,
                names=self.names,
                queries=self.query_results or {},
                groups=self.groups,
            )

    def _groups_for(self, page_ids: Iterable[str]) -> list[str]:
        """The required groups of these pages whose members this run has not read yet."""
        wanted = (r.group for p in page_ids for r in self.rules[p].required_groups)
        return [g for g in dict.fromkeys(wanted) if g not in self.groups]

    def _fetch(self, wanted: list[str]) -> datetime:
        """One round of requests for these pages; returns when it started."""
        s = self.settings
        fetched_at = datetime.now(timezone.utc)
        with self._client() as client:
            # Group members are read beside the pages, not after them: each group once per run.
            side = ThreadPoolExecutor(max_workers=1, thread_name_prefix="confluence-groups")
            groups = side.submit(
                fetch_groups,
                client,
                self._groups_for(wanted),
                concurrency=s.options.concurrency,
            )
            try:
                self._fetch_pages(client, wanted)
                self.groups.update(groups.result())
            except KeyboardInterrupt:
                # Ctrl-C: cut the group requests in flight too, and do not wait for them.
                self.deadline.cancel()
                side.shutdown(wait=False, cancel_futures=True)
                raise
            side.shutdown(wait=True)
        return fetched_at

    def _fetch_pages(self, client: ConfluenceClient, wanted: list[str]) -> None:
        """Pages, properties, the histories that are needed, and display names."""
        s = self.settings
        self.facts.update(
            fetch_all(
                client,
                wanted,
                property_key=s.policy.property_key,
                concurrency=s.options.concurrency,
            )
        )
        if client.human_base and self.link_base == s.site:
            self.link_base = client.human_base
        self.views.update(
            (p, read_page(self.facts[p], site=self.link_base, property_key=s.policy.property_key))
            for p in wanted
        )
        needing = [p for p in wanted if needs_versions(self.rules[p], self.views[p])]
        for page_id, (versions, failure) in fetch_versions(
            client, needing, concurrency=s.options.concurrency
        ).items():
            self.facts[page_id] = replace(
                self.facts[page_id], versions=versions, versions_failure=failure
            )
        accounts = set().union(*(mentioned_accounts(self.rules[p], self.views[p]) for p in wanted))
        self.names.update(client.get_display_names(accounts - self.names.keys()))

    def _wait(
        self, wanted: list[str], fetched_at: datetime, progress: Callable[[str], None]
    ) -> datetime:
        """Poll the pages that only wait for approvers; fail the others at once."""
        s = self.settings
        assert s.wait is not None
        give_up_at = monotonic() + s.wait
        while True:
            waiting = [p for p in wanted if self._judge(p, s.as_of or fetched_at).waitable]
            if not waiting:
                return fetched_at
            left = give_up_at - monotonic()
            labels = ", ".join(self.rules[p].label for p in waiting[:5])
            more = f" and {len(waiting) - 5} more" if len(waiting) > 5 else ""
            if left <= 0:
                progress(
                    f"confluence approval gate: stopped waiting after {_duration(s.wait)}; "
                    f"still waiting for approvers on {len(waiting)} page(s): {labels}{more}"
                )
                return fetched_at
            pause = min(s.poll, left)
            progress(
                f"confluence approval gate: waiting for approvers on {len(waiting)} page(s): "
                f"{labels}{more}; next check in {_duration(pause)}, {_duration(left)} left"
            )
            if self.deadline.expired():
                return fetched_at
            try:
                self.deadline.sleep(min(pause, max(self.deadline.remaining() or pause, 0)))
            except ConfluenceError:
                return fetched_at  # interrupted
            fetched_at = self._fetch(waiting)
            done = [p for p in waiting if self._judge(p, s.as_of or fetched_at).passed]
            if done:
                progress(
                    "confluence approval gate: now approved: "
                    + ", ".join(self.rules[p].label for p in done)
                )

    def _judge(self, page_id: str, as_of: datetime) -> Verdict:
        try:
            return evaluate(
                self.rules[page_id],
                self.facts[page_id],
                as_of=as_of,
                site=self.link_base,
                property_key=self.settings.policy.property_key,
                names=self.names,
                groups=self.groups,
                view=self.views.get(page_id),
            )
        except Exception as exc:  # a bug of ours must fail the page, not pass or crash it
            return unverifiable(
                self.rules[page_id],
                "could not verify: internal error while judging the page "
                f"({type(exc).__name__}: {exc}); please report this",
                f"{self.link_base}/pages/viewpage.action?pageId={page_id}",
            )

    def judged(self, page_ids: Iterable[str]) -> dict[str, Verdict]:
        """Verdicts of these (prepared) pages, without making them this session's."""
        assert self.as_of is not None
        return {p: self.verdicts.get(p) or self._judge(p, self.as_of) for p in page_ids}

    def verdict(self, page_id: str) -> Verdict:
        if page_id not in self.verdicts:
            self.prepare([page_id])
            assert self.as_of is not None
            self.verdicts[page_id] = self._judge(page_id, self.as_of)
        return self.verdicts[page_id]

    def waiver(self, page_id: str) -> tuple[Waiver, WaiverState] | None:
        """The page's waiver and whether it covers the verdict (judged at the as-of instant).

        A waiver covers "not approved" only: a page that could not be verified (an
        expired token, a site down) is never waived, or a broken gate would pass.
        """
        waiver = self.waivers.get(page_id)
        verdict = self.verdicts.get(page_id)
        if waiver is None or verdict is None or self.as_of is None:
            return None
        if verdict.outcome is not Outcome.NOT_APPROVED:
            return waiver, "unused"
        expires_at = datetime.combine(waiver.expires, time.min, tzinfo=timezone.utc)
        return waiver, "applied" if self.as_of < expires_at else "expired"

    def waived(self) -> set[str]:
        """The pages judged so far whose failure a waiver turned into an xfail."""
        return {p for p in self.verdicts if (w := self.waiver(p)) and w[1] == "applied"}

    def counts(self) -> dict[Outcome, int]:
        counts = dict.fromkeys(Outcome, 0)
        for v in self.verdicts.values():
            counts[v.outcome] += 1
        return counts
