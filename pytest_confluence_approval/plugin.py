"""The gate switched on: its settings resolved, its outputs checked, its plugins registered.

Imported only once the gate is on (see entrypoint.py), so it may import freely. One
plugin per concern, as pytest's cacheprovider keeps one per feature:

- collection.py: the policy file collected, cql: entries resolved, what was selected
  and dropped noted, every selected page fetched before the first item runs;
- ownership.py: the gate's items report its verdict, and the exit status its record;
- publish.py: the run's one result, and every file written from it;
- console.py: the report header, progress lines and the terminal summary;
- xdist_support.py: under pytest-xdist, the controller runs the gate's items itself
  (registered only where xdist is loaded).

The items themselves are items.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from . import junit, xdist_support
from .collection import GateCollection
from .console import GATE_ALONE_FROM_INI, Console
from .entrypoint import absolute_path, names_file
from .errors import GateUsageError
from .gate import Gate, GateSettings
from .items import gate_key
from .outputs import check_outputs
from .ownership import OwnedOutcome
from .publish import Publisher
from .settings import OPTIONS, PATH_FIELDS, GateOptions
from .usage import usage_error

#: The name of the gate's plugin as a whole: ``-p no:`` it is a usage error (README),
#: as it is for each of its parts (``confluence-approval-<part>``).
REPORTER = "confluence-approval-reporter"


def enable_gate(config: pytest.Config, policy: Path) -> None:
    """Turn the gate on for this session (called by the entry point's pytest_configure)."""
    option = config.option
    # Each option once, as settings.OPTIONS defines it: a new option needs no line here.
    given = {o.field: getattr(option, o.dest) for o in OPTIONS if o.field != "policy"}
    given |= {field: _path(given[field]) for field in PATH_FIELDS}
    given["subject"] = tuple(given["subject"] or ())
    options = GateOptions(policy=policy, **given)
    try:
        settings = GateSettings.resolve(options)
        # Before any request: an output must never overwrite an input or another output.
        check_outputs(
            policy=policy,
            replay=options.replay,
            report=options.report,
            record=options.record,
            attestation=options.attestation,
            html=options.html,
            junitxml=_junitxml_path(getattr(option, "xmlpath", None)),
            step_summary=_path(os.environ.get("GITHUB_STEP_SUMMARY")),
        )
    except GateUsageError as exc:  # a policy, snapshot, option or output path: exit 4
        raise usage_error(exc) from None
    if getattr(option, "xmlpath", None) and (problem := junit.check_pytest_junitxml()):
        raise usage_error(problem)
    gate = Gate(settings)
    config.stash[gate_key] = gate
    _register(config, gate)
    # With no positional arguments the gate runs alone (testpaths are not collected);
    # with some, it runs beside them.
    if config.args_source != pytest.Config.ArgsSource.ARGS:
        if config.option.confluence_policy is None:
            # Enabled by the ini, not asked for on this command line: whoever typed plain
            # `pytest` may expect the repository's tests too; the header says they ran
            # alone, and how to run both (see console.py).
            config.stash[GATE_ALONE_FROM_INI] = config.getini("testpaths") or ["."]
        config.args = [str(policy)]
    elif not any(names_file(arg, policy) for arg in config.args):
        config.args.append(str(policy))


def _register(config: pytest.Config, gate: Gate) -> None:
    """The gate's plugins, one per concern: all of them, or a usage error."""
    manager = config.pluginmanager
    if manager.is_blocked(REPORTER):
        raise pytest.UsageError(
            f"confluence approval gate: -p no:{REPORTER} blocks the gate's own plugin, so no "
            "page would be judged; remove it from the command line or addopts"
        )
    collection = GateCollection(config, gate)
    outcome = OwnedOutcome(config, gate, collection)
    publisher = Publisher(config, gate, collection)
    parts: dict[str, object] = {
        "collection": collection,
        "outcome": outcome,
        "outputs": publisher,
        "console": Console(gate, outcome, publisher),
    }
    if xdist_support.xdist_loaded(config):
        parts["xdist"] = xdist_support.XdistController(config, gate, collection)
    if blocked := [part for part in parts if manager.is_blocked(f"confluence-approval-{part}")]:
        raise pytest.UsageError(
            f"confluence approval gate: -p no:confluence-approval-{blocked[0]} blocks part of the "
            "gate's own plugin, which runs whole or not at all; remove it from the command "
            "line or addopts"
        )
    for part, plugin in parts.items():
        manager.register(plugin, f"confluence-approval-{part}")


def _path(value: str | None) -> Path | None:
    return absolute_path(value) if value else None


def _junitxml_path(value: str | None) -> Path | None:
    """The file pytest's junitxml will write: it expands ``$VARS`` and ``~`` first."""
    return _path(os.path.expanduser(os.path.expandvars(value))) if value else None
