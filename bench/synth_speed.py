"""Our synth against a plain cdktf app making the same resources, interleaved in one run; and our other commands.

Scenarios (``--only`` picks some):

- ``warm``: the default synth (one environment), the jsii package cache as it is;
- ``cold``: the same with an empty jsii package cache for every run (what a fresh CI runner sees);
- ``warm-cdktn``, ``cold-cdktn``: the same two on CDK Terrain (its environment, made by ``make setup ENGINE=cdktn``,
  docs/engines.md), ours and the plain app alike;
- ``envs-20``, ``envs-100``: 20 and 100 environments (stacks) in one synth;
- ``fleet``: a generated fleet (``bench/fleet_config.py``; ``--fleet``, 200 identities in 3 environments: 600
  stacks), the plain app making the same stacks, and ``check`` of the fleet, all three interleaved;
- ``cuts``: the default synth three ways: the plain app, ours loading every provider module in Node
  (``$PROGRAMMATIC_IAM_PLAIN_LOAD=1``: only the Python-side cut), and ours as it ships;
- ``commands``: ``check``, ``report`` and ``review`` (two real plans from ``bench/plans/``), each alone.

Every run is a fresh process in an empty working folder writing into an empty output folder: nothing is
reused from an earlier run. Ours and the plain app alternate (A B, then B A), so drift on the machine
falls on both; both must write the same stacks with the same resource types in each, or the benchmark stops. Wall time is measured around the process; peak memory is the largest single process of
its tree (Python, or the Node jsii kernel it starts), from ``/proc`` while it runs and ``wait4`` when it
ends. ``--write-docs`` puts the figures and a chart into ``docs/performance.md``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
import json
import os
from pathlib import Path
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

from fleet_config import fleet_stacks, fleet_toml

REPO = Path(__file__).resolve().parent.parent
OURS = REPO / "main.py"
PLAIN = REPO / "bench" / "plain_app.py"
PLANS = [REPO / "bench" / "plans" / name / "plan.json" for name in ("create", "all-ec2")]
SCENARIOS = ("warm", "cold", "warm-cdktn", "cold-cdktn", "envs-20", "envs-100", "fleet", "cuts", "commands")
# The Python of each engine's environment: this one (cdktf's), and CDK Terrain's own.
ENGINE_PYTHONS = {"cdktf": Path(sys.executable), "cdktn": REPO / "engines" / "cdktn" / ".venv" / "bin" / "python"}
DEFAULT_FLEET = (200, 3)
ONE_ENVIRONMENT = "ours, one environment"
CUT_APPS = {"plain": "the plain cdktf app", "ours-eager": "ours, every provider module in Node", "ours": "ours"}
COMMANDS = {
    "check": ["check"],
    "report": ["report"],
    "review": ["review", *map(str, PLANS)],
}
DOC_BEGIN = "<!-- BEGIN GENERATED: make bench -->"
DOC_END = "<!-- END GENERATED: make bench -->"


class BenchError(Exception):
    """A child failed, or the two apps did not synthesize comparable stacks."""


@dataclass(frozen=True)
class Measured:
    """One process tree: its wall time, and the peak RSS of its largest process (MiB) and which one it was."""

    seconds: float
    peak_rss_mib: float
    peak_process: str
    unpacking_seconds: float = 0.0  # of ``seconds``, the jsii kernel's unpacking of tarballs into its cache


def measure(command: Sequence[str], cwd: Path, env: Mapping[str, str], log: Path) -> Measured:
    """Run ``command`` to its end; fail with its output if it fails."""
    peaks: dict[int, tuple[str, int]] = {}
    with log.open("wb") as output:
        start = time.perf_counter()
        process = subprocess.Popen(command, cwd=cwd, env=dict(env), stdout=output, stderr=subprocess.STDOUT)
        stop = threading.Event()
        sampler = threading.Thread(target=_sample_tree, args=(process.pid, peaks, stop), daemon=True)
        sampler.start()
        # wait4 gives the child's own rusage, with the descendants it waited for: ru_maxrss (KiB) is the
        # largest of them. The sampler adds any descendant that was not waited for.
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
        stop.set()
        sampler.join()
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise BenchError(f"{' '.join(command)} exited with {process.returncode}:\n{log.read_text(errors='replace')}")
    name, kib = max(peaks.values(), key=lambda item: item[1], default=("python", 0))
    if usage.ru_maxrss > kib:
        name, kib = "python or a child", usage.ru_maxrss
    return Measured(seconds, kib / 1024, name)


def _sample_tree(root: int, peaks: dict[int, tuple[str, int]], stop: threading.Event) -> None:
    """Every 10 ms, the high-water RSS (VmHWM) of every process under ``root``."""
    while not stop.is_set():
        for pid in _tree(root):
            try:
                status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
            except OSError:
                continue
            found = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
            name = re.search(r"^Name:\s+(\S+)", status, re.MULTILINE)
            if found and name:
                kib = int(found.group(1))
                if kib > peaks.get(pid, ("", 0))[1]:
                    peaks[pid] = (name.group(1), kib)
        stop.wait(0.01)


def _tree(root: int) -> list[int]:
    pids, index = [root], 0
    while index < len(pids):
        try:
            for task in Path(f"/proc/{pids[index]}/task").iterdir():
                pids += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            pass
        index += 1
    return pids


# ---------------------------------------------------------------------------------------------------------------------
# The two apps
# ---------------------------------------------------------------------------------------------------------------------


def environment_names(count: int) -> list[str]:
    """The environments of a scenario: the built-in default's one, or ``e001``... for many."""
    return ["production"] if count == 1 else [f"e{index:03d}" for index in range(1, count + 1)]


@dataclass(frozen=True)
class Workload:
    """What both apps synthesize: ``environments`` environments of the default identity, or, with ``fleet``
    (identities, environments), the generated fleet of ``bench/fleet_config.py``."""

    environments: int = 1
    fleet: tuple[int, int] | None = None

    def expected(self) -> dict[str, frozenset[str]]:
        """Each stack both apps must write, with the resource types it must hold."""
        if self.fleet is None:
            return {f"{name}-streammanager": RESOURCE_KINDS for name in environment_names(self.environments)}
        return {stack["id"]: RESOURCE_KINDS | DELIVERY_KINDS[stack["delivery"]] for stack in fleet_stacks(*self.fleet)}

    def prepare(self, app: str, cwd: Path, work: Path, env: dict[str, str]) -> None:
        """Write the configuration ``app`` reads (ours: ``iam.toml``; plain: the stacks' JSON), or set its variable."""
        if app == "plain":
            if self.fleet is None:
                env["BENCH_ENVIRONMENTS"] = ",".join(environment_names(self.environments))
            else:
                (work / "stacks.json").write_text(json.dumps(fleet_stacks(*self.fleet)), encoding="utf-8")
                env["BENCH_STACKS"] = str(work / "stacks.json")
        elif self.fleet is not None:
            (cwd / "iam.toml").write_text(fleet_toml(*self.fleet), encoding="utf-8")
        elif self.environments > 1:
            (cwd / "iam.toml").write_text(
                "".join(
                    f'[[environments]]\nname = "{name}"\nregion = "us-east-1"\n\n'
                    for name in environment_names(self.environments)
                ),
                encoding="utf-8",
            )


def app_run(app: str, workload: Workload, *, cold: bool, engine: str = "cdktf") -> Measured:
    """One synth of ``app`` (``ours``, ``ours-eager`` or ``plain``) on ``engine`` in a fresh folder; checks what it
    wrote."""
    python = ENGINE_PYTHONS[engine]
    if not python.exists():
        raise BenchError(f"{engine}'s environment is missing (no {python}): run make setup ENGINE={engine}")
    with tempfile.TemporaryDirectory(prefix=f"bench-{app}-") as tmp:
        work = Path(tmp)
        cwd, outdir = work / "cwd", work / "out"
        cwd.mkdir()
        env = {k: v for k, v in os.environ.items() if k != "IAM_CONFIG"}
        env.update(CDKTF_OUTDIR=str(outdir), JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="20")
        env["PYTHONPATH"] = str(REPO / "modules")
        if cold:
            env["JSII_RUNTIME_PACKAGE_CACHE_ROOT"] = str(work / "jsii-cache")
        if engine != "cdktf":  # CDK Terrain's scenarios name their engine; the others use this environment's
            env["PROGRAMMATIC_IAM_ENGINE"] = engine
        if app == "ours-eager":
            env["PROGRAMMATIC_IAM_PLAIN_LOAD"] = "1"
        workload.prepare(app, cwd, work, env)
        if cold:  # the kernel then times each tarball it unpacks, on its standard error
            env["JSII_DEBUG_TIMING"] = "1"
        command = [str(python), str(PLAIN if app == "plain" else OURS)]
        measured = measure(command, cwd, env, work / "log")
        check_comparable(app, outdir, workload.expected())
        if not cold:
            return measured
        return replace(measured, unpacking_seconds=unpacking_seconds((work / "log").read_text(errors="replace")))


# jsii's kernel (JSII_DEBUG_TIMING=1): "[@jsii/kernel:timing] tar.extract(<tarball>) => <folder>: 2.535s" (or "821.173ms")
UNPACKING = re.compile(r"\[@jsii/kernel:timing\] tar\.extract\(.*: ([0-9.]+)(ms|s)\s*$", re.MULTILINE)


def unpacking_seconds(log: str) -> float:
    """The time the jsii kernel spent unpacking tarballs into its package cache, from its timing lines in ``log``."""
    found = UNPACKING.findall(log)
    if not found:
        raise BenchError("the jsii kernel printed no unpacking time: was the package cache empty?")
    return sum(float(value) / (1000 if unit == "ms" else 1) for value, unit in found)


def check_comparable(app: str, outdir: Path, expected: Mapping[str, frozenset[str]]) -> None:
    """Fail unless ``app`` wrote exactly the ``expected`` stacks, each with exactly its resource types."""
    written = {
        path.parent.name: frozenset(json.loads(path.read_text(encoding="utf-8")).get("resource", {}))
        for path in outdir.glob("stacks/*/cdk.tf.json")
    }
    if sorted(written) != sorted(expected):
        raise BenchError(f"{app} wrote stacks {sorted(written)[:3]}..., not {sorted(expected)[:3]}...: not comparable")
    for stack, kinds in sorted(expected.items()):
        if written[stack] != kinds:
            raise BenchError(f"{app} made {sorted(written[stack])} in {stack}, not {sorted(kinds)}: not comparable")


RESOURCE_KINDS = frozenset({"aws_iam_access_key", "aws_iam_policy", "aws_iam_user", "aws_iam_user_policy_attachment"})
DELIVERY_KINDS = {
    "output": frozenset(),
    "ssm": frozenset({"aws_ssm_parameter"}),
    "secretsmanager": frozenset({"aws_secretsmanager_secret", "aws_secretsmanager_secret_version"}),
}


def command_run(name: str, workload: Workload | None = None) -> Measured:
    """One of :data:`COMMANDS` in a fresh folder: on the built-in default, or on ``workload``'s configuration."""
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as tmp:
        work = Path(tmp)
        env = {k: v for k, v in os.environ.items() if k != "IAM_CONFIG"}
        env["PYTHONPATH"] = str(REPO / "modules")
        if workload is not None:
            workload.prepare("ours", work, work, env)
        command = [sys.executable, "-m", "programmatic_iam", *COMMANDS[name]]
        return measure(command, work, env, work / "log")


# ---------------------------------------------------------------------------------------------------------------------
# Scenarios
# ---------------------------------------------------------------------------------------------------------------------


def interleaved(
    runs: Mapping[str, Callable[[], Measured]], rounds: int, progress: Callable[[str], None], *, warm_up: bool = True
) -> dict[str, list[Measured]]:
    """One untimed warm-up of each (unless not ``warm_up``), then ``rounds`` rounds, the order reversed every
    other round."""
    if warm_up:
        for run in runs.values():
            run()
    names = list(runs)
    results: dict[str, list[Measured]] = {name: [] for name in names}
    for index in range(rounds):
        for name in names if index % 2 == 0 else names[::-1]:
            measured = runs[name]()
            results[name].append(measured)
            progress(f"round {index + 1}/{rounds}: {name} {measured.seconds:.2f} s {measured.peak_rss_mib:.0f} MiB")
    return results


def summary(runs: Sequence[Measured]) -> dict[str, Any]:
    seconds = [run.seconds for run in runs]
    rss = [run.peak_rss_mib for run in runs]
    unpacking = [run.unpacking_seconds for run in runs]
    return {
        "runs": len(runs),
        "median_unpacking_seconds": statistics.median(unpacking),
        "seconds": seconds,
        "median_seconds": statistics.median(seconds),
        "min_seconds": min(seconds),
        "max_seconds": max(seconds),
        "peak_rss_mib": rss,
        "median_peak_rss_mib": statistics.median(rss),
        "peak_process": max(runs, key=lambda run: run.peak_rss_mib).peak_process,
    }


def run_scenarios(
    scenarios: Sequence[str],
    rounds: int,
    progress: Callable[[str], None],
    *,
    fleet: tuple[int, int] = DEFAULT_FLEET,
    warm_up: bool = True,
) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for scenario in scenarios:
        progress(f"scenario {scenario}")
        if scenario == "commands":
            measured = interleaved(
                {name: partial(command_run, name) for name in COMMANDS}, rounds, progress, warm_up=warm_up
            )
            results[scenario] = {name: summary(runs) for name, runs in measured.items()}
            continue
        if scenario == "cuts":
            measured = interleaved(
                {app: partial(app_run, app, Workload(), cold=False) for app in CUT_APPS},
                rounds,
                progress,
                warm_up=warm_up,
            )
            results[scenario] = {app: summary(runs) for app, runs in measured.items()}
            continue
        environments = int(scenario.split("-")[1]) if scenario.startswith("envs-") else 1
        workload = Workload(fleet=fleet) if scenario == "fleet" else Workload(environments)
        cold = scenario.startswith("cold")
        engine = "cdktn" if scenario.endswith("-cdktn") else "cdktf"
        runs: dict[str, Callable[[], Measured]] = {
            app: partial(app_run, app, workload, cold=cold, engine=engine) for app in ("ours", "plain")
        }
        if scenario == "fleet":
            runs["check"] = partial(command_run, "check", workload)
        if environments > 1:
            # How ours scales is judged against one environment in the same rounds, not in a scenario run minutes
            # apart, when the machine may be busier or quieter.
            runs[ONE_ENVIRONMENT] = partial(app_run, "ours", Workload(1), cold=False)
        measured = interleaved(runs, rounds, progress, warm_up=warm_up)
        apps = {app: summary(timed) for app, timed in measured.items() if app in ("ours", "plain")}
        results[scenario] = {
            "environments": environments,
            "stacks": len(workload.expected()),
            "cold": cold,
            "engine": engine,
            "apps": apps,
            "time_ratio": apps["ours"]["median_seconds"] / apps["plain"]["median_seconds"],
            "memory_ratio": apps["ours"]["median_peak_rss_mib"] / apps["plain"]["median_peak_rss_mib"],
        }
        if cold:
            # No synth on an empty cache can be quicker than the kernel's unpacking of the same tarballs; the plain
            # app's is the kernel's alone, ours shares the machine with the index builder and our Python.
            results[scenario]["unpacking_ratio"] = (
                apps["plain"]["median_unpacking_seconds"] / apps["plain"]["median_seconds"]
            )
        if scenario == "fleet":
            results[scenario].update(identities=fleet[0], environments=fleet[1], check=summary(measured["check"]))
        if environments > 1:
            one = summary(measured[ONE_ENVIRONMENT])
            results[scenario].update(
                one_environment=one, scaling=apps["ours"]["median_seconds"] / one["median_seconds"]
            )
    return results


def machine() -> dict[str, Any]:
    cpu = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.MULTILINE)
    memory = re.search(r"^MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text(), re.MULTILINE)
    node = subprocess.run(["node", "--version"], capture_output=True, text=True, check=False).stdout.strip()
    return {
        "cpu": cpu.group(1).strip() if cpu else platform.processor(),
        "cpus": os.cpu_count(),
        "memory_gib": round(int(memory.group(1)) / 1024 / 1024) if memory else None,
        "system": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "node": node,
    }


# ---------------------------------------------------------------------------------------------------------------------
# docs/performance.md
# ---------------------------------------------------------------------------------------------------------------------


def render_figures(result: Mapping[str, Any]) -> str:
    """The generated part of docs/performance.md: the machine, a table per kind of scenario, the chart."""
    info = result["machine"]
    lines = [
        f"Measured by `make bench` on {result['date']}: {info['cpu']}, {info['cpus']} CPUs, "
        f"{info['memory_gib']} GiB, {info['system']}, Python {info['python']}, Node.js {info['node']}; "
        f"{result['rounds']} timed rounds per scenario "
        f"{'after one warm-up' if result.get('warm_up', True) else 'without a warm-up'}, 1-minute load average "
        f"{result['load_before']:.2f} before and {result['load_after']:.2f} after.",
        "",
    ]
    synths = [(name, data) for name, data in result["scenarios"].items() if name in SCENARIO_LABELS]
    if synths:
        lines += [
            "| scenario | ours: median s (min-max) | plain: median s (min-max) | time ours/plain | "
            "ours: peak MiB | plain: peak MiB | memory ours/plain |",
            "|---|---|---|---|---|---|---|",
        ]
        for name, data in synths:
            ours, plain = data["apps"]["ours"], data["apps"]["plain"]
            lines.append(
                f"| {scenario_label(name, data)} | {_spread(ours)} | {_spread(plain)} | **{data['time_ratio']:.2f}** | "
                f"{ours['median_peak_rss_mib']:.0f} ({ours['peak_process']}) | "
                f"{plain['median_peak_rss_mib']:.0f} ({plain['peak_process']}) | **{data['memory_ratio']:.2f}** |"
            )
        scenarios = result["scenarios"]
        for name, data in scenarios.items():
            if "unpacking_ratio" in data:
                ours, plain = data["apps"]["ours"], data["apps"]["plain"]
                lines += [
                    "",
                    f"{scenario_label(name, data)}: the jsii kernel's unpacking of the tarballs into its cache took "
                    f"{plain['median_unpacking_seconds']:.2f} s of the plain app's run (median; "
                    f"{ours['median_unpacking_seconds']:.2f} s of ours), by itself "
                    f"**{data['unpacking_ratio']:.2f}** of the plain app's time: no run on an empty cache is quicker.",
                ]
            if "scaling" in data:
                lines += [
                    "",
                    f"{data['environments']} environments take {data['scaling']:.2f} times as long as one (ours; one "
                    f"environment, {_spread(data['one_environment'])} s, timed in the same rounds).",
                ]
        if "fleet" in scenarios:
            fleet = scenarios["fleet"]
            check = fleet["check"]
            lines += [
                "",
                f"The fleet's {fleet['stacks']} stacks take {fleet['time_ratio']:.2f} times the plain app's time "
                f"(ours); `check` of the fleet takes {_spread(check)} s, peak {check['median_peak_rss_mib']:.0f} MiB.",
            ]
        lines.append("")
    if "cuts" in result["scenarios"]:
        cuts = result["scenarios"]["cuts"]
        plain = cuts["plain"]
        lines += ["| the default synth, warm | median s (min-max) | peak MiB | time / plain | memory / plain |"]
        lines.append("|---|---|---|---|---|")
        for app, label in CUT_APPS.items():
            data = cuts[app]
            lines.append(
                f"| {label} | {_spread(data)} | {data['median_peak_rss_mib']:.0f} ({data['peak_process']}) | "
                f"{data['median_seconds'] / plain['median_seconds']:.2f} | "
                f"{data['median_peak_rss_mib'] / plain['median_peak_rss_mib']:.2f} |"
            )
        lines.append("")
    if "commands" in result["scenarios"]:
        lines += ["| command (ours, no cdktf, no Node) | median s (min-max) | peak MiB |", "|---|---|---|"]
        for name, data in result["scenarios"]["commands"].items():
            lines.append(f"| `{' '.join(COMMANDS[name][:1])}` | {_spread(data)} | {data['median_peak_rss_mib']:.0f} |")
        lines.append("")
    if synths:
        lines += ["![Median synth time and peak memory, ours against the plain app](performance.svg)", ""]
    return "\n".join(lines)


SCENARIO_LABELS = {
    "warm": "default synth, warm jsii cache",
    "cold": "default synth, empty jsii cache",
    "warm-cdktn": "CDK Terrain: default synth, warm jsii cache",
    "cold-cdktn": "CDK Terrain: default synth, empty jsii cache",
    "envs-20": "20 environments",
    "envs-100": "100 environments",
    "fleet": "fleet",
}


def scenario_label(name: str, data: Mapping[str, Any]) -> str:
    """A synth scenario's row label; the fleet's names its size."""
    if name == "fleet":
        return (
            f"fleet: {data['identities']} identities in {data['environments']} environments ({data['stacks']} stacks)"
        )
    return SCENARIO_LABELS[name]


def _spread(data: Mapping[str, Any]) -> str:
    return f"{data['median_seconds']:.2f} ({data['min_seconds']:.2f}-{data['max_seconds']:.2f})"


def write_chart(result: Mapping[str, Any], path: Path) -> None:
    """Two bar charts side by side: median seconds and median peak MiB, ours and plain, per scenario."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    synths = [(name, data) for name, data in result["scenarios"].items() if name in SCENARIO_LABELS]
    labels = [scenario_label(name, data) for name, data in synths]
    figure, axes = plt.subplots(1, 2, figsize=(11, 0.9 + 0.8 * len(synths)))
    for axis, key, unit in ((axes[0], "median_seconds", "seconds"), (axes[1], "median_peak_rss_mib", "peak MiB")):
        positions = range(len(synths))
        for offset, app, color in ((-0.2, "plain", "#b0b0b0"), (0.2, "ours", "#2f6fb0")):
            values = [data["apps"][app][key] for _, data in synths]
            bars = axis.barh([p + offset for p in positions], values, height=0.38, color=color, label=app)
            axis.bar_label(bars, fmt="%.1f" if key == "median_seconds" else "%.0f", padding=3, fontsize=8)
        axis.set_yticks(list(positions), labels if axis is axes[0] else [""] * len(labels))
        axis.invert_yaxis()
        axis.set_xlabel(unit)
        axis.margins(x=0.15)
    axes[0].legend(loc="lower right")
    figure.tight_layout()
    plt.rcParams["svg.hashsalt"] = "performance"
    figure.savefig(path, format="svg", metadata={"Date": None})
    plt.close(figure)


def _generated_block(document: Path) -> tuple[str, str]:
    """The text of ``document`` before and after its generated block."""
    text = document.read_text(encoding="utf-8")
    if DOC_BEGIN not in text or DOC_END not in text:
        raise BenchError(f"{document} has no {DOC_BEGIN} ... {DOC_END} block to fill")
    head, rest = text.split(DOC_BEGIN, 1)
    return head, rest.split(DOC_END, 1)[1]


def write_docs(result: Mapping[str, Any], document: Path) -> None:
    """Replace the generated block of ``document`` with the figures, and write the chart beside it."""
    head, tail = _generated_block(document)
    document.write_text(f"{head}{DOC_BEGIN}\n{render_figures(result)}\n{DOC_END}{tail}", encoding="utf-8")
    if any(name in SCENARIO_LABELS for name in result["scenarios"]):
        write_chart(result, document.with_suffix(".svg"))


def fleet_size(text: str) -> tuple[int, int]:
    """``200x3``: identities and environments, each at least 1."""
    identities, _, environments = text.partition("x")
    if not (identities.isdigit() and environments.isdigit() and int(identities) > 0 and int(environments) > 0):
        raise argparse.ArgumentTypeError(f"{text!r} is not IDENTITIESxENVIRONMENTS, such as 200x3")
    return int(identities), int(environments)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds per scenario (default 5)")
    parser.add_argument("--only", nargs="+", choices=SCENARIOS, default=list(SCENARIOS), help="scenarios to run")
    parser.add_argument(
        "--fleet",
        type=fleet_size,
        default=DEFAULT_FLEET,
        metavar="IxE",
        help="the fleet scenario's identities and environments (default 200x3: 600 stacks)",
    )
    parser.add_argument(
        "--no-warm-up", action="store_true", help="no untimed first run of each (a quick look, not figures to publish)"
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write every figure to this file")
    parser.add_argument("--write-docs", type=Path, metavar="MD", help="fill the generated block of this page")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")

    def progress(line: str) -> None:
        if not args.quiet:
            print(line, file=sys.stderr, flush=True)

    load_before = os.getloadavg()[0]
    try:
        if args.write_docs:  # before minutes of measuring, not after
            _generated_block(args.write_docs)
        scenarios = run_scenarios(args.only, args.rounds, progress, fleet=args.fleet, warm_up=not args.no_warm_up)
    except BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 1
    result = {
        "date": time.strftime("%Y-%m-%d"),
        "rounds": args.rounds,
        "warm_up": not args.no_warm_up,
        "machine": machine(),
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
        "scenarios": scenarios,
    }
    print(render_figures(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    if args.write_docs:
        write_docs(result, args.write_docs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
