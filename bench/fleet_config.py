"""A generated fleet: ``identities`` identities in ``environments`` environments, as an organisation would write it.

Identities vary the way real ones do, so the resolution does real work per stack rather than one merge reused:
every fourth has a policy of its own, every fifth a delivery of its own, every seventh is rotated in its first
environment, every eleventh lists its environments (all of them) rather than taking the default.
:func:`fleet_stacks` describes the stacks it makes, for the plain app. ``python bench/fleet_config.py 200 3``
prints the file.
"""

from __future__ import annotations

import sys
from typing import Any

ACTIONS = ("s3:GetObject", "s3:ListBucket", "logs:PutLogEvents", "cloudwatch:GetMetricData", "sqs:ReceiveMessage")
REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2", "us-west-2", "eu-central-1")


def fleet_toml(identities: int, environments: int) -> str:
    """A valid configuration of ``identities`` by ``environments`` stacks."""
    environment_names = [f"env{index}" for index in range(environments)]
    lines = [
        "[naming]",
        'namespace = "fleet"',
        'user = "{{ namespace }}-{{ environment }}-{{ name }}"',
        'policy = "{{ namespace }}-{{ environment }}-{{ name }}-access"',
        "",
        "[policy]",
        f"actions = {_list(ACTIONS[:2])}",
        "",
        "[backend]",
        'bucket = "fleet-terraform-state"',
        'key = "{{ environment }}/{{ user }}.tfstate"',
        "",
        "[tags]",
        'team = "platform"',
    ]
    for index, name in enumerate(environment_names):
        lines += [
            "",
            "[[environments]]",
            f'name = "{name}"',
            f'region = "{REGIONS[index % len(REGIONS)]}"',
            f'account_id = "{100000000000 + index:012d}"',
        ]
        if index == 0:
            lines += ["[environments.access_key]", 'delivery = "ssm"']
    for index in range(identities):
        lines += ["", "[[identities]]", f'name = "service{index:04d}"']
        if index % 11 == 10:
            lines.append(f"environments = {_list(environment_names)}")
        if index % 4 == 3:
            lines += ["[identities.policy]", f"actions = {_list(ACTIONS[index % 3 : index % 3 + 3])}"]
        if index % 5 == 4:
            lines += ["[identities.access_key]", 'delivery = "secretsmanager"']
        if index % 7 == 6:
            lines += [f"[identities.environment.{environment_names[0]}.access_key]", "generation = 2"]
    return "\n".join(lines) + "\n"


def fleet_stacks(identities: int, environments: int) -> list[dict[str, Any]]:
    """The stacks :func:`fleet_toml` makes, one per identity and environment, as the plain app needs them: each
    one's id, region, account, policy actions, access key generation and delivery (the precedence resolved as
    ours resolves it, so that both apps make the same resources; the benchmark checks that they do)."""
    stacks = []
    for index in range(identities):
        name = f"service{index:04d}"
        actions = sorted(ACTIONS[index % 3 : index % 3 + 3] if index % 4 == 3 else ACTIONS[:2])
        for environment in range(environments):
            if index % 5 == 4:
                delivery = "secretsmanager"
            elif environment == 0:
                delivery = "ssm"
            else:
                delivery = "output"
            stacks.append(
                {
                    "id": f"fleet-env{environment}-{name}",
                    "region": REGIONS[environment % len(REGIONS)],
                    "account_id": f"{100000000000 + environment:012d}",
                    "actions": actions,
                    "generation": 2 if index % 7 == 6 and environment == 0 else 1,
                    "delivery": delivery,
                }
            )
    return stacks


def _list(items: tuple[str, ...] | list[str]) -> str:
    return "[" + ", ".join(f'"{item}"' for item in items) + "]"


if __name__ == "__main__":
    sys.stdout.write(fleet_toml(int(sys.argv[1]), int(sys.argv[2])))
