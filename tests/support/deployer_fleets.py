"""Fleets for the deployer policy's tests: many stacks of every kind under one IAM path and folders of their own."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from programmatic_iam.analysis.deployer import FLEET_PATH
from programmatic_iam.spec import Blueprint, StackSpec

from .helpers import blueprint_of

PATHS = f'[user]\npath = "{FLEET_PATH}"\n{{user}}[policy]\npath = "{FLEET_PATH}"\n'
FOLDER = "programmatic-iam/"
STATE = f'[backend]\nkey = "{FOLDER}{{{{ user }}}}/terraform.tfstate"\n'
SECRETS = f'[access_key]\ndelivery = "secretsmanager"\nsecret_name = "{FOLDER}{{{{ user }}}}/access-key"\n'
PARAMETERS = f'[access_key]\ndelivery = "ssm"\nparameter_path = "/{FOLDER}{{{{ user }}}}/access-key"\n'
ACCOUNTS = ("111111111111", "222222222222", "333333333333")
# One identity per kind and delivery (named after it), each in a quarter of the fleet's environments.
KINDS = {
    "direct": PATHS.format(user="") + STATE,
    "grouped": PATHS.format(user='attach_policies_to = "group"\n') + STATE + SECRETS,
    "profile": 'kind = "instance-profile"\n' + PATHS.format(user="") + STATE,
    "stored": PATHS.format(user="") + STATE + PARAMETERS,
}


def environments(count: int, accounts: tuple[str, ...] | None) -> str:
    """``count`` environments, spread over ``accounts`` (``None``: no account_id)."""
    return "".join(
        f'[[environments]]\nname = "env{i}"\nregion = "us-east-1"\n'
        + (f'account_id = "{accounts[i % len(accounts)]}"\n' if accounts else "")
        for i in range(count)
    )


def fleet(
    stacks: int, directory: Path, identities: Mapping[str, str], *, accounts: tuple[str, ...] | None = None
) -> Blueprint:
    """A blueprint of ``stacks`` stacks: the ``identities`` (name -> configuration) in turn, each in as many
    environments as its share (the same environments for each, spread over ``accounts``)."""
    per_identity = -(-stacks // len(identities))
    made: list[StackSpec] = []
    for name, toml in identities.items():
        folder = directory / name
        folder.mkdir()
        config = toml + f'[naming]\nname = "{name}"\n' + environments(per_identity, accounts)
        made += blueprint_of(config, folder).stacks
    return Blueprint(tuple(made[:stacks]), ())
