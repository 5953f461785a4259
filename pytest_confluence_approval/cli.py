"""``confluence-approval-gate POLICY [options]``: the gate alone, apart from the repository.

A release gate usually runs in the application's own repository, whose pytest setup was
written for its unit tests: ``addopts = --cov=app`` with pytest-cov not installed in the
gate's job ("unrecognized arguments"), a ``tests/conftest.py`` importing the
application's dependencies (ImportError), ``testpaths``, ``required_plugins``,
``filterwarnings = error``, plugins auto-loaded from whatever is installed. Plain
``pytest --confluence-policy`` meets all of that and stops with exit 4 before a page is
judged. This command runs pytest with none of it (see ISOLATION_ARGS and
ISOLATION_ENVIRONMENT); every pytest and ``--confluence-*`` option given after the policy
still applies, and the exit code is pytest's own (0, 1, 2, 4).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Mapping, Sequence

PROG = "confluence-approval-gate"

#: What isolates the run, and why each part is needed (none of the others covers it).
ISOLATION_ARGS = (
    # Configuration from this (empty) file instead of the repository's pytest.ini,
    # pyproject.toml, tox.ini or setup.cfg: no addopts, testpaths, confluence_policy,
    # required_plugins, filterwarnings, minversion. (`-o addopts=` would leave the rest.)
    "-c",
    os.devnull,
    # The rootdir would otherwise be the directory of that file; node ids (and the JUnit
    # names) are relative to where the gate runs, as with plain pytest from the root.
    "--rootdir",
    ".",
    # No conftest.py anywhere: neither the rootdir's nor one beside the policy.
    "--noconftest",
    # No .pytest_cache written into the repository.
    "-p",
    "no:cacheprovider",
    # The gate itself, by module: entry points are not loaded (ISOLATION_ENVIRONMENT).
    "-p",
    "pytest_confluence_approval.entrypoint",
)

#: The environment pytest runs with: no plugin loaded because it happens to be installed,
#: and none of the options or plugins a CI job's environment would add behind the
#: command line's back. None: the variable is removed.
ISOLATION_ENVIRONMENT: Mapping[str, str | None] = {
    "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
    "PYTEST_ADDOPTS": None,
    "PYTEST_PLUGINS": None,
}

USAGE = f"""\
usage: {PROG} POLICY [options]

Run the Confluence approval gate on the policy file POLICY, isolated from the
pytest setup of the repository it runs in: no conftest.py, no pytest.ini /
pyproject.toml / tox.ini / setup.cfg (their addopts, testpaths, confluence_policy),
no plugins loaded because they are installed, no PYTEST_ADDOPTS or PYTEST_PLUGINS,
no .pytest_cache. The repository's own tests are not collected.

options: any pytest option (--junitxml, -o junit_family=..., -v, -q, -r, -k, ...)
and every --confluence-* option; they are listed below. A plugin the run needs is
loaded by name: -p MODULE (e.g. -p xdist.plugin; the gate alone needs no -n).

exit codes, as pytest's: 0 every page approved, 1 a page is not approved or not
verifiable, 2 interrupted, 4 usage error (a bad policy, option or file).
"""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the gate isolated; returns pytest's exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("-h", "--help"):
        print(USAGE)
        sys.stdout.flush()
        return run_isolated_pytest(["--help"])
    if not args or args[0].startswith("-"):
        problem = (
            "the policy file is missing"
            if not args
            else f"the first argument must be the policy file, not the option {args[0]!r}"
        )
        print(f"{USAGE.splitlines()[0]}\n{PROG}: error: {problem}", file=sys.stderr)
        return 4  # pytest.ExitCode.USAGE_ERROR, without importing pytest for it
    policy, *options = args
    return run_isolated_pytest(["--confluence-policy", policy, *options])


def run_isolated_pytest(args: Sequence[str]) -> int:
    """pytest.main with ISOLATION_ARGS before ``args``, in ISOLATION_ENVIRONMENT."""
    import pytest

    with _environment(ISOLATION_ENVIRONMENT):
        return int(pytest.main([*ISOLATION_ARGS, *args]))


@contextlib.contextmanager
def _environment(changes: Mapping[str, str | None]) -> Iterator[None]:
    """os.environ with ``changes`` applied for the block, as it was afterwards.

    Restored because main() also runs inside another process's pytest session (tests,
    a caller's script), whose environment is not the gate's to keep.
    """
    saved = {name: os.environ.get(name) for name in changes}
    try:
        _apply(changes)
        yield
    finally:
        _apply(saved)


def _apply(values: Mapping[str, str | None]) -> None:
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


if __name__ == "__main__":  # python -m pytest_confluence_approval.cli
    sys.exit(main())
