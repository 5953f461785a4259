"""Fetch the facts for every page at once, concurrently, before any verdict is made."""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from .confluence import ConfluenceClient, ConfluenceError
from .facts import PageFacts


def fetch_all(
    client: ConfluenceClient,
    page_ids: Iterable[str],
    *,
    property_key: str | None,
    concurrency: int,
) -> dict[str, PageFacts]:
    ids = list(dict.fromkeys(page_ids))
    if not ids:
        return {}
    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(ids)))) as pool:
        facts = pool.map(lambda page_id: fetch_page(client, page_id, property_key), ids)
        return {f.page_id: f for f in facts}


def fetch_page(client: ConfluenceClient, page_id: str, property_key: str | None) -> PageFacts:
    """Never raises: one broken page must not crash the run or hide the others."""
    try:
        page = client.get_page(page_id)
        properties = client.get_properties(page_id, property_key)
    except ConfluenceError as exc:
        return PageFacts.failed(page_id, exc.message, exc.status)
    except Exception as exc:  # fail closed on anything unforeseen, without a traceback
        return PageFacts.failed(
            page_id, f"unexpected error while fetching the page ({type(exc).__name__})"
        )
    return PageFacts(page_id=page_id, page=page, properties=properties)
