"""Time the default synth of our app against a plain cdktf app making the same resources, interleaved."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass, fields
import json
import os
from pathlib import Path
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

REPO = Path(__file__).resolve().parent.parent
APPS: dict[str, Path] = {
    "ours": REPO / "main.py",
    "plain": REPO / "bench" / "plain_app.py",
}
DEFAULT_ROUNDS = 5


class BenchError(Exception):
    """A child failed or the two apps did not synthesize comparable stacks."""


@dataclass(frozen=True)
class Shape:
    """What must match between the two outputs for the timing comparison to be fair."""

    stacks: frozenset[str]
    resource_types: frozenset[str]
    output_names: frozenset[str]
    providers: frozenset[str]
    backends: frozenset[str]

    def describe(self) -> str:
        return ", ".join(f"{field.name}={sorted(getattr(self, field.name))}" for field in fields(self))


@dataclass(frozen=True)
class Run:
    """One synth: wall time, peak RSS and the shape of what it wrote."""

    seconds: float
    peak_rss_mib: float
    shape: Shape


def child_environment(outdir: Path) -> dict[str, str]:
    """The caller's environment, minus anything that would make the two apps synthesize different things."""
    env = dict(os.environ)
    # A developer's IAM_CONFIG would replace our built-in default; the plain app has no config at all.
    env.pop("IAM_CONFIG", None)
    env["CDKTF_OUTDIR"] = str(outdir)
    env["JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION"] = "20"
    return env


def run_app(name: str) -> Run:
    """Synthesize one app in a fresh process, in an empty working folder, into an empty output folder."""
    with tempfile.TemporaryDirectory(prefix=f"synth-speed-{name}-") as tmp:
        work = Path(tmp)
        cwd, outdir = work / "cwd", work / "out"
        cwd.mkdir()
        # Files, not pipes: nothing reads the pipes while we block in wait4, so a chatty child could stall.
        with (work / "stdout").open("wb") as out, (work / "stderr").open("wb") as err:
            start = time.perf_counter()
            process = subprocess.Popen(
                [sys.executable, str(APPS[name])], cwd=cwd, env=child_environment(outdir), stdout=out, stderr=err
            )
            # wait4 gives this child's own rusage; RUSAGE_CHILDREN would be the maximum over every child so far.
            # Its ru_maxrss (KiB on Linux) is the largest single process of the tree that was reaped, i.e. the
            # Python process or its Node jsii kernel, whichever peaked higher; not their sum.
            _, status, usage = os.wait4(process.pid, 0)
            seconds = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            stderr = (work / "stderr").read_text(encoding="utf-8", errors="replace")
            raise BenchError(f"{name} ({APPS[name].name}) exited with {process.returncode}; its stderr:\n{stderr}")
        return Run(seconds=seconds, peak_rss_mib=usage.ru_maxrss / 1024, shape=read_shape(name, outdir))


def read_shape(name: str, outdir: Path) -> Shape:
    """Stack names, resource types, output names, providers and backends of every synthesized stack."""
    documents = sorted(outdir.glob("stacks/*/cdk.tf.json"))
    if not documents:
        raise BenchError(f"{name} exited with 0 but wrote no stacks/*/cdk.tf.json under its output folder")
    stacks: set[str] = set()
    resource_types: set[str] = set()
    output_names: set[str] = set()
    providers: set[str] = set()
    backends: set[str] = set()
    for document in documents:
        synthesized: dict[str, Any] = json.loads(document.read_text(encoding="utf-8"))
        stacks.add(document.parent.name)
        resource_types.update(synthesized.get("resource", {}))
        output_names.update(synthesized.get("output", {}))
        providers.update(synthesized.get("provider", {}))
        backends.update(synthesized.get("terraform", {}).get("backend", {}))
    return Shape(
        frozenset(stacks), frozenset(resource_types), frozenset(output_names), frozenset(providers), frozenset(backends)
    )


def check_same_shape(runs: dict[str, list[Run]]) -> None:
    """Fail unless every run of every app wrote the same stacks, resource types, outputs and backend."""
    expected_name, expected_runs = next(iter(runs.items()))
    expected = expected_runs[0].shape
    for name, app_runs in runs.items():
        for run in app_runs:
            if run.shape != expected:
                raise BenchError(
                    "the apps do not synthesize the same thing, so their times are not comparable:\n"
                    f"  {expected_name}: {expected.describe()}\n  {name}: {run.shape.describe()}"
                )


def summarize(runs: Sequence[Run]) -> dict[str, Any]:
    seconds = [run.seconds for run in runs]
    rss = [run.peak_rss_mib for run in runs]
    return {
        "seconds": seconds,
        "peak_rss_mib": rss,
        "median_seconds": statistics.median(seconds),
        "min_seconds": min(seconds),
        "max_seconds": max(seconds),
        "median_peak_rss_mib": statistics.median(rss),
    }


def render_table(summary: dict[str, dict[str, Any]], ratio_seconds: float, ratio_rss: float) -> str:
    lines = [f"{'app':<6} {'runs':>4} {'median s':>9} {'min s':>7} {'max s':>7} {'median peak RSS MiB':>20}"]
    for name, numbers in summary.items():
        lines.append(
            f"{name:<6} {len(numbers['seconds']):>4} {numbers['median_seconds']:>9.2f} {numbers['min_seconds']:>7.2f}"
            f" {numbers['max_seconds']:>7.2f} {numbers['median_peak_rss_mib']:>20.0f}"
        )
    lines.append(f"plain/ours (medians): time {ratio_seconds:.2f}x, peak RSS {ratio_rss:.2f}x")
    lines.append("peak RSS: the largest single process (Python or its Node jsii kernel), from os.wait4; not their sum")
    return "\n".join(lines)


def benchmark(rounds: int, progress: bool) -> dict[str, Any]:
    """One untimed warm-up of each app, then ``rounds`` rounds alternating which app goes first."""
    load_before = os.getloadavg()
    warm_up = {name: [run_app(name)] for name in APPS}
    check_same_shape(warm_up)
    names = list(APPS)
    runs: dict[str, list[Run]] = {name: [] for name in names}
    for round_index in range(rounds):
        # Alternating the order spreads drift (page cache, a neighbour's load) evenly over both apps.
        order = names if round_index % 2 == 0 else names[::-1]
        for name in order:
            run = run_app(name)
            runs[name].append(run)
            if progress:
                print(f"round {round_index + 1}/{rounds}: {name} {run.seconds:.2f} s", file=sys.stderr)
    check_same_shape(runs)
    summary = {name: summarize(app_runs) for name, app_runs in runs.items()}
    return {
        "rounds": rounds,
        "python": sys.version.split()[0],
        "cpu_count": os.cpu_count(),
        "load_average_1m": {"before": load_before[0], "after": os.getloadavg()[0]},
        "shape": {field.name: sorted(getattr(warm_up["ours"][0].shape, field.name)) for field in fields(Shape)},
        "apps": summary,
        "ratio_plain_over_ours": {
            "median_seconds": summary["plain"]["median_seconds"] / summary["ours"]["median_seconds"],
            "median_peak_rss": summary["plain"]["median_peak_rss_mib"] / summary["ours"]["median_peak_rss_mib"],
        },
    }


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=positive_int, default=DEFAULT_ROUNDS, help="timed runs of each app")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the numbers to this file")
    parser.add_argument("--quiet", action="store_true", help="no per-run progress on stderr")
    args = parser.parse_args(argv)
    try:
        result = benchmark(args.rounds, progress=not args.quiet)
    except BenchError as error:
        print(f"synth_speed: {error}", file=sys.stderr)
        return 1
    ratio = result["ratio_plain_over_ours"]
    print(render_table(result["apps"], ratio["median_seconds"], ratio["median_peak_rss"]))
    load = result["load_average_1m"]
    print(f"{result['cpu_count']} CPUs, 1-min load average {load['before']:.2f} before, {load['after']:.2f} after")
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
