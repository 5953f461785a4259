"""pytest-xdist: its controller runs the gate's items itself, and no worker sees them.

xdist sends each item's reports over its channel and re-emits them on the controller,
which costs more than judging a page: 5,000 pages took 1.7x (-n 2) to 2.3x (-n 4) the
time of one process. So the workers never collect the policy file, and the controller
collects and runs exactly the gate's items, through pytest's own collection and runtest
protocol: -k, -m, --deselect, node ids, the terminal, --junitxml and the outputs see
what one process sees. Where the gate runs alone (no test paths given), no worker would
have a test to run, and the run is one process instead.

Everything the gate does with xdist is here, and :class:`XdistController` is registered
only where xdist is loaded. What it leans on, in xdist and in pytest, which
:func:`check_xdist` verifies at start-up (a usage error naming what changed, not a run
that silently judges pages twice or not at all; tests/test_xdist.py fails loudly too):

- xdist's options ``numprocesses``, ``dist`` and ``tx``, which the gate alone sets to
  "no workers", as ``-n 0`` does (:func:`decline_workers`);
- its hooks ``pytest_configure_node`` (the controller's word reaches each worker in its
  ``workerinput``) and ``pytest_xdist_node_collection_finished`` (what a worker collected);
- its controller collects nothing: ``DSession.pytest_collection`` returns True (checked
  again when it runs), so the gate's items are collected there by the gate alone;
- it sets ``session.testscollected`` to the workers' count alone: the gate sets it
  again, to theirs and its own (the terminal's percentage and exit 5 read it);
- pytest's own runtest loop (``_pytest/main.py``, ``pytest_runtestloop``), copied for
  the controller's items: ``Session.shouldfail``, ``shouldstop``, ``Failed``,
  ``Interrupted``, ``perform_collect`` and the option ``continue_on_collection_errors``.

Light (pytest, entrypoint.py, nodeids.py, usage.py): a worker imports it, and never
loads the rest of the gate.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .entrypoint import names_file
from .nodeids import is_policy
from .usage import usage_error

if TYPE_CHECKING:
    from .collection import GateCollection
    from .gate import Gate

#: The key of xdist's workerinput by which the controller tells each worker it runs the
#: gate's items itself.
ON_CONTROLLER = "confluence_approval_on_controller"
#: the pytest-xdist workers the command line asked for, where the gate runs alone and so
#: runs in one process instead (see decline_workers)
XDIST_DECLINED = pytest.StashKey[str]()
#: The names xdist's plugin is registered under: autoloaded, and as ``-p xdist.plugin``.
_XDIST_PLUGIN = ("xdist", "xdist.plugin")
_XDIST_HOOKS = ("pytest_configure_node", "pytest_xdist_node_collection_finished")
#: xdist's options decline_workers changes, and pytest's that the runtest loop reads
_XDIST_OPTIONS = ("numprocesses", "dist", "tx", "continue_on_collection_errors")
#: what the copy of pytest's runtest loop uses of its session
_SESSION_LOOP = ("shouldfail", "shouldstop", "Failed", "Interrupted", "perform_collect")


def xdist_loaded(config: pytest.Config) -> bool:
    return any(config.pluginmanager.hasplugin(name) for name in _XDIST_PLUGIN)


def check_xdist(config: pytest.Config) -> str | None:
    """What the gate needs from pytest-xdist and pytest here and is missing, or None."""
    missing = [f"option {name}" for name in _XDIST_OPTIONS if not hasattr(config.option, name)]
    missing += [f"Session.{name}" for name in _SESSION_LOOP if not hasattr(pytest.Session, name)]
    if _distributing(config):
        # Only now: importing it costs 10 ms, which a run without workers need not pay.
        from xdist.dsession import DSession

        if not hasattr(DSession, "pytest_collection"):
            missing.append("DSession.pytest_collection")
    missing += [
        f"hook {name}"
        for name in _XDIST_HOOKS
        if (caller := getattr(config.hook, name, None)) is None or not caller.has_spec()
    ]
    if missing:
        return (
            f"this pytest-xdist or pytest has no {', '.join(missing)}; the gate cannot run "
            "its pages on the xdist controller: use versions the gate supports, or run it "
            "with -p no:xdist"
        )
    return None


def _distributing(config: pytest.Config) -> bool:
    """Whether xdist will start workers (its own test, xdist/plugin.py)."""
    option = config.option
    return (
        getattr(option, "dist", "no") != "no"
        and bool(getattr(option, "tx", None))
        and (not option.collectonly)
    )


def configure(config: pytest.Config, policy: Path) -> bool:
    """xdist's part of pytest_configure where the gate is on; True in a worker, which
    neither loads the gate nor collects the policy file."""
    if not xdist_loaded(config):
        return False
    workerinput = getattr(config, "workerinput", None)
    if workerinput is None:
        decline_workers(config)
        if problem := check_xdist(config):
            raise usage_error(problem)
        return False
    # A pytest-xdist worker: the controller runs the gate's items itself, so a worker
    # drops the policy file; but only on the controller's word, or no process would
    # judge the pages.
    if not workerinput.get(ON_CONTROLLER):
        raise pytest.UsageError(
            "confluence approval gate: this pytest-xdist worker was not told that its "
            "controller runs the gate's pages, so none would judge them; run the gate "
            "without -n, or with the same pytest-confluence-approval on every node"
        )
    config.args = [arg for arg in config.args if not names_file(arg, policy)]
    if config.args_source != pytest.Config.ArgsSource.ARGS:
        config.args = []  # the gate alone: the testpaths are not collected
    return True


def decline_workers(config: pytest.Config) -> None:
    """The gate alone under pytest-xdist: one process, as no worker would have a test.

    With no paths on the command line the gate runs alone (the testpaths are not
    collected), and under xdist the controller runs the gate's items itself: each worker
    would start, collect nothing and stop, about a second of CPU that a 2-core runner
    takes from the fetch (``addopts = -n auto`` plus a separate gate step is the usual
    way to get there). Asking xdist for no workers, as ``-n 0`` does, gives the same
    items, outputs and exit code without them; the report header says so. Called from
    pytest_configure: xdist reads these options in its own, which runs last.
    """
    requested = getattr(config.option, "numprocesses", None)  # (check_xdist: if it is gone)
    if not requested or config.args_source == pytest.Config.ArgsSource.ARGS:
        return
    config.stash[XDIST_DECLINED] = str(requested)
    config.option.numprocesses = 0
    config.option.dist = "no"
    config.option.tx = []


class XdistController:
    """The hooks of a pytest-xdist controller that runs the gate's items itself."""

    def __init__(self, config: pytest.Config, gate: Gate, collection: GateCollection) -> None:
        self.config = config
        self.gate = gate
        self.collection = collection
        #: the gate's items, when this is a pytest-xdist controller that runs them itself
        self.controller_items: list[pytest.Item] | None = None
        #: how many items the xdist workers collected (the repository's tests)
        self.worker_items = 0

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """This is a pytest-xdist controller: it, not the workers, runs the gate's items."""
        if self.controller_items is None:  # (also called for a crashed worker's successor)
            self.controller_items = []
        node.workerinput[ON_CONTROLLER] = True

    @pytest.hookimpl(wrapper=True)
    def pytest_collection(self, session: pytest.Session) -> Generator[None, object, object]:
        """Collect the gate's items on the controller, where xdist collects nothing."""
        result = yield
        if self.controller_items is not None:
            if result is not True:
                raise usage_error(
                    "pytest-xdist's controller collected tests itself (DSession."
                    "pytest_collection no longer returns True): the gate's pages would be "
                    "judged twice; use a pytest-xdist version the gate supports"
                )
            policy = self.gate.settings.policy.path
            args = [arg for arg in self.config.args if names_file(arg, policy)]
            self.controller_items = list(session.perform_collect(args or [str(policy)]))
        return result

    @pytest.hookimpl(wrapper=True)
    def pytest_runtestloop(self, session: pytest.Session) -> Generator[None, object, object]:
        if self.controller_items:
            # While the workers start and collect, as pytest's own loop would: after the
            # prefetch, so that the items only look up their verdicts.
            self.collection.prefetch(session)
            self._run_on_controller(session, self.controller_items)
        try:
            return (yield)
        finally:
            self._count_collected(session)

    def _run_on_controller(self, session: pytest.Session, items: list[pytest.Item]) -> None:
        """pytest's own runtest loop (_pytest/main.py), for the gate's items only."""
        if session.testsfailed and not self.config.option.continue_on_collection_errors:
            errors = session.testsfailed
            raise session.Interrupted(
                f"{errors} error{'s' if errors != 1 else ''} during collection"
            )
        for i, item in enumerate(items):
            nextitem = items[i + 1] if i + 1 < len(items) else None
            item.config.hook.pytest_runtest_protocol(item=item, nextitem=nextitem)
            if session.shouldfail:
                raise session.Failed(session.shouldfail)
            if session.shouldstop:
                raise session.Interrupted(session.shouldstop)
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None and self.config.get_verbosity() <= 0:
            reporter.write_line("")  # end the gate's line of dots before xdist's own lines

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: Sequence[str]) -> None:
        """Count a worker's items, and refuse one that collected the gate's pages.

        Called before xdist schedules anything, so no such item runs: a worker in another
        environment (``--tx``) may run another version of the plugin, which ignores the
        controller's word, and would judge pages a second time, in a second process.
        """
        self.worker_items = len(ids)
        policy, root = self.gate.settings.policy.path, self.config.rootpath
        # Each file once: a worker may collect tens of thousands of tests in a few files.
        files = {i.partition("::")[0] for i in ids}
        policy_files = {f for f in files if is_policy(f, policy, root)}
        pages = [i for i in ids if i.partition("::")[0] in policy_files]
        if pages:
            raise usage_error(
                f"pytest-xdist worker {node.gateway.id} collected the gate's pages "
                f"({pages[0]}{' and more' if pages[1:] else ''}), which this controller "
                "judges itself: they would be judged twice; install the same "
                "pytest-confluence-approval on every node"
            )

    def pytest_runtest_logstart(self) -> None:
        if self.controller_items:
            self._count_collected(self.controller_items[0].session)

    def _count_collected(self, session: pytest.Session) -> None:
        """xdist sets the count to the workers' items alone; the terminal's progress
        percentage and the "no tests collected" exit count the gate's items too."""
        if self.controller_items is not None:
            session.testscollected = self.worker_items + len(self.controller_items)
