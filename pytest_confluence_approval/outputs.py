"""Where the gate writes: outputs never destroy an input or each other.

Checked once, before any request: ``--confluence-report``, ``--confluence-record``,
``--confluence-attestation``, ``--confluence-html``, ``--junitxml`` and
``$GITHUB_STEP_SUMMARY`` must each be a different file from the
policy, the replayed snapshot and one another, however they are spelled (relative
paths, ``..``, symbolic links, hard links).
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import OutputError


def same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file: the same resolved path, or the same inode."""
    try:
        if a.resolve() == b.resolve():
            return True
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop (older Pythons)
        return False


def check_outputs(
    *,
    policy: Path,
    replay: Path | None,
    report: Path | None,
    record: Path | None,
    junitxml: Path | None,
    step_summary: Path | None,
    attestation: Path | None = None,
    html: Path | None = None,
) -> None:
    """Raise OutputError if an output would overwrite an input or another output."""
    inputs = [("the policy file", policy), ("--confluence-replay", replay)]
    outputs = [
        ("--confluence-report", report),
        ("--confluence-record", record),
        ("--confluence-attestation", attestation),
        ("--confluence-html", html),
        ("--junitxml", junitxml),
        ("GITHUB_STEP_SUMMARY", step_summary),
    ]
    given = [(name, path) for name, path in outputs if path is not None]
    for index, (name, path) in enumerate(given):
        if path.is_dir():
            raise OutputError(f"{name} {path} is a directory; name a file to write")
        for other, taken in [*inputs, *given[:index]]:
            if taken is not None and same_file(path, taken):
                kind = "input" if (other, taken) in inputs else "output"
                raise OutputError(
                    f"{name} {path} is the same file as {other} ({taken}); writing it would "
                    f"destroy that {kind}: give each output its own path"
                )


def write_step_summary(path: Path, text: str) -> None:
    """Append the job summary in one write call, so a failure leaves no half table.

    Raises OSError (a full disk, a read-only directory) for the caller to report.
    """
    data = text.encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        written = os.write(fd, data)
        if written != len(data):
            raise OSError(28, f"only {written} of {len(data)} bytes could be written")
    finally:
        os.close(fd)
