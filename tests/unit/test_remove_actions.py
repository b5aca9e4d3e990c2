"""``policy.remove_actions``: each entry is an action as a policy writes it, and takes out exactly what it names."""

from __future__ import annotations

from pathlib import Path

import pytest

from programmatic_iam.errors import ConfigError
from tests.support.helpers import blueprint_of


def granted(text: str, folder: Path) -> list[str]:
    (stack,) = blueprint_of(text, folder).stacks
    return [action for policy in stack.identity.policies for s in policy.document.statements for action in s.actions]


def refusal(text: str, folder: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        blueprint_of(text, folder)
    return str(caught.value)


def test_an_entry_takes_out_the_action_it_names_ignoring_case(tmp_path: Path) -> None:
    text = '[policy]\nactions = ["ec2:DescribeInstances", "ec2:RunInstances"]\nremove_actions = ["EC2:runinstances"]\n'
    assert granted(text, tmp_path) == ["ec2:DescribeInstances"]


def test_an_entry_that_is_not_an_action_is_refused(tmp_path: Path) -> None:
    text = '[policy]\nactions = ["ec2:RunInstances"]\nremove_actions = ["ec2 RunInstances"]\n'
    assert "'ec2 RunInstances', which is not an action (service:Action, a wildcard allowed)" in refusal(text, tmp_path)


def test_an_action_name_with_a_hyphen_is_an_action(tmp_path: Path) -> None:
    # As AWS names some (vpc-lattice:AssociateViaAWSService-EventsAndStates): refused only as not granted.
    action = "vpc-lattice:AssociateViaAWSService-EventsAndStates"
    text = f'[policy]\nactions = ["ec2:RunInstances"]\nremove_actions = ["{action}"]\n'
    said = refusal(text, tmp_path)
    assert "which is not an action" not in said and "so it removes nothing" in said
