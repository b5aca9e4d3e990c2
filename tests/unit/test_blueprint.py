"""The blueprint: per-environment specs, and the checks that span several keys or stacks."""

from __future__ import annotations

from pathlib import Path

import pytest

from programmatic_iam.cli.inputs import load_blueprint
from programmatic_iam.errors import ConfigError
from tests.support.helpers import blueprint_of, write_config

TWO_ENVIRONMENTS = (
    '[[environments]]\nname = "a"\nregion = "us-east-1"\n[[environments]]\nname = "b"\nregion = "eu-west-1"\n'
)


def test_each_environment_gets_its_own_stack_state_and_region(tmp_path: Path) -> None:
    blueprint = blueprint_of(TWO_ENVIRONMENTS, tmp_path)
    assert [(s.stack_id, s.region, s.backend.key) for s in blueprint.stacks] == [
        ("a-streammanager", "us-east-1", "a-streammanager/terraform.tfstate"),
        ("b-streammanager", "eu-west-1", "b-streammanager/terraform.tfstate"),
    ]


@pytest.mark.parametrize(
    ("toml", "where"),
    [
        (TWO_ENVIRONMENTS.replace("eu-west-1", "eu-wset-1"), "iam.toml: environments[1].region"),
        ('[backend]\nregion = "eu-wset-1"\n', "iam.toml: backend.region"),
        ('[policy.hardening]\nregions = ["us-east-1", "eu-wset-1"]\n', "iam.toml: policy.hardening.regions[1]"),
    ],
)
def test_an_unknown_region_warns_at_its_key_path(tmp_path: Path, toml: str, where: str) -> None:
    (notice,) = [n for n in blueprint_of(toml, tmp_path).notices if "eu-wset-1" in n.message]
    assert notice.where == where


def test_environment_tags_override_the_top_level_ones(tmp_path: Path) -> None:
    toml = '[tags]\nteam = "video"\nstage = "any"\n[[environments]]\nname = "a"\nregion = "us-east-1"\ntags = { stage = "a" }\n'
    (stack,) = blueprint_of(toml, tmp_path).stacks
    assert dict(stack.default_tags) == {
        "team": "video",
        "stage": "a",
        "programmatic-iam:identity": "streammanager",
        "programmatic-iam:environment": "a",
    }


@pytest.mark.parametrize(
    ("toml", "identity", "environment"),
    [
        (None, "streammanager", "production"),
        ('[naming]\nname = "metrics,exporter"\n', "metrics_exporter", "production"),  # "," is no tag character
    ],
)
def test_every_stack_is_tagged_with_its_identity_and_environment(
    tmp_path: Path, toml: str | None, identity: str, environment: str
) -> None:
    """What `keys status` finds a user by once its environment has left the configuration."""
    (stack,) = blueprint_of(toml, tmp_path).stacks
    assert dict(stack.default_tags) == {
        "programmatic-iam:identity": identity,
        "programmatic-iam:environment": environment,
    }


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        (
            TWO_ENVIRONMENTS + '[backend]\nkey = "state.tfstate"\n',
            "iam.toml: backend.key: 'state.tfstate' is the state of both 'a' and 'b'",
        ),
        ('[backend]\nkey = "/{{ user }}.tfstate"\n', "must not start with '/'"),
        ('[backend]\nkey = "{{ usr }}.tfstate"\n', "uses the unknown variable 'usr'; did you mean 'user'?"),
        ('[policy]\ndescription = "{{ name * 100 }}"\n', "renders to 1300 characters; IAM allows 1000"),
        ('[policy]\ndescription = "{{ namespace }}"\n', "renders to nothing"),
        (
            "[tags]\n"
            + "".join(f't{i} = "v"\n' for i in range(30))
            + "[user.tags]\n"
            + "".join(f'u{i} = "v"\n' for i in range(19)),
            "51 tags reach the user of environment 'production' (the 2 programmatic-iam: tags included); AWS allows 50",
        ),
    ],
)
def test_rejects_inconsistent_settings(tmp_path: Path, toml: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        blueprint_of(toml, tmp_path)
    assert any(expected in p.render() for p in caught.value.problems), [p.render() for p in caught.value.problems]


def test_reports_independent_problems_of_every_section_in_one_run(tmp_path: Path) -> None:
    write_config(
        tmp_path,
        """
        [naming]
        namespace = "Acme Corp"
        [policy]
        actions = ["ec2:DescribeInstancess"]
        [[environments]]
        name = "prod"
        region = "us-east-1"
        account_id = "123"
        [[environments]]
        name = "prod"
        region = "us-east-1"
        """,
    )
    with pytest.raises(ConfigError) as caught:
        load_blueprint({}, cwd=tmp_path)
    assert [p.where for p in caught.value.problems] == [
        "iam.toml: naming.namespace",
        "iam.toml: environments[0].account_id",
        "iam.toml: environments",
        "iam.toml: policy.actions[0]",
    ]
    assert "lists the environment 'prod' twice" in caught.value.problems[2].why
    assert "did you mean 'ec2:DescribeInstances'?" in caught.value.problems[3].why


def test_a_broken_user_template_is_not_also_blamed_on_the_state_key(tmp_path: Path) -> None:
    # The default key is "{{ user }}/terraform.tfstate": without a user name it would start with "/".
    with pytest.raises(ConfigError) as caught:
        blueprint_of('[naming]\nuser = "{{ nme }}"\n', tmp_path)
    assert [p.where for p in caught.value.problems] == ["iam.toml: naming.user (environment 'production')"]
