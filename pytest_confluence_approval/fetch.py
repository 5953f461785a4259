"""Fetch the facts for every page at once, concurrently, before any verdict is made.

Requests for N pages with a known property key: ceil(N/250) batches of page
metadata, then one properties request per page found, all through one pool of
``concurrency`` threads (and one pool of connections). A page the batch did not return
is asked for on its own, to tell "trashed" or "hidden" from "not found".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from typing import Any, TypeVar

from .confluence import PAGES_PER_BATCH, ConfluenceClient
from .errors import ConfluenceError
from .facts import FetchFailure, GroupMembers, PageFacts
from .pageids import is_page_id

T = TypeVar("T")


@contextmanager
def worker_pool(client: ConfluenceClient, concurrency: int) -> Iterator[ThreadPoolExecutor]:
    """A thread pool that an interrupt (Ctrl-C) stops at once.

    On Ctrl-C, queued requests are dropped, the connections in flight are cut (the
    run's deadline is cancelled) and nobody waits for the workers: they end on their
    own within moments.
    """
    pool = ThreadPoolExecutor(max_workers=max(1, concurrency))
    try:
        yield pool
    except KeyboardInterrupt:
        client.deadline.cancel()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    except BaseException:
        pool.shutdown(wait=True)
        raise
    pool.shutdown(wait=True)


def fetch_all(
    client: ConfluenceClient,
    page_ids: Iterable[str],
    *,
    property_key: str | None,
    concurrency: int,
    keep: Callable[[PageFacts], PageFacts] | None = None,
) -> dict[str, PageFacts]:
    """Never raises for a page: one broken page must not crash the run or hide the others.

    ``keep``: what of each page is kept, applied as soon as the page is complete, in the
    worker that completed it (the gate reads each page there and keeps only what its
    verdict needs, so a run never holds every page's payloads at once).
    """
    ids = list(dict.fromkeys(page_ids))
    if not ids:
        return {}
    kept = keep or _as_fetched
    facts: dict[str, PageFacts] = {}
    with worker_pool(client, concurrency) as pool:
        asked: dict[str, Future[PageFacts]] = {}

        def complete(page_id: str, page: Any) -> PageFacts:
            """The page's properties, then what is kept of the page (in a worker)."""
            properties, failure = _outcome(lambda: client.get_properties(page_id, property_key))
            if failure is not None:
                return kept(PageFacts(page_id, failure=failure))
            return kept(PageFacts(page_id, page=page, properties=properties))

        batches = [
            (chunk, pool.submit(client.get_pages, chunk))
            for chunk in (ids[i : i + PAGES_PER_BATCH] for i in range(0, len(ids), PAGES_PER_BATCH))
        ]
        singles: dict[str, Future[Any]] = {}
        while batches:
            # Taken off the list: once its pages are handed to their workers, nothing
            # holds a batch's answer.
            chunk, batch = batches.pop(0)
            found, failure = _outcome(batch.result)
            del batch
            if failure is not None and failure.status != 400:
                # The whole batch failed (credentials, site down, SSO page): that answer
                # holds for every page in it. Asking page by page would only repeat
                # doomed requests against a site that is already refusing.
                facts.update((p, kept(PageFacts(p, failure=failure))) for p in chunk)
                continue
            wanted = set(chunk)
            for page in found or []:
                page_id = page.get("id") if isinstance(page, dict) else None
                # An id that is not a string (or not an id) matches no wanted page: that
                # page is then asked for on its own, and only it can fail.
                if is_page_id(page_id) and page_id in wanted and page_id not in asked:
                    asked[page_id] = pool.submit(complete, page_id, page)
            del found
            for page_id in chunk:
                if page_id not in asked:
                    singles[page_id] = pool.submit(client.get_page, page_id)
        for page_id, single in singles.items():
            page, failure = _outcome(single.result)
            if failure is not None:
                facts[page_id] = kept(PageFacts(page_id, failure=failure))
            else:
                asked[page_id] = pool.submit(complete, page_id, page)
        # Waited for all at once: the main thread is woken once, not once per page
        # (each wake-up is a switch of the GIL between threads, paid per request).
        wait(asked.values())
        for page_id, future in asked.items():
            page_facts, failure = _outcome(future.result)  # an error of ``keep``'s own
            facts[page_id] = page_facts or PageFacts(page_id, failure=failure)
    return {page_id: facts[page_id] for page_id in ids}


def _as_fetched(facts: PageFacts) -> PageFacts:
    return facts


def _outcome(result: Callable[[], T]) -> tuple[T | None, FetchFailure | None]:
    try:
        return result(), None
    except ConfluenceError as exc:
        return None, FetchFailure(exc.message, exc.status)
    except Exception as exc:  # fail closed on anything unforeseen, without a traceback
        return None, FetchFailure(f"unexpected error while fetching ({type(exc).__name__})")


def fetch_versions(
    client: ConfluenceClient, page_ids: Iterable[str], *, concurrency: int
) -> dict[str, tuple[list[Any] | None, FetchFailure | None]]:
    """Version histories, only for the pages whose verdict needs them (minor edits)."""
    ids = list(dict.fromkeys(page_ids))
    if not ids:
        return {}
    with worker_pool(client, concurrency) as pool:
        futures = {p: pool.submit(client.get_versions, p) for p in ids}
        return {p: _outcome(f.result) for p, f in futures.items()}


def fetch_groups(
    client: ConfluenceClient, groups: Iterable[str], *, concurrency: int
) -> dict[str, GroupMembers]:
    """The members of each group (once per group), or why they could not be read."""
    names = list(dict.fromkeys(groups))
    if not names:
        return {}
    with worker_pool(client, min(concurrency, len(names))) as pool:
        futures = {g: pool.submit(client.get_group_members, g) for g in names}
        found: dict[str, GroupMembers] = {}
        for group, future in futures.items():
            members, failure = _outcome(future.result)
            found[group] = GroupMembers(frozenset(members or ()), failure)
        return found
