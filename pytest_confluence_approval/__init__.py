"""A pytest release gate for Confluence pages approved with Capable Approval."""

from __future__ import annotations

import functools

TOOL_NAME = "pytest-confluence-approval"


def __getattr__(name: str) -> str:
    # Looked up on first use, not at import: every pytest run in an environment where
    # the plugin is installed imports this package, and reading the installed
    # distribution's metadata cost about 2 ms of each run's start-up.
    if name == "__version__":
        return _version()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@functools.cache
def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(TOOL_NAME)
    except PackageNotFoundError:  # pragma: no cover - a source tree without install
        return "0+unknown"
