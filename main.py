"""The cdktf app: `cdktf synth` runs this (see cdktf.json). The work happens in modules/programmatic_iam."""

from pathlib import Path
import sys

sys.path.insert(0, str(Path(__file__).resolve().parent / "modules"))

from programmatic_iam.cli import exit_process, main

if __name__ == "__main__":
    exit_process(main(["synth"]))
