"""A fleet: each identity in each environment, each setting from the most specific layer that writes it, every problem at
the key where its value was written, and the checks across the fleet's stacks."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from programmatic_iam.blueprint import identity_spec
from programmatic_iam.cli import main
from programmatic_iam.cli.inputs import load_configured
from programmatic_iam.config import Fleet, StackConfig, load_config, load_fleet
from programmatic_iam.errors import ConfigError
from tests.support.helpers import TWO_ENVIRONMENTS, write_config

POLICY = '[policy]\nactions = ["s3:GetObject"]\n'
KMS_KEY = "arn:aws:kms:us-east-1:222222222222:key/1234abcd-12ab-44cd-86ef-1234567890ab"


def fleet_of(directory: Path, text: str) -> Fleet:
    write_config(directory, text)
    return load_fleet({}, cwd=directory)


def problems_of(directory: Path, text: str) -> list[str]:
    """Every problem of the file, its fleet and its blueprint, as ``check`` reports them."""
    write_config(directory, text)
    with pytest.raises(ConfigError) as caught:
        load_configured({}, directory)
    return [problem.render() for problem in caught.value.problems]


def check(directory: Path, *argv: str) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    code = main(["check", *argv], environ={}, cwd=directory, stdout=stdout, stderr=stderr)
    return code, stdout.getvalue(), stderr.getvalue()


def stack(fleet: Fleet, identity: str, environment: str) -> StackConfig:
    (found,) = (s for s in fleet.stacks if (s.identity, s.environment.name) == (identity, environment))
    return found


def value_at(config: StackConfig, key: str) -> Any:
    section, _, name = key.rpartition(".")
    holder: Any = config
    for part in section.split("."):
        holder = getattr(holder, part)
    return holder[name] if isinstance(holder, dict) else getattr(holder, name)


# Layers, least specific first: where a table of each is written, and where its key then is.
LAYERS = ("top", "environment", "identity", "identity in environment")
TABLES = {
    "top": "[{section}]",
    "environment": "[environments.{section}]",
    "identity": "[identities.{section}]",
    "identity in environment": "[identities.environment.production.{section}]",
}
WRITTEN = {
    "top": "{key}",
    "environment": "environments[1].{key}",
    "identity": "identities[0].{key}",
    "identity in environment": "identities[0].environment.production.{key}",
}
# A key of each section, a value per layer, and the layers that may set it (an environment only some sections).
SETTINGS = [
    ("access_key.generation", ["2", "3", "4", "5"], LAYERS),
    ("access_key.max_age_days", ["30", "40", "50", "60"], LAYERS),
    ("user.path", ['"/a/"', '"/b/"', '"/c/"', '"/d/"'], LAYERS),
    ("policy.hardening.tag_key", ['"A"', '"B"', '"C"', '"D"'], LAYERS),
    ("tags.team", ['"a"', '"b"', '"c"', '"d"'], LAYERS),
    ("naming.policy", ['"p1-{{ environment }}"', "", '"p3-{{ environment }}"', '"p4-{{ environment }}"'], LAYERS),
    ("policy.max_policies", ["2", "", "3", "4"], LAYERS),
    ("policy.description", ['"one"', "", '"three"', '"four"'], LAYERS),
]


def layered_file(key: str, values: dict[str, str]) -> str:
    """A fleet of identity ``svc`` in staging and production, with ``key`` set in each layer of ``values``."""
    section, _, name = key.rpartition(".")

    def table(layer: str) -> str:
        return f"{TABLES[layer].format(section=section)}\n{name} = {values[layer]}\n" if layer in values else ""

    environments = TWO_ENVIRONMENTS.format(staging="", production=table("environment"))
    top = table("top").replace("[policy]\n", "") if section == "policy" else table("top")  # one [policy] table
    return f'{POLICY}{top}{environments}\n[[identities]]\nname = "svc"\n{table("identity")}' + table(
        "identity in environment"
    )


def python_value(toml: str) -> Any:
    return toml.strip('"') if toml.startswith('"') else int(toml)


@pytest.mark.parametrize(
    ("key", "values", "layer"),
    [(key, values, layer) for key, values, layers in SETTINGS for layer in layers if values[LAYERS.index(layer)]],
)
def test_each_layer_alone_sets_the_value_and_is_named_as_its_origin(
    tmp_path: Path, key: str, values: list[str], layer: str
) -> None:
    fleet = fleet_of(tmp_path, layered_file(key, {layer: values[LAYERS.index(layer)]}))
    production = stack(fleet, "svc", "production")
    assert value_at(production, key) == python_value(values[LAYERS.index(layer)])
    assert production.written_at(key) == WRITTEN[layer].format(key=key)
    staging = stack(fleet, "svc", "staging")  # what production alone is given stays there
    if layer in ("environment", "identity in environment"):
        assert staging.written_at(key) is None
    else:
        assert staging.written_at(key) == WRITTEN[layer].format(key=key)


@pytest.mark.parametrize(
    ("key", "values", "most_specific"),
    [(key, values, count) for key, values, _ in SETTINGS for count in range(2, len(LAYERS) + 1)],
)
def test_the_most_specific_layer_wins(tmp_path: Path, key: str, values: list[str], most_specific: int) -> None:
    written = {layer: value for layer, value in zip(LAYERS[:most_specific], values, strict=False) if value}
    fleet = fleet_of(tmp_path, layered_file(key, written))
    winner = LAYERS[most_specific - 1] if values[most_specific - 1] else LAYERS[most_specific - 2]
    production = stack(fleet, "svc", "production")
    assert value_at(production, key) == python_value(written[winner])
    assert production.written_at(key) == WRITTEN[winner].format(key=key)


def test_the_built_in_default_is_named_as_no_key(tmp_path: Path) -> None:
    production = stack(fleet_of(tmp_path, layered_file("access_key.generation", {})), "svc", "production")
    assert (production.access_key.generation, production.written_at("access_key.generation")) == (1, None)


def test_tables_merge_key_by_key_and_lists_replace(tmp_path: Path) -> None:
    text = (
        '[policy]\nactions = ["s3:GetObject"]\n[policy.hardening]\nregions = ["us-east-1", "eu-west-1"]\n'
        '[access_key]\ndelivery = "ssm"\nmax_age_days = 30\n[tags]\nteam = "platform"\ncost = "shared"\n'
        + TWO_ENVIRONMENTS.format(staging="", production="[environments.access_key]\ngeneration = 2\n")
        + '[[identities]]\nname = "svc"\n[identities.access_key]\nmax_age_days = 60\n[identities.tags]\ncost = "svc"\n'
        '[identities.policy.hardening]\nregions = ["eu-west-1"]\n'
    )
    production = stack(fleet_of(tmp_path, text), "svc", "production")
    key = production.access_key
    assert (key.delivery, key.generation, key.max_age_days) == ("ssm", 2, 60)
    assert [production.written_at(f"access_key.{k}") for k in ("delivery", "generation", "max_age_days")] == [
        "access_key.delivery",
        "environments[1].access_key.generation",
        "identities[0].access_key.max_age_days",
    ]
    assert production.tags == {"team": "platform", "cost": "svc"}
    assert production.policy.hardening.regions == ("eu-west-1",)
    assert production.written_at("policy.hardening.regions") == "identities[0].policy.hardening.regions"


@pytest.mark.parametrize(
    ("layers", "source", "written"),
    [
        ('[identities.policy]\nfile = "policy.json"\n', ("file", "policy.json"), "identities[0].policy.file"),
        (
            '[identities.environment.production.policy]\ntemplate = "policy.json.j2"\n',
            ("template", "policy.json.j2"),
            "identities[0].environment.production.policy.template",
        ),
        (
            '[identities.policy]\nfile = "policy.json"\n[identities.environment.production.policy]\n'
            'actions = ["s3:PutObject"]\n',
            ("actions", ("s3:PutObject",)),
            "identities[0].environment.production.policy.actions",
        ),
        # hardening is not a source: the inherited actions stay
        ('[identities.policy.hardening]\ntag_key = "Team"\n', ("actions", ("s3:GetObject",)), "policy.actions"),
    ],
)
def test_a_layer_setting_a_policy_source_replaces_the_inherited_one(
    tmp_path: Path, layers: str, source: tuple[str, Any], written: str
) -> None:
    text = POLICY + TWO_ENVIRONMENTS.format(staging="", production="") + '[[identities]]\nname = "svc"\n' + layers
    production = stack(fleet_of(tmp_path, text), "svc", "production")
    policy = production.policy
    assert {name: getattr(policy, name) for name in ("actions", "file", "template") if getattr(policy, name)} == {
        source[0]: source[1]
    }
    assert production.written_at(f"policy.{source[0]}") == written


@pytest.mark.parametrize(
    ("delivery", "kept"),
    [("output", None), ("secretsmanager", KMS_KEY), ("ssm", KMS_KEY)],
)
def test_a_layer_choosing_a_delivery_drops_the_settings_it_does_not_use(
    tmp_path: Path, delivery: str, kept: str | None
) -> None:
    text = (
        POLICY
        + f'[access_key]\ndelivery = "ssm"\nkms_key_id = "{KMS_KEY}"\n'
        + TWO_ENVIRONMENTS.format(staging="", production="")
        + f'[[identities]]\nname = "svc"\n[identities.access_key]\ndelivery = "{delivery}"\n'
    )
    production = stack(fleet_of(tmp_path, text), "svc", "production")
    assert production.access_key.kms_key_id == kept
    assert production.written_at("access_key.kms_key_id") == (None if kept is None else "access_key.kms_key_id")


THREE_IDENTITIES = '[[identities]]\nname = "a"\n[[identities]]\nname = "b"\n[[identities]]\nname = "c"\n'


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        (
            "[access_key]\ngeneration = 0\n" + TWO_ENVIRONMENTS.format(staging="", production="") + THREE_IDENTITIES,
            "iam.toml: access_key.generation: 0 should be greater than or equal to 1",
        ),
        (
            TWO_ENVIRONMENTS.format(staging="", production="[environments.access_key]\ngeneration = 0\n")
            + THREE_IDENTITIES,
            "iam.toml: environments[1].access_key.generation: 0 should be greater than or equal to 1",
        ),
        (
            TWO_ENVIRONMENTS.format(staging="", production="")
            + '[[identities]]\nname = "a"\n[[identities]]\nname = "b"\n[identities.access_key]\ngeneration = 0\n'
            + '[[identities]]\nname = "c"\n',
            "iam.toml: identities[1].access_key.generation: 0 should be greater than or equal to 1",
        ),
        (
            '[user]\npath = "no-slashes"\n' + TWO_ENVIRONMENTS.format(staging="", production="") + THREE_IDENTITIES,
            "iam.toml: user.path: 'no-slashes'",
        ),
        (
            '[naming]\nuser = "{{ nope }}-{{ name }}-{{ environment }}"\n'
            + TWO_ENVIRONMENTS.format(staging="", production="")
            + THREE_IDENTITIES,
            "iam.toml: naming.user (identity 'a', environment 'staging', and 5 other stacks alike): "
            "'{{ nope }}-{{ name }}-{{ environment }}' uses the unknown variable 'nope'",
        ),
        (
            TWO_ENVIRONMENTS.format(staging="", production='[environments.access_key]\ndelivery = "pgp"\n')
            + '[[identities]]\nname = "a"\n[[identities]]\nname = "b"\n[identities.access_key]\nmax_age_days = 10\n',
            'iam.toml: environments[1].access_key: sets delivery = "pgp" without pgp_key',
        ),
    ],
    ids=["top level", "environment", "identity", "a path", "a template", "keys in conflict"],
)
def test_rejects_a_value_inherited_by_many_stacks_once_at_the_key_it_was_written_at(
    tmp_path: Path, settings: str, problem: str
) -> None:
    problems = problems_of(tmp_path, POLICY + settings)
    assert len(problems) == 1, problems
    assert problems[0].startswith(problem), problems


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            TWO_ENVIRONMENTS.format(staging="[environments.access_key]\ngenration = 2\n", production=""),
            "iam.toml: environments[0].access_key.genration: this key is not a configuration key; did you mean "
            "'generation'?",
        ),
        (
            TWO_ENVIRONMENTS.format(staging="[environments.policy.hardening]\nregionz = []\n", production=""),
            "iam.toml: environments[0].policy.hardening.regionz: this key is not a configuration key; did you mean "
            "'regions'?",
        ),
        (
            TWO_ENVIRONMENTS.format(staging="", production="")
            + '[[identities]]\nname = "svc"\nenviroments = ["staging"]\n',
            "iam.toml: identities[0].enviroments: this key is not a configuration key; did you mean 'environments'?",
        ),
        (
            TWO_ENVIRONMENTS.format(staging="", production="")
            + '[[identities]]\nname = "svc"\n[identities.user]\npth = "/"\n',
            "iam.toml: identities[0].user.pth: this key is not a configuration key; did you mean 'path'?",
        ),
        (
            TWO_ENVIRONMENTS.format(staging="", production="")
            + '[[identities]]\nname = "svc"\n[identities.environment.production.access_key]\ndelivry = "ssm"\n',
            "iam.toml: identities[0].environment.production.access_key.delivry: this key is not a configuration "
            "key; did you mean 'delivery'?",
        ),
    ],
    ids=["environment", "environment's hardening", "identity", "identity's section", "identity in environment"],
)
def test_rejects_an_unknown_key_of_a_layer_with_a_suggestion(tmp_path: Path, text: str, problem: str) -> None:
    assert [p.splitlines()[0] for p in problems_of(tmp_path, POLICY + text)] == [problem]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            TWO_ENVIRONMENTS.format(staging='[environments.policy]\nactions = ["s3:PutObject"]\n', production=""),
            "iam.toml: environments[0].policy.actions: this key cannot be set for an environment, which may set only "
            "policy.hardening of the policy",
        ),
        (
            TWO_ENVIRONMENTS.format(staging="", production='[environments.policy]\nfile = "policy.json"\n'),
            "iam.toml: environments[1].policy.file: this key cannot be set for an environment, which may set only "
            "policy.hardening of the policy",
        ),
        (
            TWO_ENVIRONMENTS.format(staging="", production="")
            + '[[identities]]\nname = "svc"\n[identities.naming]\nname = "other"\n',
            "iam.toml: identities[0].naming.name: this key cannot be set for an identity: templates see the "
            "identity's own `name` as `name`",
        ),
        (
            '[naming]\nname = "ignored"\n'
            + TWO_ENVIRONMENTS.format(staging="", production="")
            + '[[identities]]\nname = "svc"\n',
            "iam.toml: naming.name: 'ignored' does nothing in a file with [[identities]]: each identity is named by "
            "its own name",
        ),
    ],
    ids=["environment's actions", "environment's file", "identity's naming.name", "naming.name in a fleet"],
)
def test_rejects_a_key_that_layer_may_not_set(tmp_path: Path, text: str, problem: str) -> None:
    assert [p.splitlines()[0] for p in problems_of(tmp_path, POLICY + text)] == [problem]


@pytest.mark.parametrize(
    ("identities", "problem"),
    [
        (
            '[[identities]]\nname = "svc"\nenvironments = ["staging", "prodution"]\n',
            "iam.toml: identities[0].environments[1]: 'prodution' is not an environment; did you mean 'production'?",
        ),
        (
            '[[identities]]\nname = "svc"\nenvironments = ["staging", "staging"]\n',
            "iam.toml: identities[0].environments[1]: 'staging' is listed twice",
        ),
        (
            '[[identities]]\nname = "svc"\nenvironments = []\n',
            "iam.toml: identities[0].environments: [] names no environment, so the identity would be deployed nowhere",
        ),
        (
            '[[identities]]\nname = "svc"\n[identities.environment.prodution.user]\npath = "/a/"\n',
            "iam.toml: identities[0].environment.prodution: this table is not an environment; did you mean "
            "'production'?",
        ),
        (
            '[[identities]]\nname = "svc"\nenvironments = ["staging"]\n'
            '[identities.environment.production.user]\npath = "/a/"\n',
            "iam.toml: identities[0].environment.production: this table sets the identity's settings in "
            "'production', an environment it is not deployed to (identities[0].environments), so they would do "
            "nothing",
        ),
        (
            '[[identities]]\nname = "Svc"\n[[identities]]\nname = "sVC"\n',
            "iam.toml: identities[1].name: 'sVC' is also the name of identities[0] ('Svc'); identity names are "
            "compared ignoring case, as IAM compares the names made from them",
        ),
        (
            '[[identities]]\nname = "my service"\n',
            "iam.toml: identities[0].name: 'my service' has characters IAM does not allow in names: ' '",
        ),
        ("identities = []\n", "iam.toml: identities: [] lists no identity, so nothing would be deployed"),
    ],
    ids=[
        "unknown environment",
        "environment twice",
        "no environment",
        "settings for an unknown environment",
        "settings for an environment not deployed to",
        "names equal ignoring case",
        "invalid name",
        "no identity",
    ],
)
def test_rejects_a_bad_identity(tmp_path: Path, identities: str, problem: str) -> None:
    text = (identities if identities.startswith("identities =") else "") + POLICY
    text += TWO_ENVIRONMENTS.format(staging="", production="")
    text += "" if identities.startswith("identities =") else identities
    assert [p.splitlines()[0] for p in problems_of(tmp_path, text)] == [problem]


def two_identities(naming: str, *, same_account: bool, cloud: str = "") -> str:
    environments = TWO_ENVIRONMENTS.format(staging="", production="")
    if same_account:
        environments = environments.replace("222222222222", "111111111111")
    return (
        f'{POLICY}[user]\nattach_policies_to = "group"\n[naming]\n{naming}\n{cloud}{environments}'
        '[[identities]]\nname = "a"\n[[identities]]\nname = "b"\n'
    )


@pytest.mark.parametrize(
    ("naming", "problems"),
    [
        (
            'policy = "{{ environment }}-shared"',
            [
                "iam.toml: naming.policy: 'staging-shared' identity 'a' in 'staging' and identity 'b' in 'staging' "
                "both get this policy name (IAM compares names ignoring case) in account 111111111111",
                "iam.toml: naming.policy: 'production-shared' identity 'a' in 'production' and identity 'b' in "
                "'production' both get this policy name (IAM compares names ignoring case) in account 222222222222",
            ],
        ),
        (
            'group = "shared"',
            [
                "iam.toml: naming.group: 'shared' identity 'a' in 'staging' and identity 'b' in 'staging' both get "
                "this group name (IAM compares names ignoring case) in account 111111111111",
                "iam.toml: naming.group: 'shared' identity 'a' in 'production' and identity 'b' in 'production' "
                "both get this group name (IAM compares names ignoring case) in account 222222222222",
            ],
        ),
        (
            'user = "{{ environment }}"',
            [
                "iam.toml: naming.user: 'staging' identity 'a' in 'staging' and identity 'b' in 'staging' both get "
                "this user name (IAM compares names ignoring case)",
                "iam.toml: naming.user: 'production' identity 'a' in 'production' and identity 'b' in 'production' "
                "both get this user name (IAM compares names ignoring case)",
            ],
        ),
    ],
    ids=["policy", "group", "user"],
)
def test_rejects_names_two_identities_share_in_an_account(tmp_path: Path, naming: str, problems: list[str]) -> None:
    rendered = [p.splitlines()[0] for p in problems_of(tmp_path, two_identities(naming, same_account=False))]
    # a shared user name shares the default state key ({{ user }}) too: that problem is another test's
    assert [p for p in rendered if p.startswith("iam.toml: naming.")] == problems


@pytest.mark.parametrize(
    "naming",
    ['policy = "shared-{{ name }}"', 'group = "shared-{{ name }}"', 'policy = "P-{{ name }}"\ngroup = "G-{{ name }}"'],
)
def test_a_policy_or_group_name_may_repeat_in_another_account(tmp_path: Path, naming: str) -> None:
    write_config(tmp_path, two_identities(naming, same_account=False))
    fleet, blueprint = load_configured({}, tmp_path)
    assert len(blueprint.stacks) == len(fleet.stacks) == 4


@pytest.mark.parametrize(
    ("naming", "problem"),
    [
        (
            'policy = "shared-{{ name }}"',
            "iam.toml: naming.policy: 'shared-a' identity 'a' in 'staging' and identity 'a' in 'production' both get "
            "this policy name (IAM compares names ignoring case) in account 111111111111",
        ),
        (
            "policy = \"{% if name == 'a' %}Shared{% else %}{{ environment }}-{{ name }}{% endif %}\"\n"
            'group = "{{ environment }}-{{ name }}-group"',
            "iam.toml: naming.policy: 'Shared' identity 'a' in 'staging' and identity 'a' in 'production' both get "
            "this policy name (IAM compares names ignoring case) in account 111111111111",
        ),
    ],
    ids=["same name", "same name ignoring case"],
)
def test_rejects_a_policy_name_repeated_in_one_account(tmp_path: Path, naming: str, problem: str) -> None:
    rendered = [p.splitlines()[0] for p in problems_of(tmp_path, two_identities(naming, same_account=True))]
    assert problem in rendered, rendered


def test_rejects_names_equal_ignoring_case_in_one_account(tmp_path: Path) -> None:
    naming = "policy = \"{% if name == 'a' %}Shared{% else %}shared{% endif %}-{{ environment }}\""
    assert [p.splitlines()[0] for p in problems_of(tmp_path, two_identities(naming, same_account=False))] == [
        "iam.toml: naming.policy: 'shared-staging' identity 'a' in 'staging' and identity 'b' in 'staging' both "
        "get this policy name (IAM compares names ignoring case) in account 111111111111",
        "iam.toml: naming.policy: 'shared-production' identity 'a' in 'production' and identity 'b' in "
        "'production' both get this policy name (IAM compares names ignoring case) in account 222222222222",
    ]


def test_rejects_a_user_name_repeated_in_another_account_which_would_share_a_stack_folder(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, two_identities('user = "{{ name }}"', same_account=False))
    assert [p.splitlines()[0] for p in problems if p.startswith("iam.toml: naming.")] == [
        f"iam.toml: naming.user: '{name}' identity '{name}' in 'staging' and identity '{name}' in 'production' both "
        "get this user name (IAM compares names ignoring case); in different accounts, but the user name is also "
        "the stack's id, its folder in cdktf.out/stacks"
        for name in ("a", "b")
    ]


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        (
            '[backend]\nkey = "{{ environment }}.tfstate"\n',
            "iam.toml: backend.key: 'staging.tfstate' is the state of both identity 'a' in 'staging' and identity "
            "'b' in 'staging'; they would overwrite each other",
        ),
        (
            '[cloud]\norganization = "acme"\nworkspace = "iam-{{ environment }}"\n',
            "iam.toml: cloud.workspace: 'iam-staging' is the state of both identity 'a' in 'staging' and identity "
            "'b' in 'staging'; they would overwrite each other",
        ),
    ],
    ids=["state key", "workspace"],
)
def test_rejects_a_state_two_identities_share(tmp_path: Path, settings: str, problem: str) -> None:
    text = POLICY + settings + TWO_ENVIRONMENTS.format(staging="", production="") + '[[identities]]\nname = "a"\n'
    text += '[[identities]]\nname = "b"\n'
    rendered = [p.splitlines()[0] for p in problems_of(tmp_path, text)]
    assert rendered[0] == problem and len(rendered) == 2, rendered


FLEET = (
    POLICY
    + "[access_key]\nmax_age_days = 30\n"
    + TWO_ENVIRONMENTS.format(staging="", production='[environments.access_key]\ndelivery = "ssm"\n')
    + '[[identities]]\nname = "backup"\n'
    + '[[identities]]\nname = "exporter"\nenvironments = ["production"]\n[identities.policy]\n'
    + 'actions = ["cloudwatch:GetMetricData"]\n[identities.environment.production.access_key]\ngeneration = 2\n'
)


def test_stacks_are_in_identity_order_then_environment_order(tmp_path: Path) -> None:
    fleet = fleet_of(tmp_path, FLEET)
    assert fleet.identities == ("backup", "exporter") and fleet.explicit
    assert [(s.identity, s.environment.name, s.identity_key) for s in fleet.stacks] == [
        ("backup", "staging", "identities[0]"),
        ("backup", "production", "identities[0]"),
        ("exporter", "production", "identities[1]"),
    ]
    assert [s.stack_id for s in load_configured({}, tmp_path)[1].stacks] == [
        "staging-backup",
        "production-backup",
        "production-exporter",
    ]


def test_a_file_without_identities_is_one_identity_named_by_naming_name(tmp_path: Path) -> None:
    fleet = fleet_of(
        tmp_path, POLICY + '[naming]\nname = "recorder"\n' + TWO_ENVIRONMENTS.format(staging="", production="")
    )
    assert not fleet.explicit and fleet.identities == ("recorder",)
    assert [(s.identity, s.identity_key, s.written_at("naming.name")) for s in fleet.stacks] == [
        ("recorder", None, "naming.name")
    ] * 2


@pytest.mark.parametrize(
    ("identity", "environment", "selected"),
    [
        (None, None, [("backup", "staging"), ("backup", "production"), ("exporter", "production")]),
        ("backup", None, [("backup", "staging"), ("backup", "production")]),
        (None, "production", [("backup", "production"), ("exporter", "production")]),
        ("exporter", "production", [("exporter", "production")]),
    ],
)
def test_select_picks_stacks_by_identity_and_environment(
    tmp_path: Path, identity: str | None, environment: str | None, selected: list[tuple[str, str]]
) -> None:
    stacks = fleet_of(tmp_path, FLEET).select(identity, environment)
    assert [(s.identity, s.environment.name) for s in stacks] == selected


def test_rejects_an_environment_no_identity_is_deployed_to(tmp_path: Path) -> None:
    text = POLICY + TWO_ENVIRONMENTS.format(staging="", production="") + '[[identities]]\nname = "a"\n'
    write_config(tmp_path, text + 'environments = ["production"]\n')
    with pytest.raises(ConfigError) as caught:
        load_fleet({}, cwd=tmp_path).select(environment="staging")
    assert [p.render() for p in caught.value.problems] == [
        "--environment: 'staging' is not an environment of any identity\n    fix: use one of production"
    ]


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        (
            ["--identity", "exportr"],
            "--identity: 'exportr' is not an identity of the configuration; did you mean "
            "'exporter'?\n    fix: use one of backup, exporter",
        ),
        (
            ["--environment", "prod"],
            "--environment: 'prod' is not an environment of the configuration\n    fix: use one of staging, production",
        ),
        (
            ["--identity", "exporter", "--environment", "staging"],
            "--environment: 'staging' is not an environment of identity 'exporter'\n    fix: use one of production",
        ),
    ],
    ids=["unknown identity", "unknown environment", "an environment the identity is not in"],
)
def test_rejects_a_selection_that_matches_no_stack(tmp_path: Path, argv: list[str], problem: str) -> None:
    write_config(tmp_path, FLEET)
    code, stdout, stderr = check(tmp_path, "--explain", *argv)
    assert (code, stdout) == (2, "")
    assert problem in stderr, stderr


EXPLAINED = """\
production-exporter: identity 'exporter' in environment 'production' (environments[1], us-east-1, account 222222222222)
  kind = "user"                                         # (default)
  naming.namespace = ""                                 # (default)
  naming.name = "exporter"                              # identities[1].name
  naming.user = "{{ environment }}-{{ name }}"          # (default)
  naming.policy = "{{ environment }}-{{ name }}-programmatic-access"  # (default)
  naming.group = "{{ environment }}-{{ name }}"         # (default)
  naming.delimiter = "-"                                # (default)
  policy.actions = ["cloudwatch:GetMetricData"]         # identities[1].policy.actions
  policy.resources = ["*"]                              # (default)
  policy.allow_wildcards = false                        # (default)
  policy.allow_unlisted_actions = []                    # (default)
  policy.remove_actions = []                            # (default)
  policy.unused_for_days = 90                           # (default)
  policy.description = "Programmatic access for {{ name }} in {{ environment }}"  # (default)
  policy.path = "/"                                     # (default)
  policy.hardening.tag_key = "Application"              # (default)
  policy.hardening.tag_value = ""                       # (default)
  policy.hardening.regions = []                         # (default)
  policy.hardening.source_ips = []                      # (default)
  policy.high_risk_findings = "warn"                    # (default)
  policy.max_policies = 10                              # (default)
  user.path = "/"                                       # (default)
  user.force_destroy = false                            # (default)
  user.attach_policies_to = "user"                      # (default)
  user.tags = {}                                        # (default)
  user.adopt = false                                    # (default)
  backend.bucket = "terraform-state"                    # (default)
  backend.key = "{{ user }}/terraform.tfstate"          # (default)
  backend.region = "us-east-1"                          # (default)
  backend.encrypt = true                                # (default)
  backend.use_lockfile = true                           # (default)
  access_key.delivery = "ssm"                           # environments[1].access_key.delivery
  access_key.secret_name = "{{ user }}/access-key"      # (default)
  access_key.parameter_path = "/{{ user }}/access-key"  # (default)
  access_key.create = true                              # (default)
  access_key.generation = 2                             # identities[1].environment.production.access_key.generation
  access_key.previous = "none"                          # (default)
  access_key.max_age_days = 30                          # access_key.max_age_days
  access_key.rotation_grace_days = 7                    # (default)
  terraform.provider_version = ">= 5.100.0, < 7.0.0"    # (default)
  terraform.required_version = ">= 1.10.0"              # (default)
  tags = {}                                             # (default)
"""


def test_check_explain_prints_each_setting_with_the_key_it_was_written_at(tmp_path: Path) -> None:
    write_config(tmp_path, FLEET)
    code, stdout, stderr = check(tmp_path, "--explain", "--identity", "exporter", "--environment", "production")
    assert (code, stdout, stderr) == (0, EXPLAINED, "")


def test_check_explain_without_a_selection_explains_every_stack(tmp_path: Path) -> None:
    write_config(tmp_path, FLEET)
    code, stdout, _ = check(tmp_path, "--explain", "--quiet")
    heads = [line for line in stdout.splitlines() if line and not line.startswith(" ")]
    assert code == 0
    assert heads == [
        "staging-backup: identity 'backup' in environment 'staging' (environments[0], eu-west-1, account 111111111111)",
        "production-backup: identity 'backup' in environment 'production' (environments[1], us-east-1, account "
        "222222222222)",
        EXPLAINED.splitlines()[0],
    ]
    assert '  access_key.delivery = "output"' in stdout.split("production-backup")[0]


def test_check_lists_the_stacks_by_identity(tmp_path: Path) -> None:
    write_config(tmp_path, FLEET)
    code, stdout, _ = check(tmp_path)
    assert (code, stdout) == (
        0,
        "3 stacks of 2 identities, no problems:\n"
        "  backup\n    staging-backup (staging, eu-west-1)\n    production-backup (production, us-east-1)\n"
        "  exporter\n    production-exporter (production, us-east-1)\n",
    )


def test_an_instance_profile_leaves_the_key_settings_of_its_environment_be(tmp_path: Path) -> None:
    text = (
        POLICY
        + TWO_ENVIRONMENTS.format(staging="", production='[environments.access_key]\ndelivery = "ssm"\n')
        + '[[identities]]\nname = "svc"\n[[identities]]\nname = "tiles"\nkind = "instance-profile"\n'
    )
    write_config(tmp_path, text)
    assert len(load_configured({}, tmp_path)[1].stacks) == 4


def test_rejects_key_settings_an_instance_profile_writes_for_itself(tmp_path: Path) -> None:
    text = (
        POLICY
        + TWO_ENVIRONMENTS.format(staging="", production="")
        + '[[identities]]\nname = "tiles"\nkind = "instance-profile"\n'
        + "[identities.environment.production.access_key]\ngeneration = 2\n"
    )
    assert [p.splitlines()[0] for p in problems_of(tmp_path, text)] == [
        "iam.toml: identities[0].environment.production.access_key.generation: 2 does not apply with "
        'kind = "instance-profile", which makes a role and no user or key'
    ]


def test_identity_spec_gives_the_named_identity_of_a_fleet(tmp_path: Path) -> None:
    write_config(tmp_path, FLEET)
    config = load_config({}, cwd=tmp_path)
    spec = identity_spec(config, "production", identity="exporter")
    assert spec.principal.name == "production-exporter"
    assert spec.credentials.generation == 2


@pytest.mark.parametrize(
    ("identity", "problem"),
    [
        (None, "iam.toml: identities: 2 identities leave the identity to choose open"),
        ("exportr", "iam.toml: identities: 'exportr' is not an identity; did you mean 'exporter'?"),
    ],
)
def test_rejects_identity_spec_of_a_fleet_without_a_known_identity(
    tmp_path: Path, identity: str | None, problem: str
) -> None:
    write_config(tmp_path, FLEET)
    with pytest.raises(ConfigError) as caught:
        identity_spec(load_config({}, cwd=tmp_path), "production", identity=identity)
    assert [p.render().splitlines()[0] for p in caught.value.problems] == [problem]


def test_check_explain_leaves_out_of_an_instance_profile_what_only_a_user_and_its_key_use(tmp_path: Path) -> None:
    # Production's delivery reaches every identity deployed there, the instance profile too, which has no key.
    write_config(
        tmp_path, FLEET + '[[identities]]\nname = "tiles"\nkind = "instance-profile"\nenvironments = ["production"]\n'
    )
    code, stdout, stderr = check(tmp_path, "--explain", "--identity", "tiles")
    assert (code, stderr) == (0, "")
    keys = [line.split()[0] for line in stdout.splitlines()[1:] if not line.lstrip().startswith("#")]
    assert '  kind = "instance-profile"' in stdout and "user.path" in keys and "policy.actions" in keys
    assert [key for key in keys if key.startswith("access_key.")] == []
    assert {"user.adopt", "user.attach_policies_to", "user.force_destroy"}.isdisjoint(keys)
    assert stdout.splitlines()[-1] == (
        "  # not used by an instance profile, which has no user and no key: access_key.*, user.adopt, "
        "user.attach_policies_to, user.force_destroy"
    )
    # A user in the same environment keeps them all.
    code, stdout, _ = check(tmp_path, "--explain", "--identity", "exporter")
    assert '  access_key.delivery = "ssm"' in stdout and "not used by an instance profile" not in stdout
