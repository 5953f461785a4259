"""Every error the gate raises on purpose, under one base: what the plugin catches and how.

Two families, because they end a run differently:

- :class:`GateUsageError`: the semi-trusted side (the policy, the options, the
  environment, the files named) is unusable. The plugin catches this base once and
  stops with a usage error (exit 4) that shows the message.
- :class:`ConfluenceError`: work on the network could not be done. It fails the page or
  the query it was for (the run goes on with the others); it is never a usage error, so
  it is no :class:`GateUsageError`, and a catch of that family never swallows it.

Stdlib only, at the bottom of the layers: every module may import it.
"""

from __future__ import annotations


class GateError(Exception):
    """An error the gate raises itself; ``str()`` is written for the person who reads it."""


# -- usage errors: exit 4 -----------------------------------------------------------------


class GateUsageError(GateError):
    """The gate cannot run with what it was given; ``lines``: the message, one problem a line.

    Each line is rendered as a line of its own (see plugin.usage_error), so text from the
    policy or a path inside one (a key with a line break in it) stays inside it.
    """

    def __init__(self, *lines: str) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


class ConfigurationError(GateUsageError):
    """Options or environment that make the gate unusable (a usage error)."""


class PolicyError(GateUsageError):
    """The policy file is unusable; the message is written for the person who edits it."""


class SnapshotError(GateUsageError):
    """The snapshot file is unusable; the message names the file."""


class OutputError(GateUsageError):
    """An output path that would overwrite an input or another output (exit 4)."""


# -- text that is not what it should be -------------------------------------------------


class DurationError(GateError, ValueError):
    """The text is not a duration a policy may give; ``str()`` says what would be.

    Not a usage error by itself: the policy loader turns it into a PolicyError that
    names the file and line (a ValueError too, as it was before this base existed).
    """


# -- the network: a page or a query fails, the run goes on ------------------------------


class ConfluenceError(GateError):
    """A request failed; ``str()`` is the plain-language reason."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class RetryBudgetExceeded(ConfluenceError):
    """Waiting any longer would run past the gate's deadline."""


class Interrupted(ConfluenceError):
    """The run was interrupted (Ctrl-C): nothing more is fetched."""
