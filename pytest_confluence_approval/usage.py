"""Usage errors (exit 4), rendered like every other line the gate prints.

Light (pytest and untrusted.py only): pytest-xdist's side of the gate raises them in a
worker, which never loads the rest of the gate.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from .untrusted import render_lines


def usage_error(problem: Exception | str) -> pytest.UsageError:
    """A usage error (exit 4) whose every line is rendered like any other line the gate
    prints: policy text, a path or a URL in it can neither start a line of its own nor
    carry a CI command (``##vso[``, ``::error::``) or a control character."""
    lines: Sequence[str] = getattr(problem, "lines", None) or (str(problem),)
    first, *rest = lines
    return pytest.UsageError(render_lines([f"confluence approval gate: {first}", *rest]))
