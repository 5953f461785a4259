"""A pytest release gate for Confluence pages approved with Capable Approval."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("pytest-confluence-approval")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0+unknown"

TOOL_NAME = "pytest-confluence-approval"
