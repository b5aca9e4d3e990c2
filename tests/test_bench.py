"""The benchmark runs from a clean checkout and writes its page. No figure is judged here: noise never fails CI."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
import subprocess
import sys
from typing import Any

import pytest

from programmatic_iam.cdk.engine import ENGINE_VARIABLE, ENGINES
from tests.support.engines import engine_python
from tests.support.helpers import REPO, base_environment, run_command

BENCH = REPO / "bench" / "synth_speed.py"


def run_bench(tmp_path: Path, *args: str, python: Path | None = None, **env: str) -> dict[str, Any]:
    result = run_command(
        [str(python or sys.executable), str(BENCH), "--quiet", "--json", str(tmp_path / "result.json"), *args],
        tmp_path,
        {**base_environment(), **env},
        timeout=900,
    )
    assert result.returncode == 0, result.stderr
    loaded: dict[str, Any] = json.loads((tmp_path / "result.json").read_text(encoding="utf-8"))
    return loaded


@pytest.mark.engine
@pytest.mark.bench
def test_the_synth_comparison_runs_both_apps_and_writes_the_page_and_chart(tmp_path: Path) -> None:
    page = tmp_path / "performance.md"
    page.write_text(
        "# P\n\nbefore\n<!-- BEGIN GENERATED: make bench -->\nold\n<!-- END GENERATED: make bench -->\nafter\n"
    )
    # A fleet of 5 identities in 2 environments has every kind of stack the full one has (a delivery of
    # each kind, a rotated key); without a warm-up, the two scenarios start the plain app twice, as one did.
    result = run_bench(
        tmp_path,
        *("--only", "warm", "fleet", "--fleet", "5x2", "--rounds", "1", "--no-warm-up"),
        *("--write-docs", str(page)),
    )
    warm, fleet = result["scenarios"]["warm"], result["scenarios"]["fleet"]
    for scenario in (warm, fleet):
        assert set(scenario["apps"]) == {"ours", "plain"}
        for app in scenario["apps"].values():
            assert app["runs"] == 1 and app["median_seconds"] > 0 and app["median_peak_rss_mib"] > 50
        ours, plain = scenario["apps"]["ours"], scenario["apps"]["plain"]
        assert scenario["time_ratio"] == ours["median_seconds"] / plain["median_seconds"]
    assert (fleet["identities"], fleet["environments"], fleet["stacks"]) == (5, 2, 10)
    # check of the fleet runs without cdktf: the largest process is Python itself.
    assert fleet["check"]["runs"] == 1 and fleet["check"]["peak_process"].startswith("python")
    text = page.read_text(encoding="utf-8")
    assert text.startswith("# P\n\nbefore\n") and text.endswith("after\n") and "old" not in text
    assert "| default synth, warm jsii cache |" in text and "![Median synth time" in text
    assert "| fleet: 5 identities in 2 environments (10 stacks) |" in text
    assert "The fleet's 10 stacks take" in text and "`check` of the fleet takes" in text
    assert "without a warm-up" in text
    svg = (tmp_path / "performance.svg").read_text(encoding="utf-8")
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg


def test_rejects_a_fleet_synth_whose_stack_lacks_a_resource_type(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both apps are held to the resource types of each stack, not only to the set over all of them."""
    monkeypatch.syspath_prepend(str(BENCH.parent))
    synth_speed = importlib.import_module("synth_speed")
    expected = synth_speed.Workload(fleet=(5, 2)).expected()
    for stack, kinds in expected.items():
        made = kinds - {"aws_ssm_parameter"} if stack == "fleet-env0-service0001" else kinds
        (tmp_path / "stacks" / stack).mkdir(parents=True)
        (tmp_path / "stacks" / stack / "cdk.tf.json").write_text(json.dumps({"resource": {kind: {} for kind in made}}))
    assert any("aws_ssm_parameter" in kinds for kinds in expected.values())
    with pytest.raises(synth_speed.BenchError, match=r"in fleet-env0-service0001, not .*aws_ssm_parameter"):
        synth_speed.check_comparable("plain", tmp_path, expected)


@pytest.mark.engine
@pytest.mark.bench
def test_a_cold_run_reports_the_kernels_unpacking_within_its_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """The kernel's own timing lines, from a real run on an empty package cache: the floor the page reports."""
    monkeypatch.syspath_prepend(str(BENCH.parent))
    synth_speed = importlib.import_module("synth_speed")
    measured = synth_speed.app_run("ours", synth_speed.Workload(), cold=True)
    # cdktf's provider alone is 4,468 files; the whole run also starts Python and Node and synthesizes
    assert 0.1 < measured.unpacking_seconds < measured.seconds, measured


def test_the_unpacking_time_is_the_sum_of_the_kernels_lines_and_its_absence_is_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.syspath_prepend(str(BENCH.parent))
    synth_speed = importlib.import_module("synth_speed")
    log = (
        "[@jsii/kernel:timing] tar.extract(/site/constructs/_jsii/constructs@10.8.1.jsii.tgz) => /tmp/k/constructs: 25.111ms\n"
        "[@jsii/kernel:timing] loadAssemblyFromPath(/tmp/k/constructs): 2.24ms\n"
        # a line of the kernel's that follows another's unfinished one
        "Synthesizing[@jsii/kernel:timing] tar.extract(/site/p/_jsii/provider-aws@21.22.1.jsii.tgz) => /tmp/k/@cdktf/provider-aws: 2.535s\n"
    )
    assert synth_speed.unpacking_seconds(log) == pytest.approx(2.560111)
    with pytest.raises(synth_speed.BenchError, match="no unpacking time"):
        synth_speed.unpacking_seconds(log.replace("tar.extract", "tar.list"))


def test_the_page_gives_a_cold_scenarios_unpacking_floor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(BENCH.parent))
    synth_speed = importlib.import_module("synth_speed")
    runs = {
        "ours": [synth_speed.Measured(4.0, 660, "node", 3.0), synth_speed.Measured(5.0, 660, "node", 3.5)],
        "plain": [synth_speed.Measured(10.0, 1600, "node", 3.2)],
    }
    apps = {app: synth_speed.summary(measured) for app, measured in runs.items()}
    scenario = {"environments": 1, "stacks": 1, "cold": True, "engine": "cdktf", "apps": apps}
    scenario.update(time_ratio=0.45, memory_ratio=0.41, unpacking_ratio=3.2 / 10.0)
    machine = {"cpu": "c", "cpus": 2, "memory_gib": 24, "system": "s", "python": "3", "node": "v20"}
    result = {"machine": machine, "date": "d", "rounds": 2, "load_before": 0.5, "load_after": 0.6}
    page = synth_speed.render_figures({**result, "scenarios": {"cold": scenario}})
    assert (
        "default synth, empty jsii cache: the jsii kernel's unpacking of the tarballs into its cache took 3.20 s of "
        "the plain app's run (median; 3.25 s of ours), by itself **0.32** of the plain app's time: no run on an empty "
        "cache is quicker." in page
    )
    warm = {key: value for key, value in scenario.items() if key != "unpacking_ratio"}
    assert "unpacking" not in synth_speed.render_figures({**result, "scenarios": {"warm": warm}})


def test_the_commands_are_timed_without_cdktf(tmp_path: Path) -> None:
    result = run_bench(tmp_path, "--only", "commands", "--rounds", "1")
    commands = result["scenarios"]["commands"]
    assert set(commands) == {"check", "report", "review"}
    # No Node process: the largest process is Python itself, well under the jsii kernel's hundreds of MiB.
    assert all(data["peak_process"].startswith("python") for data in commands.values())


def test_a_page_without_the_generated_block_is_refused(tmp_path: Path) -> None:
    page = tmp_path / "performance.md"
    page.write_text("# P\n")
    result = subprocess.run(
        [sys.executable, str(BENCH), "--quiet", "--only", "commands", "--rounds", "1", "--write-docs", str(page)],
        capture_output=True,
        text=True,
        env=base_environment(),
        check=False,
    )
    assert result.returncode == 1 and "has no <!-- BEGIN GENERATED: make bench -->" in result.stderr
    assert page.read_text() == "# P\n"


@pytest.mark.engine("cdktn")
@pytest.mark.bench
def test_cdk_terrains_scenarios_run_on_cdk_terrain_from_cdktfs_environment(tmp_path: Path) -> None:
    # As `make bench` runs it: cdktf's Python, with the engine variable saying cdktf; CDK Terrain's rows must still run
    # both apps in CDK Terrain's environment.
    result = run_bench(
        tmp_path,
        *("--only", "warm-cdktn", "--rounds", "1", "--no-warm-up"),
        python=engine_python(ENGINES["cdktf"]),
        **{ENGINE_VARIABLE: "cdktf"},
    )
    scenario = result["scenarios"]["warm-cdktn"]
    assert (scenario["engine"], scenario["cold"], set(scenario["apps"])) == ("cdktn", False, {"ours", "plain"})
