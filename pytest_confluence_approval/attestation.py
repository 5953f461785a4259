"""The gate's verdict as an in-toto attestation a deploy step can verify.

An in-toto Statement v1 (https://github.com/in-toto/attestation, spec/v1/statement.md)
whose predicate is the framework's standard test result
(``https://in-toto.io/attestation/test-result/v0.1``, spec/predicates/test-result.md):

- ``subject``: what the verdict is about, from ``--confluence-subject``: a file (its
  name and SHA-256) or ``NAME@ALG:HEX`` (:func:`parse_subject`);
- ``result``: ``PASSED`` only when every page in scope is approved and nothing was left
  unjudged; ``WARNED`` when the only exceptions are pages a waiver covers; ``FAILED``
  otherwise, including audit runs, partial runs and failed queries;
- ``configuration``: the policies, the snapshot replayed or recorded and the JSON report
  (each with its SHA-256), and the gate itself (a package URL, with the run's facts as
  annotations);
- ``url``: the CI run when known; ``passedTests`` / ``warnedTests`` / ``failedTests``:
  the gate items' node ids. An audit run lists every item as failed: it enforced nothing,
  so no verifier that looks at single tests may read a pass from it.

Pure apart from reading subject files and writing the statement. The same inputs give a
byte-identical file: fields in the specification's order, lists sorted, no clock read.
Nothing secret is in the inputs, so nothing secret can be in the file.
"""

from __future__ import annotations

import enum
import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

from . import TOOL_NAME
from .inputs import open_regular_file
from .result import GateResult
from .runfacts import FileDigest, Standing, https_url, standing
from .snapshot import utc_iso, write_text_atomically
from .untrusted import neutral

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://in-toto.io/attestation/test-result/v0.1"

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
_SHA256 = re.compile(r"[0-9a-f]{64}")
#: A subject's name is an artifact's name: far shorter than this.
MAX_SUBJECT_NAME = 1000
_CHUNK = 1 << 20


class SubjectError(Exception):
    """A ``--confluence-subject`` that names no artifact: a usage error (exit 4)."""


class AttestedResult(enum.Enum):
    """The test-result predicate's ``result``."""

    PASSED = "PASSED"
    WARNED = "WARNED"
    FAILED = "FAILED"


@dataclass(frozen=True, slots=True)
class Subject:
    """One artifact the attestation is about: a name and one digest (lowercase hex)."""

    name: str
    algorithm: DigestAlgorithm
    digest: str


@dataclass(frozen=True, slots=True)
class AttestationInput:
    """Everything the statement states, and nothing else: the run's one result, and the
    facts about files it does not hold."""

    subjects: tuple[Subject, ...]
    result: GateResult
    #: the snapshot the run replayed (``run.mode == "replay"``) or recorded (live)
    snapshot: FileDigest | None = None
    #: the JSON report, when the run writes one
    report: FileDigest | None = None


# --- subjects --------------------------------------------------------------------------------


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


# --- the statement ---------------------------------------------------------------------------


def attested_result(facts: AttestationInput) -> AttestedResult:
    """PASSED / WARNED / FAILED as the module docstring says; an audit run never passes."""
    if facts.result.facts.audit:
        return AttestedResult.FAILED
    run = standing(facts.result)
    if run is Standing.APPROVED:
        return AttestedResult.PASSED
    if run is Standing.APPROVED_WITH_WAIVERS:
        return AttestedResult.WARNED
    return AttestedResult.FAILED


def statement(facts: AttestationInput) -> dict[str, Any]:
    """The in-toto Statement as a JSON object, its fields in the specification's order."""
    if not facts.subjects:
        raise SubjectError("an attestation is about something: give --confluence-subject")
    result = facts.result
    passed: list[str] = []
    warned: list[str] = []
    failed = [q.node_id for q in result.queries if q.judged_nothing and q.node_id]
    for page in result.judged:
        if result.facts.audit:
            failed.append(page.node_id)  # enforced nothing: no single test passed the gate
        elif page.verdict.passed:
            passed.append(page.node_id)
        elif page.waived:
            warned.append(page.node_id)
        else:
            failed.append(page.node_id)
    predicate: dict[str, Any] = {
        "result": attested_result(facts).value,
        "configuration": _configuration(facts),
    }
    url = https_url(result.facts.ci_run_url)
    if url is not None:
        predicate["url"] = url
    predicate |= {
        "passedTests": sorted(passed),
        "warnedTests": sorted(warned),
        "failedTests": sorted(failed),
    }
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": s.name, "digest": {s.algorithm: s.digest}} for s in facts.subjects],
        "predicateType": PREDICATE_TYPE,
        "predicate": predicate,
    }


def _configuration(facts: AttestationInput) -> list[dict[str, Any]]:
    """ResourceDescriptors: each file the verdict rests on, then the gate that reached it."""
    run = facts.result.facts
    policy = FileDigest(run.policy_path, run.policy_sha256)
    files = [(policy, "application/yaml", "policy")]
    if facts.snapshot is not None:
        role = "snapshot-replayed" if run.mode == "replay" else "snapshot-recorded"
        files.append((facts.snapshot, "application/json", role))
    if facts.report is not None:
        files.append((facts.report, "application/json", "report"))
    descriptors = [
        {
            "name": file.path,
            "digest": {"sha256": _checked_sha256(file)},
            "mediaType": media_type,
            "annotations": {"role": role},
        }
        for file, media_type, role in files
    ]
    annotations: dict[str, Any] = {
        "role": "gate",
        # An audit run enforced nothing: its standing is not the gate's word.
        "standing": "audit" if run.audit else standing(facts.result).value,
        "mode": run.mode,
        "audit": run.audit,
        "site": run.site,
    }
    if run.as_of is not None:  # None only when no page was fetched
        annotations["asOf"] = utc_iso(run.as_of)
    if run.recorded_at is not None:
        annotations["recordedAt"] = utc_iso(run.recorded_at)
    if facts.result.not_judged:
        annotations["notJudged"] = facts.result.not_judged.as_json()
    if run.variables:
        annotations["variables"] = {name: run.variables[name] for name in sorted(run.variables)}
    descriptors.append(
        {
            "name": TOOL_NAME,
            "uri": f"pkg:pypi/{TOOL_NAME}@{quote(run.gate_version, safe='.-_~')}",
            "annotations": annotations,
        }
    )
    return descriptors


def _checked_sha256(file: FileDigest) -> str:
    if _SHA256.fullmatch(file.sha256) is None:
        raise ValueError(f"{file.path}: {file.sha256!r} is not a lowercase hex SHA-256")
    return file.sha256


def render_statement(facts: AttestationInput) -> str:
    """The statement as the file holds it: UTF-8 JSON, strict (no NaN), one trailing newline."""
    text = json.dumps(statement(facts), indent=2, ensure_ascii=False, allow_nan=False)
    return text + "\n"


def write_attestation(path: Path, facts: AttestationInput) -> None:
    """Write the statement atomically: a reader sees the old file or the whole new one."""
    write_text_atomically(path, render_statement(facts))
