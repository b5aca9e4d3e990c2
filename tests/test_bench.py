"""The benchmark runs from a clean checkout and writes its page. No figure is judged here: noise never fails CI."""

from __future__ import annotations

import json
from pathlib import Path
import subprocess
import sys
from typing import Any

import pytest

from tests.support.helpers import REPO, base_environment, run_command

BENCH = REPO / "bench" / "synth_speed.py"


def run_bench(tmp_path: Path, *args: str) -> dict[str, Any]:
    result = run_command(
        [sys.executable, str(BENCH), "--quiet", "--json", str(tmp_path / "result.json"), *args],
        tmp_path,
        base_environment(),
        timeout=900,
    )
    assert result.returncode == 0, result.stderr
    loaded: dict[str, Any] = json.loads((tmp_path / "result.json").read_text(encoding="utf-8"))
    return loaded


@pytest.mark.engine
def test_the_synth_comparison_runs_both_apps_and_writes_the_page_and_chart(tmp_path: Path) -> None:
    page = tmp_path / "performance.md"
    page.write_text(
        "# P\n\nbefore\n<!-- BEGIN GENERATED: make bench -->\nold\n<!-- END GENERATED: make bench -->\nafter\n"
    )
    result = run_bench(tmp_path, "--only", "warm", "--rounds", "1", "--write-docs", str(page))
    warm = result["scenarios"]["warm"]
    assert set(warm["apps"]) == {"ours", "plain"}
    for app in warm["apps"].values():
        assert app["runs"] == 1 and app["median_seconds"] > 0 and app["median_peak_rss_mib"] > 50
    assert warm["time_ratio"] == warm["apps"]["ours"]["median_seconds"] / warm["apps"]["plain"]["median_seconds"]
    text = page.read_text(encoding="utf-8")
    assert text.startswith("# P\n\nbefore\n") and text.endswith("after\n") and "old" not in text
    assert "| default synth, warm jsii cache |" in text and "![Median synth time" in text
    svg = (tmp_path / "performance.svg").read_text(encoding="utf-8")
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg


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
