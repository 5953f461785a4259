"""An application's repository whose pytest setup breaks every gate run that obeys it.

What a release gate meets in a typical application repository (each is a finding of a
gate-only CI job): ``addopts`` naming a plugin the gate's job does not install, a
conftest.py importing the application's dependencies, a plugin auto-loaded because it is
installed, ``testpaths`` and ``confluence_policy`` in the ini file, and options or plugins
from the CI job's environment.
"""

from __future__ import annotations

import shutil
from collections.abc import Collection
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

#: Each part alone stops plain pytest (tests/test_isolated.py shows it), as this says.
PARTS = {
    "addopts": "unrecognized arguments: --cov=app",
    "conftest": "No module named 'app_dependency_not_in_the_gate_job'",
    "root-conftest": "the repository's conftest.py ran",
    "plugin": "an auto-loaded plugin ran",
    "PYTEST_ADDOPTS": "unrecognized arguments: --strict-app-settings",
    "PYTEST_PLUGINS": "No module named 'app_pytest_plugin'",
}

#: The CI job's environment of the parts "PYTEST_ADDOPTS" and "PYTEST_PLUGINS".
ENVIRONMENT = {"PYTEST_ADDOPTS": "--strict-app-settings", "PYTEST_PLUGINS": "app_pytest_plugin"}

PLUGIN = """\
def pytest_configure(config):
    raise RuntimeError("an auto-loaded plugin ran")
"""


def write_application_repository(root: Path, parts: Collection[str] = tuple(PARTS)) -> Path:
    """The repository at ``root`` with these hostile parts; returns its plugins' directory.

    The example policy and snapshot are in ``release/``; the ini's own policy
    (``confluence_policy``) names a page no snapshot holds. The returned directory looks
    like an installed distribution with a pytest11 entry point: on sys.path (PYTHONPATH
    in a subprocess), pytest's plugin autoload finds and loads it.
    """
    unknown = set(parts) - set(PARTS)
    assert not unknown, unknown
    (root / "release").mkdir(parents=True)
    for name in ("policy.yaml", "snapshot.json"):
        shutil.copy(EXAMPLES / name, root / "release" / name)
    (root / "release" / "ini-policy.yaml").write_text(
        'version: 1\npages:\n  - id: "999999"\n', encoding="utf-8"
    )
    (root / "tests").mkdir()
    (root / "tests" / "test_app.py").write_text("def test_app_unit():\n    pass\n")
    ini = ["[pytest]", "testpaths = tests", "confluence_policy = release/ini-policy.yaml"]
    if "addopts" in parts:
        ini.append("addopts = --cov=app")
    (root / "pytest.ini").write_text("\n".join(ini) + "\n", encoding="utf-8")
    if "conftest" in parts:
        (root / "tests" / "conftest.py").write_text(
            "import app_dependency_not_in_the_gate_job\n", encoding="utf-8"
        )
    if "root-conftest" in parts:
        (root / "conftest.py").write_text(
            "def pytest_configure(config):\n"
            '    raise RuntimeError("the repository\'s conftest.py ran")\n',
            encoding="utf-8",
        )
    plugins = root / ".installed"
    plugins.mkdir()
    if "plugin" in parts:
        (plugins / "app_autoloaded_plugin.py").write_text(PLUGIN, encoding="utf-8")
        info = plugins / "app_autoloaded_plugin-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            "Metadata-Version: 2.1\nName: app-autoloaded-plugin\nVersion: 1.0\n", encoding="utf-8"
        )
        (info / "entry_points.txt").write_text(
            "[pytest11]\napp_autoloaded = app_autoloaded_plugin\n", encoding="utf-8"
        )
    return plugins
