"""``python -m programmatic_iam.warm_up``: once after installing, so that the first real synth is already fast.

jsii unpacks the engine's and the provider's tarballs into its package cache on first use, and the provider's
runtime index is built there (cdk/lazy_provider_aws.js): a few seconds and about 0.7 GiB at peak, once
(docs/performance.md). This synthesizes the built-in default once, in a temporary folder that is then removed,
which leaves the cache (``$JSII_RUNTIME_PACKAGE_CACHE_ROOT``, else jsii's default) warm. ``make setup`` runs it.
"""

from __future__ import annotations

import os
from pathlib import Path
import subprocess
import sys
import tempfile

# Settings of the user's own synth that would make this one read their configuration or write elsewhere.
_NOT_INHERITED = ("IAM_CONFIG", "CDKTF_OUTDIR")


def warm_up(environ: dict[str, str]) -> int:
    """Synthesize the built-in default in an empty temporary folder; the synth's exit status."""
    package_parent = str(Path(__file__).resolve().parents[1])
    env = {name: value for name, value in environ.items() if name not in _NOT_INHERITED}
    # The folder the package was loaded from first: a relative PYTHONPATH would not hold in the temporary folder.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_parent, env.get("PYTHONPATH", "")]))
    with tempfile.TemporaryDirectory(prefix="programmatic-iam-warm-up-") as folder:
        command = [sys.executable, "-m", "programmatic_iam", "synth"]
        finished = subprocess.run(command, cwd=folder, env=env, stdout=subprocess.DEVNULL, check=False)
    return finished.returncode


def main() -> None:
    """Warm jsii's package cache, or exit with the synth's status (its problems are on stderr)."""
    status = warm_up(dict(os.environ))
    if status == 0:
        print("jsii's package cache is warm: the next synth takes the fast path", file=sys.stderr)
    sys.exit(status)


if __name__ == "__main__":
    main()
