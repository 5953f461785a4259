"""What an attestation is about: each ``--confluence-subject``, parsed before any request.

``NAME@ALG:HEX`` (ALG ``sha256``, ``sha512`` or ``gitCommit``) or a file, named by its
base name and its SHA-256. A file's digest is taken when the options are read, before
anything is fetched, not when the attestation is written: the build artifact the
verdict is about must exist before the gate runs, and the statement then names exactly
the bytes that were there when the run began (a file that changes during the run does
not change what was attested).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .errors import GateUsageError
from .inputs import open_regular_file
from .untrusted import neutral

DigestAlgorithm = Literal["sha256", "sha512", "gitCommit"]
#: The algorithms a subject may name (as the DigestSet specification spells them, looked
#: up case-insensitively) and the lengths of their lowercase hex digests. A git commit id
#: is a SHA-1 (40 digits) or, in a SHA-256 repository, 64 digits.
_ALGORITHMS: dict[str, tuple[DigestAlgorithm, tuple[int, ...]]] = {
    "sha256": ("sha256", (64,)),
    "sha512": ("sha512", (128,)),
    "gitcommit": ("gitCommit", (40, 64)),
}
#: ``NAME@ALG:HEX``: after the last "@", an algorithm token, ":" and no path separator.
_DIGEST_FORM = re.compile(r"(?P<name>.*)@(?P<algorithm>[A-Za-z][A-Za-z0-9_-]*):(?P<hex>[^/\\]*)")
_HEX = re.compile(r"[0-9a-fA-F]+")
#: A subject's name is an artifact's name: far shorter than this.
MAX_SUBJECT_NAME = 1000
_CHUNK = 1 << 20


class SubjectError(GateUsageError):
    """A ``--confluence-subject`` that names no artifact: a usage error (exit 4)."""


@dataclass(frozen=True, slots=True)
class Subject:
    """One artifact the attestation is about: a name and one digest (lowercase hex)."""

    name: str
    algorithm: DigestAlgorithm
    digest: str


def file_sha256(path: Path) -> str:
    """The SHA-256 (hex) of a regular file, read a piece at a time; raises OSError."""
    digest = hashlib.sha256()
    with open_regular_file(path) as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def parse_subject(text: str, cwd: Path) -> Subject:
    """One ``--confluence-subject``: ``NAME@ALG:HEX``, or a file (relative to ``cwd``).

    A file is named by its base name (as ``actions/attest`` names a ``subject-path``)
    and its SHA-256. Raises :class:`SubjectError` for an empty value, an unknown
    algorithm, a digest of the wrong length or not hexadecimal, or a file that cannot
    be read (missing, a directory, a FIFO).
    """
    shown = neutral(text, 200)
    if not text.strip():
        raise SubjectError(
            "--confluence-subject is empty: give the file the verdict is about, or NAME@sha256:HEX"
        )
    if not text.isprintable():
        raise SubjectError(f"--confluence-subject {shown}: contains control characters")
    form = _DIGEST_FORM.fullmatch(text)
    if form is not None:
        return _digest_subject(shown, form["name"], form["algorithm"], form["hex"])
    path = Path(text)
    if not path.is_absolute():
        path = cwd / path
    try:
        digest = file_sha256(path)
    except OSError as exc:
        raise SubjectError(
            f"--confluence-subject {shown}: cannot read the file: {exc.strerror or exc} "
            "(to name an artifact by its digest instead, write NAME@sha256:HEX)"
        ) from None
    return Subject(_checked_name(shown, path.name), "sha256", digest)


def _digest_subject(shown: str, name: str, algorithm: str, hex_digest: str) -> Subject:
    known = _ALGORITHMS.get(algorithm.lower())
    if known is None:
        raise SubjectError(
            f"--confluence-subject {shown}: unknown digest algorithm {neutral(algorithm)!r}; "
            "use sha256, sha512 or gitCommit (NAME@sha256:HEX)"
        )
    spelled, lengths = known
    if not hex_digest:
        raise SubjectError(f"--confluence-subject {shown}: no digest after '{algorithm}:'")
    if _HEX.fullmatch(hex_digest) is None:
        raise SubjectError(
            f"--confluence-subject {shown}: the {spelled} digest is not hexadecimal "
            "(digits 0-9 and letters a-f only)"
        )
    if len(hex_digest) not in lengths:
        digits = " or ".join(map(str, lengths))
        raise SubjectError(
            f"--confluence-subject {shown}: a {spelled} digest has {digits} hexadecimal "
            f"digits; this one has {len(hex_digest)}"
        )
    return Subject(_checked_name(shown, name), spelled, hex_digest.lower())


def _checked_name(shown: str, name: str) -> str:
    if not name.strip():
        raise SubjectError(f"--confluence-subject {shown}: the artifact has no name before '@'")
    if len(name) > MAX_SUBJECT_NAME:
        raise SubjectError(
            f"--confluence-subject {shown}: the name is longer than {MAX_SUBJECT_NAME} characters"
        )
    return name


def parse_subjects(texts: Iterable[str], cwd: Path) -> tuple[Subject, ...]:
    """Every ``--confluence-subject``, in the order given, each artifact once.

    Two subjects of one name with different digests are a usage error: the statement's
    names must tell its subjects apart.
    """
    subjects: dict[str, Subject] = {}
    for text in texts:
        subject = parse_subject(text, cwd)
        known = subjects.setdefault(subject.name, subject)
        if known != subject:
            raise SubjectError(
                f"--confluence-subject: two subjects are named {neutral(subject.name)!r} "
                f"with different digests ({known.algorithm}:{known.digest} and "
                f"{subject.algorithm}:{subject.digest}); give each artifact its own name"
            )
    return tuple(subjects.values())
