"""A fleet synthesized: one stack per identity and environment, each the same Terraform as that identity alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from programmatic_iam.blueprint import build_blueprint
from programmatic_iam.config import load_config_file
from tests.support.helpers import TWO_ENVIRONMENTS, synth_blueprint, write_config

SHARED = """
[naming]
namespace = "acme"
user = "{{ namespace }}-{{ environment }}-{{ name }}"

[policy]
actions = ["s3:GetObject"]

[tags]
team = "platform"
"""
PRODUCTION_KEYS = '[environments.access_key]\ndelivery = "ssm"\n'
"""For every identity in production; an instance profile, which has no key, leaves it be."""
FLEET = (
    SHARED
    + TWO_ENVIRONMENTS.format(staging="", production=PRODUCTION_KEYS)
    + """
[[identities]]
name = "backup"

[[identities]]
name = "exporter"
[identities.policy]
actions = ["cloudwatch:GetMetricData"]
[identities.tags]
team = "observability"
[identities.environment.production.access_key]
generation = 2

[[identities]]
name = "tiles"
kind = "instance-profile"
"""
)


def alone(identity: str) -> str:
    """``identity`` as a file without [[identities]] describes it: its own settings at the top level, its
    settings in production in that environment's entry."""
    policy = "cloudwatch:GetMetricData" if identity == "exporter" else "s3:GetObject"
    team = "observability" if identity == "exporter" else "platform"
    return (
        ('kind = "instance-profile"\n' if identity == "tiles" else "")
        + f'[naming]\nnamespace = "acme"\nname = "{identity}"\nuser = "{{{{ namespace }}}}-{{{{ environment }}}}-{{{{ name }}}}"\n'
        + f'[policy]\nactions = ["{policy}"]\n[tags]\nteam = "{team}"\n'
        + TWO_ENVIRONMENTS.format(
            staging="",
            production={"backup": PRODUCTION_KEYS, "exporter": PRODUCTION_KEYS + "generation = 2\n", "tiles": ""}[
                identity
            ],
        )
    )


@pytest.mark.engine
def test_a_fleet_synthesizes_each_identity_as_it_would_alone(tmp_path: Path) -> None:
    fleet = synth_blueprint(build_blueprint(load_config_file(write_config(tmp_path, FLEET))), tmp_path / "fleet")
    assert list(fleet) == sorted(
        f"acme-{environment}-{identity}"
        for identity in ("backup", "exporter", "tiles")
        for environment in ("staging", "production")
    )
    for identity in ("backup", "exporter", "tiles"):
        directory = tmp_path / identity
        directory.mkdir()
        config = load_config_file(write_config(directory, alone(identity)))
        assert "identities" not in config.model_fields_set
        for stack_id, tree in synth_blueprint(build_blueprint(config), directory / "out").items():
            assert tree == fleet[stack_id], stack_id
