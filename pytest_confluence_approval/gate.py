"""One gate run: resolved settings, then three phases whose results never change.

page set (the policy's ids and what its ``cql:`` entries found) -> facts (each page's
payloads, display names, group members, the as-of instant; fetched live or replayed)
-> verdicts (each page judged, its waiver weighed at the as-of instant). Every phase
that goes to the network spends from one :class:`Network`: the run's one deadline.

Knows nothing of pytest, so the plugin stays glue and this stays testable (the import
contract in pyproject.toml holds it to that); its options and their defaults come from
settings.py, below it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, time, timezone
from pathlib import Path
from time import monotonic
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal

from . import __version__
from .deadline import Deadline, MemoryBudget
from .errors import ConfigurationError, ConfluenceError
from .facts import FetchFailure, GroupMembers, PageFacts, QueryResult
from .pace import Pace
from .policy import PageRule, Policy, Waiver, load_policy
from .result import GateResult, QueryOutcome, RunFacts, WaiverState, WaiverUse, gate_result
from .runfacts import ci_run_url
from .scope import not_judged
from .settings import GateOptions as GateOptions
from .settings import parse_as_of, validate_options
from .site import Credentials, normalize_site
from .snapshot import Snapshot, dump_snapshot, load_snapshot
from .subjects import Subject, parse_subjects
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

if TYPE_CHECKING:
    from .confluence import ConfluenceClient
    from .request_loop import SharedPause
    from .transport import NetworkEnvironment

#: The most pages one ``cql:`` entry may bring into a run, and the most one run may
#: check (its ids and its queries' pages together): the replay scale the gate is
#: measured at. Beyond them the query fails, before any of its pages becomes an item
#: or is fetched, and a live search is not read on: an answer of millions of results
#: must not become millions of items.
MAX_PAGES_PER_QUERY = 50_000
MAX_PAGES_PER_RUN = 50_000

Mode = Literal["live", "replay"]


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
    #: --confluence-subject, parsed (files hashed) up front: what the attestation is about
    subjects: tuple[Subject, ...] = ()

    @classmethod
    def resolve(
        cls, options: GateOptions, environ: Mapping[str, str] | None = None
    ) -> GateSettings:
        """Validate everything up front; raises a GateUsageError (PolicyError, SnapshotError,
        ConfigurationError).

        ``environ`` defaults to the process environment, read where it is needed: no
        frame that can raise keeps it in a local, where ``pytest -l`` would print it.
        """
        deadline, wait, poll = validate_options(options)
        # Files hashed now, before any request: the statement names the bytes the run
        # began with, and a missing artifact stops the run before it fetches anything.
        subjects = parse_subjects(options.subject, Path.cwd())
        # A replay sends nothing, so it reads no secret at all: a half-set or conflicting
        # pair in the environment of a replay is none of its business.
        credentials = (
            Credentials("anonymous") if options.replay else Credentials.from_environment(environ)
        )
        policy = load_policy(options.policy)
        as_of = parse_as_of(options.as_of) if options.as_of else None
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
        snapshot = load_snapshot(options.replay) if options.replay else None
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
            subjects=subjects,
        )


def _duration(seconds: float) -> str:
    if seconds >= 120:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"


class Network:
    """What every phase that goes to the network shares: the run's one deadline and
    memory budget, and, once it first goes there, its pace (how many requests the site
    takes at once, learned once per run), the pause a site's Retry-After imposes on every
    worker, and the environment's proxies and CA bundle (read once per run)."""

    def __init__(self, settings: GateSettings) -> None:
        self.settings = settings
        #: The run's one time limit, created once and spent by every phase that goes to
        #: the network: queries, pages and properties, version histories, display names
        #: and the polling of --confluence-wait (whose time counts on top of the deadline).
        self.deadline = Deadline(settings.deadline + (settings.wait or 0.0))
        #: The memory the run's answers may take, spent by every client of the run.
        self.budget = MemoryBudget()
        self.pace = Pace(max(1, settings.options.concurrency))
        self._shared: tuple[SharedPause, NetworkEnvironment] | None = None

    @contextmanager
    def client(self) -> Iterator[ConfluenceClient]:
        """A client for one phase, spending from the run's deadline."""
        # Imported here: a replay never goes to the network and loads no HTTP stack.
        from .confluence import ConfluenceClient
        from .request_loop import SharedPause
        from .transport import NetworkEnvironment

        s = self.settings
        if self._shared is None:
            self._shared = SharedPause(self.deadline), NetworkEnvironment.read(s.site)
        pause, environment = self._shared
        client = ConfluenceClient(
            s.site,
            s.credentials,
            timeout=s.options.timeout,
            retries=s.options.retries,
            concurrency=s.options.concurrency,
            deadline=self.deadline,
            budget=self.budget,
            pace=self.pace,
            pause=pause,
            environment=environment,
        )
        try:
            yield client
        except KeyboardInterrupt:
            self.deadline.cancel()  # Ctrl-C: cut whatever is still in flight
            raise
        finally:
            client.close()
            self.deadline.stop_watching()

    def pace_reached(self) -> str | None:
        """ "fetched 1,503 requests at up to 32 in flight (...)", or None if nothing was sent."""
        pace = self.pace
        if not pace.sent:
            return None
        push_backs = pace.push_backs
        slowed = (
            f"; the site asked to slow down {push_backs:,} time{'s' if push_backs > 1 else ''}"
            if push_backs
            else ""
        )
        return (
            f"fetched {pace.sent:,} request{'s' if pace.sent > 1 else ''} at up to "
            f"{pace.peak} in flight (ceiling {self.settings.options.concurrency}{slowed})"
        )


# -- phase 1: the page set --------------------------------------------------------------


@dataclass(frozen=True)
class PageSet:
    """The pages this run checks: the policy's own ids, then what its ``cql:`` entries found."""

    #: page id -> its rule (an explicit id entry wins over a query; of two queries, the first)
    rules: Mapping[str, PageRule]
    #: cql -> what it found
    query_results: Mapping[str, QueryResult]
    #: cql -> the page ids that query contributes (not listed explicitly or earlier)
    query_pages: Mapping[str, tuple[str, ...]]
    #: the site's own base URL as the search answer stated it (``_links.base``), if it did
    stated_base: str | None = None


def resolve_page_set(settings: GateSettings, network: Network) -> PageSet:
    """Run the ``cql:`` entries (or read them from the snapshot) into page rules.

    Raises ConfigurationError for a waiver that names a page neither listed nor found.
    """
    policy = settings.policy
    rules = {rule.page_id: rule for rule in policy.pages}
    results: dict[str, QueryResult] = {}
    stated_base: str | None = None
    if settings.snapshot is not None:
        for q in policy.queries:
            results[q.cql] = settings.snapshot.queries.get(q.cql) or QueryResult(
                failure=FetchFailure(
                    "the query is not in the snapshot; record a new snapshot that includes it"
                )
            )
    elif policy.queries:
        with network.client() as client:
            for q in policy.queries:
                try:
                    found = client.search_pages(q.cql, stop_after=MAX_PAGES_PER_QUERY + 1)
                    results[q.cql] = QueryResult(pages=tuple(found))
                except ConfluenceError as exc:
                    results[q.cql] = QueryResult(failure=FetchFailure(exc.message, exc.status))
        stated_base = client.human_base
    query_pages: dict[str, tuple[str, ...]] = {}
    for q in policy.queries:
        results[q.cql] = _within_caps(results[q.cql], rules)
        mine: list[str] = []
        for page_id, title in results[q.cql].pages:
            if page_id not in rules:
                rules[page_id] = replace(q.rule, page_id=page_id, name=q.rule.name or title or None)
                mine.append(page_id)
        query_pages[q.cql] = tuple(mine)
    # A failed query fails the gate anyway; its pages are unknown, so are its waivers'.
    if not any(r.failure for r in results.values()):
        for waiver in policy.waivers:
            if waiver.page_id not in rules:
                raise ConfigurationError(
                    f"{policy.path}:{waiver.line}: waivers: page {waiver.page_id} is neither "
                    "in the policy's pages nor found by its queries; a waiver can only cover a "
                    "page the gate checks"
                )
    return PageSet(rules, results, query_pages, stated_base)


def _within_caps(result: QueryResult, in_run: Mapping[str, PageRule]) -> QueryResult:
    """What a query found, or why it fails: more pages than one query, or the run, may bring.

    ``in_run``: the pages the run checks already (the policy's ids, the queries before).
    Live and replayed results are held to the same caps, so a replay decides the same.
    """
    if result.failure is not None:
        return result
    if len(result.pages) > MAX_PAGES_PER_QUERY:
        return QueryResult(
            failure=FetchFailure(
                f"the query found more than {MAX_PAGES_PER_QUERY:,} pages, the most one query "
                "may bring into a run; narrow it (by space, label or ancestor, for example) "
                "so that it finds fewer"
            )
        )
    total = len(in_run) + len({p for p, _ in result.pages if p not in in_run})
    if total > MAX_PAGES_PER_RUN:
        return QueryResult(
            failure=FetchFailure(
                f"the query found {len(result.pages):,} pages; with the {len(in_run):,} the "
                f"run checks already (the policy's ids and the queries before it) that makes "
                f"{total:,}, more than the {MAX_PAGES_PER_RUN:,} pages one run may check; "
                "narrow the query, or split the policy into several runs"
            )
        )
    return result


# -- phase 2: the facts -----------------------------------------------------------------


@dataclass(frozen=True)
class Facts:
    """What the gate knows of the pages it judges, and the instant it judges them at."""

    pages: Mapping[str, PageFacts]
    #: each live-fetched page's payloads read once (the approval validated once); a
    #: replayed page is read while it is judged
    views: Mapping[str, PageView]
    #: account id -> display name, looked up once per run (or taken from the snapshot)
    names: Mapping[str, str]
    #: group name -> members, for required_groups: fetched once per run (or replayed)
    groups: Mapping[str, GroupMembers]
    as_of: datetime
    #: when the replayed snapshot was recorded; None in a live run
    recorded_at: datetime | None
    #: Where links for people point: the site's own base URL as Confluence states it
    #: (``_links.base``), never Atlassian's API gateway that the requests go to.
    link_base: str


def gather_facts(
    settings: GateSettings,
    page_set: PageSet,
    page_ids: Iterable[str],
    network: Network,
    progress: Callable[[str], None] | None = None,
    known: Facts | None = None,
) -> Facts:
    """Fetch (or replay) the facts of these pages, all at once, on top of those ``known``.

    With ``--confluence-wait``, pages whose only failures are approvers not done yet
    are fetched again every poll interval until they pass or time runs out.
    """
    wanted = [p for p in dict.fromkeys(page_ids) if known is None or p not in known.pages]
    if known is not None and not wanted:
        return known
    if settings.snapshot is not None:
        return _replayed(settings, page_set, wanted, known)
    fetching = _Fetching(settings, page_set, network, known)
    fetched_at = fetching.round(wanted)
    if settings.wait is not None:
        fetched_at = fetching.wait(wanted, fetched_at, progress or (lambda _: None))
    facts = fetching.facts(as_of=settings.as_of or fetched_at)
    if settings.options.record:
        dump_snapshot(
            settings.options.record,
            site=settings.site,
            recorded_at=fetched_at,
            facts=facts.pages,
            names=facts.names,
            queries=page_set.query_results,
            groups=facts.groups,
        )
    return facts


def _replayed(
    settings: GateSettings, page_set: PageSet, wanted: list[str], known: Facts | None
) -> Facts:
    snapshot = settings.snapshot
    assert snapshot is not None
    pages = _ReplayedPages(snapshot, [*(known.pages if known else ()), *wanted])
    groups = dict(known.groups) if known else {}
    for group in _groups_for(page_set, wanted, groups):
        groups[group] = snapshot.groups.get(group) or GroupMembers(
            failure=FetchFailure(
                f'group "{group}" is not in the snapshot; record a new snapshot that includes it'
            )
        )
    return Facts(
        pages=pages,
        views=known.views if known else {},
        names={**(known.names if known else {}), **snapshot.names},
        groups=groups,
        as_of=settings.as_of or snapshot.recorded_at,
        recorded_at=snapshot.recorded_at,
        link_base=known.link_base if known else settings.site,
    )


class _ReplayedPages(Mapping[str, PageFacts]):
    """The replayed pages a run asked for, each read from the snapshot when it is used.

    Decoding them all up front would hold every page's payloads at once; judged one at a
    time, only one page's are (see snapshot.RecordedPages).
    """

    def __init__(self, snapshot: Snapshot, page_ids: Iterable[str]) -> None:
        self._snapshot = snapshot
        self._page_ids = dict.fromkeys(page_ids)

    def __getitem__(self, page_id: str) -> PageFacts:
        if page_id not in self._page_ids:
            raise KeyError(page_id)
        return self._snapshot.facts_for(page_id)

    def __contains__(self, page_id: object) -> bool:
        return page_id in self._page_ids  # without decoding the page, as Mapping's would

    def __iter__(self) -> Iterator[str]:
        return iter(self._page_ids)

    def __len__(self) -> int:
        return len(self._page_ids)


def _groups_for(
    page_set: PageSet, page_ids: Iterable[str], read: Mapping[str, object]
) -> list[str]:
    """The required groups of these pages whose members this run has not read yet."""
    wanted = (r.group for p in page_ids for r in page_set.rules[p].required_groups)
    return [g for g in dict.fromkeys(wanted) if g not in read]


class _Fetching:
    """The live facts phase at work: its rounds of requests fill these, then freeze them."""

    def __init__(
        self, settings: GateSettings, page_set: PageSet, network: Network, known: Facts | None
    ) -> None:
        self.settings = settings
        self.page_set = page_set
        self.network = network
        self.pages = dict(known.pages) if known else {}
        self.views = dict(known.views) if known else {}
        self.names = dict(known.names) if known else {}
        self.groups = dict(known.groups) if known else {}
        self.link_base = known.link_base if known else page_set.stated_base or settings.site
        #: what the last re-check's pages weighed: the next re-check replaces them
        self._replaceable = 0

    def facts(self, as_of: datetime) -> Facts:
        return Facts(self.pages, self.views, self.names, self.groups, as_of, None, self.link_base)

    def round(self, wanted: list[str], *, recheck: bool = False) -> datetime:
        """One round of requests for these pages; returns when it started.

        A ``recheck`` (while waiting) replaces what the pages held: it is let go of
        first, and the previous re-check's weight given back to the run's memory budget
        (the first round's is kept, a bound that holds whatever it weighed).
        """
        from .fetch import fetch_groups  # the HTTP stack: live runs only

        s = self.settings
        if recheck:
            for page_id in wanted:
                self.pages.pop(page_id, None)
                self.views.pop(page_id, None)
            self.network.budget.give_back(self._replaceable)
        fetched_at = datetime.now(timezone.utc)
        with self.network.client() as client:
            # Group members are read beside the pages, not after them: each group once per run.
            side = ThreadPoolExecutor(max_workers=1, thread_name_prefix="confluence-groups")
            groups = side.submit(
                fetch_groups,
                client,
                _groups_for(self.page_set, wanted, self.groups),
                concurrency=s.options.concurrency,
            )
            try:
                weighed = self._pages(client, wanted)
                self._replaceable = weighed if recheck else 0
                self.groups.update(groups.result())
            except KeyboardInterrupt:
                # Ctrl-C: cut the group requests in flight too, and do not wait for them.
                self.network.deadline.cancel()
                side.shutdown(wait=False, cancel_futures=True)
                raise
            finally:
                self._learn_base(client.human_base)
            side.shutdown(wait=True)
        return fetched_at

    def _learn_base(self, stated: str | None) -> None:
        if stated and self.link_base == self.settings.site:
            self.link_base = stated

    def _pages(self, client: ConfluenceClient, wanted: list[str]) -> int:
        """Pages, properties, the histories that are needed, and display names; returns
        what the pages' answers weighed (names are kept for the run: not counted)."""
        from .fetch import fetch_all, fetch_versions

        s = self.settings
        rules = self.page_set.rules
        weighed_before = client.weighed
        recording = s.options.record is not None

        def keep(facts: PageFacts) -> PageFacts:
            """Each page read once, as soon as it is complete; of its payloads only what a
            recording writes is kept (a replay keeps them as compact JSON, and reads them
            while judging): a live run holds about what a replay of it holds."""
            self._learn_base(client.human_base)
            view = read_page(facts, site=self.link_base, property_key=s.policy.property_key)
            self.views[facts.page_id] = view
            return facts if recording else PageFacts(facts.page_id, failure=facts.failure)

        self.pages.update(
            fetch_all(
                client,
                wanted,
                property_key=s.policy.property_key,
                concurrency=s.options.concurrency,
                keep=keep,
            )
        )
        self._learn_base(client.human_base)
        needing = [p for p in wanted if needs_versions(rules[p], self.views[p])]
        for page_id, (versions, failure) in fetch_versions(
            client, needing, concurrency=s.options.concurrency
        ).items():
            self.pages[page_id] = replace(
                self.pages[page_id], versions=versions, versions_failure=failure
            )
        weighed = client.weighed - weighed_before
        accounts = set().union(*(mentioned_accounts(rules[p], self.views[p]) for p in wanted))
        self.names.update(client.get_display_names(accounts - self.names.keys()))
        return weighed

    def wait(
        self, wanted: list[str], fetched_at: datetime, progress: Callable[[str], None]
    ) -> datetime:
        """Poll the pages that only wait for approvers; fail the others at once."""
        s = self.settings
        assert s.wait is not None
        deadline = self.network.deadline
        rules = self.page_set.rules
        give_up_at = monotonic() + s.wait
        while True:
            as_of = s.as_of or fetched_at
            waiting = [p for p in wanted if self._judge(p, as_of).waitable]
            if not waiting:
                return fetched_at
            left = give_up_at - monotonic()
            labels = ", ".join(rules[p].label for p in waiting[:5])
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
            if deadline.expired():
                return fetched_at
            try:
                deadline.sleep(min(pause, max(deadline.remaining() or pause, 0)))
            except ConfluenceError:
                return fetched_at  # interrupted
            fetched_at = self.round(waiting, recheck=True)
            as_of = s.as_of or fetched_at
            done = [p for p in waiting if self._judge(p, as_of).passed]
            if done:
                progress(
                    "confluence approval gate: now approved: "
                    + ", ".join(rules[p].label for p in done)
                )

    def _judge(self, page_id: str, as_of: datetime) -> Verdict:
        return judge(self.settings, self.page_set, self.facts(as_of), page_id)


# -- phase 3: the verdicts --------------------------------------------------------------


@dataclass(frozen=True)
class Judgement:
    """Each page's verdict, and its waiver as it stands at the facts' as-of instant."""

    verdicts: Mapping[str, Verdict]
    #: page id -> its waiver and whether it covers the verdict
    waivers: Mapping[str, WaiverUse]


def judge(settings: GateSettings, page_set: PageSet, facts: Facts, page_id: str) -> Verdict:
    """One page's verdict at the facts' as-of instant; a bug of ours fails the page."""
    rule = page_set.rules[page_id]
    try:
        return evaluate(
            rule,
            facts.pages[page_id],
            as_of=facts.as_of,
            site=facts.link_base,
            property_key=settings.policy.property_key,
            names=facts.names,
            groups=facts.groups,
            view=facts.views.get(page_id),
        )
    except Exception as exc:  # a bug of ours must fail the page, not pass or crash it
        return unverifiable(
            rule,
            "could not verify: internal error while judging the page "
            f"({type(exc).__name__}: {exc}); please report this",
            f"{facts.link_base}/pages/viewpage.action?pageId={page_id}",
        )


def waiver_use(waiver: Waiver, verdict: Verdict, as_of: datetime) -> WaiverUse:
    """Whether a page's waiver covers its verdict at the as-of instant.

    A waiver covers "not approved" only: a page that could not be verified (an
    expired token, a site down) is never waived, or a broken gate would pass.
    """
    if verdict.outcome is not Outcome.NOT_APPROVED:
        return WaiverUse(waiver, WaiverState.UNUSED)
    expires_at = datetime.combine(waiver.expires, time.min, tzinfo=timezone.utc)
    return WaiverUse(waiver, WaiverState.APPLIED if as_of < expires_at else WaiverState.EXPIRED)


def judge_pages(
    settings: GateSettings,
    page_set: PageSet,
    facts: Facts,
    page_ids: Iterable[str],
) -> Judgement:
    """The verdicts of these pages."""
    verdicts = {p: judge(settings, page_set, facts, p) for p in page_ids}
    policy_waivers = {w.page_id: w for w in settings.policy.waivers}
    waivers = {
        p: waiver_use(w, v, facts.as_of)
        for p, v in verdicts.items()
        if (w := policy_waivers.get(p)) is not None
    }
    return Judgement(verdicts, waivers)


# -- the run ----------------------------------------------------------------------------


class Gate:
    """One run of the gate: its phases in order, each result kept once it is known, and
    the pages this session has judged so far (the items that ran, or the reports an
    xdist controller received)."""

    def __init__(self, settings: GateSettings) -> None:
        self.settings = settings
        self.network = Network(settings)
        self.page_set: PageSet | None = None
        self.facts: Facts | None = None
        self._judgement = Judgement({}, {})
        self._judged: dict[str, Verdict] = {}

    def resolve(self) -> PageSet:
        """Phase 1 (once). Raises ConfigurationError for a waiver of an unknown page."""
        if self.page_set is None:
            self.page_set = resolve_page_set(self.settings, self.network)
        return self.page_set

    def prepare(
        self, page_ids: Iterable[str], progress: Callable[[str], None] | None = None
    ) -> Judgement:
        """Phases 2 and 3 for these pages, all at once; pages already judged are kept."""
        page_set = self.resolve()
        wanted = [p for p in page_ids if p not in self._judgement.verdicts]
        if self.facts is not None and not wanted:
            return self._judgement
        self.facts = facts = gather_facts(
            self.settings, page_set, wanted, self.network, progress, known=self.facts
        )
        snapshot = self.settings.snapshot
        new = judge_pages(self.settings, page_set, facts, wanted)
        if snapshot is not None:
            snapshot.settle(wanted)  # judged: only their fetch failures are read again
        old = self._judgement
        self._judgement = Judgement(
            {**old.verdicts, **new.verdicts}, {**old.waivers, **new.waivers}
        )
        return self._judgement

    def verdict(self, page_id: str) -> Verdict:
        """The page's verdict, now judged in this session."""
        if page_id not in self._judgement.verdicts:
            self.prepare([page_id])
        verdict = self._judged[page_id] = self._judgement.verdicts[page_id]
        return verdict

    @property
    def verdicts(self) -> Mapping[str, Verdict]:
        """The verdicts of the pages judged in this session so far."""
        return MappingProxyType(self._judged)

    def waiver(self, page_id: str) -> WaiverUse | None:
        """The waiver of a page judged in this session, and whether it covers the verdict."""
        return self._judgement.waivers.get(page_id) if page_id in self._judged else None

    def result(
        self,
        *,
        deselected: Collection[str],
        policy_path: str,
        node_ids: Mapping[str, str] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> GateResult:
        """The run's one record, once every page due has been judged (or the run stopped).

        ``deselected``: the pages -k, -m or --deselect dropped; ``policy_path``: the policy
        file as the outputs name it; ``node_ids``: the gate items' node ids, by page id
        and by CQL; ``environ`` (default: the process's): where the CI run's URL is read.
        """
        s, page_set, facts = self.settings, self.resolve(), self.facts
        return gate_result(
            self._judged.values(),
            facts=RunFacts(
                mode=s.mode,
                site=s.site,
                policy_path=policy_path,
                policy_sha256=s.policy.sha256,
                auth="none" if s.mode == "replay" else s.credentials.kind,
                gate_version=__version__,
                as_of=facts.as_of if facts else None,
                recorded_at=facts.recorded_at if facts else None,
                pace=self.network.pace_reached(),
                ci_run_url=ci_run_url(os.environ if environ is None else environ),
            ),
            waivers={p: w for p in self._judged if (w := self.waiver(p)) is not None},
            not_judged=not_judged(
                in_scope=page_set.rules,
                judged=self._judged,
                deselected=deselected,
                queries=s.policy.queries,
                results=page_set.query_results,
            ),
            rules=page_set.rules,
            queries=[
                QueryOutcome(q, page_set.query_results[q.cql], page_set.query_pages[q.cql])
                for q in s.policy.queries
            ],
            names=facts.names if facts else {},
            fetched=facts.pages if facts else {},
            node_ids=node_ids,
        )
