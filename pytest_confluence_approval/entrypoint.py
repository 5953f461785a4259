"""The module pytest's ``pytest11`` entry point names: options, the marker, and the switch.

Every pytest run in an environment where the plugin is installed imports this
module, with or without the gate. So it imports nothing heavy: requests, urllib3,
jsonschema, PyYAML and the gate itself load only when ``--confluence-policy`` (or
the ini option ``confluence_policy``) turns the gate on.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .settings import INI_OPTIONS, OPTIONS

MARKER = "confluence_approval"
#: The key of xdist's workerinput by which the controller tells each worker it runs the
#: gate's items itself.
ON_CONTROLLER = "confluence_approval_on_controller"


def pytest_addoption(parser: pytest.Parser) -> None:
    # Every option is defined once, in settings.py (stdlib only, so this stays light).
    group = parser.getgroup("confluence-approval", "Confluence approval gate")
    for option in OPTIONS:
        group.addoption(option.flag, **option.parser_arguments())
    for ini in INI_OPTIONS:
        parser.addini(ini.name, ini.help, type=ini.type, default=ini.default)


#: the pytest-xdist workers the command line asked for, where the gate runs alone and so
#: runs in one process instead (see _decline_xdist)
XDIST_DECLINED = pytest.StashKey[str]()


def _decline_xdist(config: pytest.Config) -> None:
    """The gate alone under pytest-xdist: one process, as no worker would have a test.

    With no paths on the command line the gate runs alone (the testpaths are not
    collected), and under xdist the controller runs the gate's items itself: each worker
    would start, collect nothing and stop, about a second of CPU that a 2-core runner
    takes from the fetch (``addopts = -n auto`` plus a separate gate step is the usual
    way to get there). Asking xdist for no workers, as ``-n 0`` does, gives the same
    items, outputs and exit code without them; the report header says so. Called from
    pytest_configure: xdist reads these options in its own, which runs last.
    """
    requested = getattr(config.option, "numprocesses", None)  # None: xdist not loaded
    if (
        not requested
        or config.args_source == pytest.Config.ArgsSource.ARGS
        or hasattr(config, "workerinput")
    ):
        return
    config.stash[XDIST_DECLINED] = str(requested)
    config.option.numprocesses = 0
    config.option.dist = "no"
    config.option.tx = []


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARKER}: a Confluence page's approval, checked by pytest-confluence-approval"
    )
    policy = policy_path(config)
    if policy is None:
        return
    _decline_xdist(config)
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:
        # A pytest-xdist worker: the controller runs the gate's items itself (see
        # plugin.py), so a worker neither loads the gate nor collects the policy file;
        # but only on the controller's word, or no process would judge the pages.
        if not workerinput.get(ON_CONTROLLER):
            raise pytest.UsageError(
                "confluence approval gate: this pytest-xdist worker was not told that its "
                "controller runs the gate's pages, so none would judge them; run the gate "
                "without -n, or with the same pytest-confluence-approval on every node"
            )
        config.args = [arg for arg in config.args if not names_file(arg, policy)]
        if config.args_source != pytest.Config.ArgsSource.ARGS:
            config.args = []  # the gate alone: the testpaths are not collected
        return
    from .plugin import enable_gate  # the heavy part: only now that the gate is on

    enable_gate(config, policy)


def policy_path(config: pytest.Config) -> Path | None:
    """The policy file, absolute: the command line's, else the ini file's (relative to it)."""
    given = config.getoption("confluence_policy")
    if given:
        return absolute_path(given)
    from_ini = str(config.getini("confluence_policy") or "")
    if from_ini:
        base = config.inipath.parent if config.inipath else config.rootpath
        return absolute_path(base / from_ini)
    return None


def absolute_path(path: str | os.PathLike[str]) -> Path:
    """Absolute and normalized (``..`` removed, symlinks kept), the way pytest names its nodes.

    ``Path.absolute()`` keeps ``..``: ``../policy.yaml`` would stay ``sub/../policy.yaml``,
    never equal to the path pytest collects, and the policy would be "not found".
    """
    return Path(os.path.abspath(path))


def names_file(arg: str, path: Path) -> bool:
    """Whether a command-line argument (a path or a node id) names this file."""
    try:
        return Path(arg.split("::")[0]).absolute().resolve() == path.resolve()
    except OSError:
        return False
