"""The cdktf app: `cdktf synth` runs this (see cdktf.json). The work happens in modules/programmatic_iam."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "modules"))

from programmatic_iam.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
