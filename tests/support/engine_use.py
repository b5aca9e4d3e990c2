"""Which tests use the engine (cdktf or CDK Terrain), checked on every run: a pytest plugin.

CDK Terrain's run (``make test ENGINE=cdktn``) runs only the tests marked ``engine``; everything else runs
once, in cdktf's run. A marker that is missing would silently drop a test from the second engine, and one
that is wrong would run a test twice for nothing, so each test's use of the engine is observed, not trusted:

- in this process, every message to the jsii kernel (the Node.js process behind every cdktf object);
- in the processes a test starts (``main.py``, the CDK CLIs, the wheel's console script, at any depth), the
  jsii kernel's start, noted by ``engine_probe.js``, which ``NODE_OPTIONS`` preloads into every Node.js process;
- fixtures that used the engine while being set up count for every test that requests them, however the
  tests are ordered or spread over workers.

A test that used the engine without the marker, or carries it without using the engine, fails at teardown
with a message that says which way to fix it. ``@pytest.mark.engine("cdktf")`` marks a test that uses one
engine whatever the run's (the wheel's own, say): the other engines' runs skip it, saying why.
"""

from __future__ import annotations

from collections.abc import Generator
import json
import os
from pathlib import Path
import shutil
import tempfile
from typing import Any

import pytest

ENGINE_MARKER = "engine"
PROBE_VARIABLE = "PROGRAMMATIC_IAM_TEST_ENGINE_PROBE"
PROBE_SCRIPT = Path(__file__).with_name("engine_probe.js")
PROBE_NODE_OPTION = f"--require {json.dumps(str(PROBE_SCRIPT))}"
"""What ``NODE_OPTIONS`` must hold for the probe: a test that sets its own ``NODE_OPTIONS`` keeps this in it."""

_KERNEL_MESSAGES = [0]
"""Messages sent to this process's jsii kernel so far."""
_ENGINE_FIXTURES: set[tuple[str, str]] = set()
"""Fixtures that used the engine while being set up, in this worker: each as where it is defined and its name, since
two modules may each define a fixture of the same name."""
_AT_START = pytest.StashKey[tuple[int, int]]()
_CALL_PASSED = pytest.StashKey[bool]()


def _count_kernel_messages() -> None:
    from jsii._kernel.providers import process

    send = process._NodeProcess.send

    def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        _KERNEL_MESSAGES[0] += 1
        return send(self, *args, **kwargs)

    process._NodeProcess.send = counted  # type: ignore[method-assign]


def _preload_probe(record: Path) -> None:
    # One record per worker, named once: environments copied from os.environ early (a session fixture's) name it too.
    os.environ[PROBE_VARIABLE] = str(record)
    current = os.environ.get("NODE_OPTIONS", "")
    if PROBE_NODE_OPTION not in current:
        os.environ["NODE_OPTIONS"] = f"{current} {PROBE_NODE_OPTION}".strip()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{ENGINE_MARKER}(*names): uses cdktf or CDK Terrain (synthesizes, in this process or another); runs under "
        "both engines, or only in the runs of the engines it names, when it uses those whatever the run's engine",
    )
    _count_kernel_messages()
    folder = Path(tempfile.mkdtemp(prefix="engine-probe-"))
    config.add_cleanup(lambda: shutil.rmtree(folder, ignore_errors=True))
    record = folder / "kernels.log"
    record.touch()
    _preload_probe(record)


def _engine_uses() -> tuple[int, int]:
    """So far: messages to this process's kernel, and bytes noted by kernels of the processes the tests started."""
    try:
        noted = Path(os.environ[PROBE_VARIABLE]).stat().st_size
    except (KeyError, FileNotFoundError):
        noted = 0
    return _KERNEL_MESSAGES[0], noted


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    from programmatic_iam.cdk.engine import DEFAULT_ENGINE

    from .engines import RUN_ENGINE

    for item in items:
        marker = item.get_closest_marker(ENGINE_MARKER)
        if marker is not None and marker.args and RUN_ENGINE.name not in marker.args:
            why = marker.kwargs.get("why", f"uses {' and '.join(marker.args)} whatever the run's engine")
            item.add_marker(
                pytest.mark.skip(
                    reason=f"{why}: "
                    f"`make test{'' if marker.args[0] == DEFAULT_ENGINE else f' ENGINE={marker.args[0]}'}` runs it"
                )
            )


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    item.stash[_AT_START] = _engine_uses()


@pytest.hookimpl(hookwrapper=True)
def pytest_fixture_setup(fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest) -> Generator[None]:
    before = _engine_uses()
    yield
    if _engine_uses() != before:
        _ENGINE_FIXTURES.add(_defined(fixturedef))


def _defined(fixturedef: pytest.FixtureDef[Any]) -> tuple[str, str]:
    return fixturedef.baseid, fixturedef.argname


def _engine_fixtures_of(item: pytest.Item) -> list[str]:
    """The names of the fixtures ``item`` uses (the definitions in effect for it) that used the engine."""
    definitions = getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {})
    return sorted(
        name
        for name in getattr(item, "fixturenames", ())
        if definitions.get(name) and _defined(definitions[name][-1]) in _ENGINE_FIXTURES
    )


def used_engine(item: pytest.Item) -> str | None:
    """How ``item`` used the engine (for the message), or ``None`` if it did not."""
    fixtures = _engine_fixtures_of(item)
    if fixtures:
        return f"through the fixture{'s' if len(fixtures) > 1 else ''} {', '.join(fixtures)}"
    messages, noted = _engine_uses()
    messages_at_start, noted_at_start = item.stash.get(_AT_START, (messages, noted))
    if messages > messages_at_start:
        return "in the test process"
    if noted > noted_at_start:
        return "in a process it started"
    return None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if report.when == "call":
        item.stash[_CALL_PASSED] = report.passed
    if report.when != "teardown":
        return
    # Judged only when the test ran to the end: a failure or a skip may stop it before it uses the engine.
    if report.failed or not item.stash.get(_CALL_PASSED, False):
        return
    marked = item.get_closest_marker(ENGINE_MARKER) is not None
    how = used_engine(item)
    if how is not None and not marked:
        report.outcome = "failed"
        report.longrepr = (
            f"{item.nodeid} used the engine ({how}) but is not marked: add @pytest.mark.{ENGINE_MARKER} to it "
            f"(or `pytestmark = pytest.mark.{ENGINE_MARKER}` to its module), so that CDK Terrain's run runs it too"
        )
    elif how is None and marked:
        report.outcome = "failed"
        report.longrepr = (
            f"{item.nodeid} is marked {ENGINE_MARKER} but never used cdktf or CDK Terrain: remove the marker "
            "(CDK Terrain's run would run it a second time for nothing)"
        )
