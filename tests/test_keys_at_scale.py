"""``keys status`` and ``keys rotate`` over the bench's fleet of 600 stacks, on the emulator: every key found.

The users, keys and tags are made directly in IAM, as 600 applied stacks would have left them; applying 600
stacks would take an hour. How long the reads take is measured, not asserted (docs/key-rotation.md).
"""

from __future__ import annotations

from datetime import date, timedelta
import importlib
import json
from pathlib import Path

import pytest

from programmatic_iam.ownership import ownership_tags
from programmatic_iam_dev.emulator import AwsEmulator
from tests.support.helpers import REPO, base_environment, run_module, write_config

IDENTITIES, ENVIRONMENTS = 200, 3


def fleet_in_iam(aws: AwsEmulator) -> dict[str, str]:
    """Each user of the fleet, tagged as its stack tags it, with one key: key id -> user."""
    iam = aws.client("iam")
    keys = {}
    for identity in range(IDENTITIES):
        for environment in range(ENVIRONMENTS):
            user = f"fleet-env{environment}-service{identity:04d}"
            tags = ownership_tags(f"service{identity:04d}", f"env{environment}")
            iam.create_user(UserName=user, Tags=[{"Key": key, "Value": value} for key, value in tags.items()])
            keys[iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]] = user
    return keys


def test_every_key_of_a_fleet_of_600_users_is_read(
    aws: AwsEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(REPO / "bench"))
    write_config(tmp_path, importlib.import_module("fleet_config").fleet_toml(IDENTITIES, ENVIRONMENTS))
    made = fleet_in_iam(aws)
    environment = aws.environment(base=base_environment())

    status = run_module("programmatic_iam", "keys", "status", "--format", "json", cwd=tmp_path, **environment)
    assert (status.returncode, status.stderr) == (0, "")
    result = json.loads(status.stdout)
    assert {key["access_key_id"]: key["user"] for key in result["keys"]} == made
    assert {key["role"] for key in result["keys"]} == {"current"}
    assert all(key["stack"] == key["user"] for key in result["keys"])  # each user read for its own stack
    assert len(result["stacks"]) == 600 and all(stack["user_found"] for stack in result["stacks"])
    assert result["summary"]["orphans"] == 0

    rotate = run_module("programmatic_iam", "keys", "rotate", "--dry-run", cwd=tmp_path, **environment)
    assert (rotate.returncode, rotate.stderr) == (0, "")
    assert rotate.stdout.count(": nothing due (generation ") == 600

    late = (date.today() + timedelta(days=91)).isoformat()
    rotate = run_module("programmatic_iam", "keys", "rotate", "--dry-run", "--as-of", late, cwd=tmp_path, **environment)
    assert (rotate.returncode, rotate.stderr) == (0, "")
    assert rotate.stdout.count(": step 1 of 3: create the new key beside the old one (") == 600
    assert rotate.stdout.endswith("--dry-run: nothing written\n")
