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

Pure apart from writing the statement (subjects are parsed, and their files hashed,
before any request: subjects.py). The same inputs give a
byte-identical file: fields in the specification's order, lists sorted, no clock read.
Nothing secret is in the inputs, so nothing secret can be in the file.
"""

from __future__ import annotations

import enum
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from . import TOOL_NAME
from .result import GateResult
from .runfacts import FileDigest, Standing, https_url, standing
from .snapshot import utc_iso, write_text_atomically
from .subjects import Subject, SubjectError

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://in-toto.io/attestation/test-result/v0.1"

_SHA256 = re.compile(r"[0-9a-f]{64}")


class AttestedResult(enum.Enum):
    """The test-result predicate's ``result``."""

    PASSED = "PASSED"
    WARNED = "WARNED"
    FAILED = "FAILED"


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
