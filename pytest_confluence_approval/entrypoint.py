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


def pytest_addoption(parser: pytest.Parser) -> None:
    # Every option is defined once, in settings.py (stdlib only, so this stays light).
    group = parser.getgroup("confluence-approval", "Confluence approval gate")
    for option in OPTIONS:
        group.addoption(option.flag, **option.parser_arguments())
    for ini in INI_OPTIONS:
        parser.addini(ini.name, ini.help, type=ini.type, default=ini.default)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARKER}: a Confluence page's approval, checked by pytest-confluence-approval"
    )
    policy = policy_path(config)
    if policy is None:
        return
    from . import xdist_support  # light: a pytest-xdist worker loads nothing more

    if xdist_support.configure(config, policy):
        return  # a pytest-xdist worker: its controller runs the gate's items itself
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
