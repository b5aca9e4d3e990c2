"""``keys rotate`` without AWS: the next step as data, the table it is written in, the evidence each step needs,
and the edit of ``iam.toml`` (nothing but the rotation keys changes, line by line)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
import difflib
from pathlib import Path
import re
import textwrap
import tomllib
from typing import Any

import pytest

from programmatic_iam.analysis.keys import KeyInIam
from programmatic_iam.config import Fleet, StackConfig, parse_fleet
from programmatic_iam.config.editing import edit_table
from programmatic_iam.files import MAX_CONFIG_BYTES, RefusedError, replace_file_text
from programmatic_iam.rotation import (
    DELIVERY_ALLOWANCE,
    RotationPlan,
    RotationRefusedError,
    Step,
    StoreReading,
    evidence_problems,
    is_due,
    plan_rotation,
    unchecked_delivery,
    unplanned_changes,
)

REPO = Path(__file__).resolve().parents[2]
TODAY = date(2027, 3, 1)
NOW = datetime(2027, 3, 1, 12, tzinfo=UTC)


def fleet_of(text: str, base_dir: Path = REPO / "examples") -> Fleet:
    return parse_fleet(tomllib.loads(textwrap.dedent(text)), origin="iam.toml", base_dir=base_dir)


def stack_of(fleet: Fleet, environment: str, identity: str | None = None) -> StackConfig:
    return next(s for s in fleet.stacks if s.environment.name == environment and identity in (None, s.identity))


def single(settings: str) -> str:
    return f"[access_key]\n{settings}\n"


# ---------------------------------------------------------------------------------------------------------------------
# The plan: every state a stack can be in, and every step asked of it
# ---------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "requested", "step", "writes", "removes"),
    [
        ("", None, "create", (("generation", 2), ("previous", "active")), ()),
        ("generation = 1", "create", "create", (("generation", 2), ("previous", "active")), ()),
        (
            'generation = 2\nprevious = "active"',
            None,
            "deactivate",
            (("previous", "inactive"), ("deactivated_on", TODAY)),
            (),
        ),
        (
            'generation = 2\nprevious = "active"',
            "deactivate",
            "deactivate",
            (("previous", "inactive"), ("deactivated_on", TODAY)),
            (),
        ),
        ('generation = 2\nprevious = "inactive"', None, "delete", (("previous", "none"),), ()),
        (
            'generation = 2\nprevious = "inactive"\ndeactivated_on = 2027-02-01',
            "delete",
            "delete",
            (("previous", "none"),),
            ("deactivated_on",),
        ),
        ('generation = 2\nprevious = "none"', None, "create", (("generation", 3), ("previous", "active")), ()),
        (
            'generation = 7\nprevious = "none"\ndeactivated_on = 2027-02-01',
            None,
            "create",
            (("generation", 8), ("previous", "active")),
            ("deactivated_on",),
        ),
        (
            'generation = 3\nprevious = "active"',
            None,
            "deactivate",
            (("previous", "inactive"), ("deactivated_on", TODAY)),
            (),
        ),
    ],
)
def test_the_next_step_follows_previous(
    settings: str, requested: Step | None, step: Step, writes: tuple[tuple[str, Any], ...], removes: tuple[str, ...]
) -> None:
    fleet = fleet_of(single(settings))
    plan = plan_rotation(fleet, fleet.stacks[0], TODAY, requested)
    assert (plan.step, plan.writes, plan.removes) == (step, writes, removes)


@pytest.mark.parametrize(
    ("settings", "requested", "message"),
    [
        (
            "",
            "deactivate",
            "is at step 1 of 3 (create the new key beside the old one: previous = 'none'); deactivate is step 2, which needs previous = 'active'",
        ),
        (
            "",
            "delete",
            "is at step 1 of 3 (create the new key beside the old one: previous = 'none'); delete is step 3, which needs previous = 'inactive'",
        ),
        (
            'generation = 2\nprevious = "active"',
            "create",
            "is at step 2 of 3 (deactivate the old key: previous = 'active'); create is step 1, which needs previous = 'none'",
        ),
        (
            'generation = 2\nprevious = "active"',
            "delete",
            "is at step 2 of 3 (deactivate the old key: previous = 'active'); delete is step 3, which needs previous = 'inactive'",
        ),
        (
            'generation = 2\nprevious = "inactive"',
            "create",
            "is at step 3 of 3 (delete the old key: previous = 'inactive'); create is step 1, which needs previous = 'none'",
        ),
        (
            'generation = 2\nprevious = "inactive"',
            "deactivate",
            "is at step 3 of 3 (delete the old key: previous = 'inactive'); deactivate is step 2, which needs previous = 'active'",
        ),
    ],
)
def test_rejects_a_step_out_of_order(settings: str, requested: Step, message: str) -> None:
    fleet = fleet_of(single(settings))
    with pytest.raises(RotationRefusedError) as refused:
        plan_rotation(fleet, fleet.stacks[0], TODAY, requested)
    assert str(refused.value) == f"environment 'production' {message}"
    assert refused.value.out_of_order


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('kind = "instance-profile"\n', "has no access key to rotate (kind = 'instance-profile')"),
        ("[access_key]\ncreate = false\n", "manages no key (access_key.create = false)"),
    ],
)
def test_rejects_a_stack_without_a_managed_key(text: str, message: str) -> None:
    fleet = fleet_of(text)
    with pytest.raises(RotationRefusedError, match=re.escape(message)) as refused:
        plan_rotation(fleet, fleet.stacks[0], TODAY)
    assert not refused.value.out_of_order


# ---------------------------------------------------------------------------------------------------------------------
# The table: the most specific one that holds the keys and that no other stack reads
# ---------------------------------------------------------------------------------------------------------------------

TWO_ENVIRONMENTS = """
[[environments]]
name = "staging"
region = "eu-west-1"

[[environments]]
name = "production"
region = "us-east-1"
"""


@pytest.mark.parametrize(
    ("text", "environment", "identity", "where"),
    [
        ("", "production", None, "access_key"),
        ("[access_key]\ngeneration = 3\n", "production", None, "access_key"),
        ('[[environments]]\nname = "prod"\nregion = "us-east-1"\n', "prod", None, "access_key"),
        (
            '[[environments]]\nname = "prod"\nregion = "us-east-1"\n[environments.access_key]\ngeneration = 2\n',
            "prod",
            None,
            "environments[0].access_key",
        ),
        (TWO_ENVIRONMENTS, "production", None, "environments[1].access_key"),
        # Written at the top, read by both stacks: rotating one writes in its environment's entry instead.
        ("[access_key]\ngeneration = 4\n" + TWO_ENVIRONMENTS, "staging", None, "environments[0].access_key"),
        (
            TWO_ENVIRONMENTS + '[[identities]]\nname = "a"\n[[identities]]\nname = "b"\n',
            "production",
            "b",
            "identities[1].environment.production.access_key",
        ),
        # The identity's own table is read by its two stacks: not the place for one stack's rotation.
        (
            TWO_ENVIRONMENTS + '[[identities]]\nname = "a"\n[identities.access_key]\ngeneration = 2\n',
            "staging",
            "a",
            "identities[0].environment.staging.access_key",
        ),
        # ... but it is when the identity is deployed to one environment only.
        (
            TWO_ENVIRONMENTS
            + '[[identities]]\nname = "a"\nenvironments = ["staging"]\n[identities.access_key]\ngeneration = 2\n',
            "staging",
            "a",
            "identities[0].access_key",
        ),
        # An environment's entry is the place when a single identity is deployed there ...
        (
            TWO_ENVIRONMENTS.replace('region = "us-east-1"\n', 'region = "us-east-1"\naccess_key.generation = 3\n')
            + '[[identities]]\nname = "a"\n[[identities]]\nname = "b"\nenvironments = ["staging"]\n',
            "production",
            "a",
            "environments[1].access_key",
        ),
        # ... and not when several are.
        (
            TWO_ENVIRONMENTS.replace('region = "us-east-1"\n', 'region = "us-east-1"\naccess_key.generation = 3\n')
            + '[[identities]]\nname = "a"\n[[identities]]\nname = "b"\n',
            "production",
            "a",
            "identities[0].environment.production.access_key",
        ),
        (
            TWO_ENVIRONMENTS
            + '[[identities]]\nname = "a"\n[identities.environment.staging.access_key]\ngeneration = 5\n',
            "staging",
            "a",
            "identities[0].environment.staging.access_key",
        ),
    ],
)
def test_the_keys_go_in_the_most_specific_table_only_the_stack_reads(
    text: str, environment: str, identity: str | None, where: str
) -> None:
    fleet = fleet_of(text)
    assert plan_rotation(fleet, stack_of(fleet, environment, identity), TODAY).where == where


# ---------------------------------------------------------------------------------------------------------------------
# The edit: after each step, only the rotation keys differ, and the file resolves to exactly the plan
# ---------------------------------------------------------------------------------------------------------------------

SINGLE_WITH_COMMENTS = """\
# The media server's identity (one environment).
[naming]
name = "streammanager"   # the application

[policy]
actions = ["ec2:DescribeInstances"]

# Rotated by `keys rotate`; see docs/key-rotation.md.
[access_key]
delivery = "output"
max_age_days = 60        # our policy: two months

# The state, one bucket for all.
[backend]
bucket = "acme-state"
"""

ROTATION_LINE = re.compile(r'^(generation = \d+|previous = "(none|active|inactive)"|deactivated_on = \d{4}-\d\d-\d\d)$')


def changed_lines(before: str, after: str) -> list[str]:
    """Every line removed or added from ``before`` to ``after``."""
    return [
        line[2:] for line in difflib.ndiff(before.splitlines(), after.splitlines()) if line.startswith(("- ", "+ "))
    ]


def walk(text: str, environment: str, identity: str | None, steps: int) -> list[tuple[RotationPlan, str, str]]:
    """Each step of ``steps`` written in turn: the plan, the text before and after; each checked with the loader."""
    walked = []
    for _ in range(steps):
        fleet = fleet_of(text)
        plan = plan_rotation(fleet, stack_of(fleet, environment, identity), TODAY)
        edited = edit_table(text, plan.table, plan.writes, plan.removes)
        assert unplanned_changes(fleet, fleet_of(edited), [plan]) == []
        walked.append((plan, text, edited))
        text = edited
    return walked


@pytest.mark.parametrize(
    ("text", "environment", "identity"),
    [
        (SINGLE_WITH_COMMENTS, "production", None),
        ((REPO / "examples/fleet.toml").read_text(encoding="utf-8"), "production", "streammanager"),
        ((REPO / "examples/fleet.toml").read_text(encoding="utf-8"), "staging", "backup"),
        ((REPO / "examples/fleet.toml").read_text(encoding="utf-8"), "production", "metrics-exporter"),
        ((REPO / "examples/multi-environment.toml").read_text(encoding="utf-8"), "staging", None),
    ],
)
def test_each_step_changes_only_the_rotation_keys(text: str, environment: str, identity: str | None) -> None:
    for plan, before, after in walk(text, environment, identity, steps=6):
        allowed = {plan.table_name, ""}
        assert all(ROTATION_LINE.match(line) or line in allowed for line in changed_lines(before, after)), (
            plan.title,
            changed_lines(before, after),
        )
        # Every comment of the file is still there, in the same order.
        assert [line for line in after.splitlines() if line.lstrip().startswith("#")] == [
            line for line in before.splitlines() if line.lstrip().startswith("#")
        ]


def test_a_full_rotation_of_the_fleet_example_reads_as_a_person_would_write_it() -> None:
    text = (REPO / "examples/fleet.toml").read_text(encoding="utf-8")
    steps = walk(text, "staging", "streammanager", steps=3)
    assert [plan.step for plan, _, _ in steps] == ["create", "deactivate", "delete"]
    end = steps[-1][2]
    assert sorted(changed_lines(text, end)) == sorted(
        ["", "[identities.environment.staging.access_key]", "generation = 2", 'previous = "none"']
    )
    assert (
        '\n\n[identities.environment.staging.access_key]\ngeneration = 2\nprevious = "none"\n\n# The nightly backup'
        in end
    )


def test_a_value_keeps_its_comment_and_a_removed_key_its_neighbours() -> None:
    text = '[access_key]\ngeneration = 2   # since March\nprevious = "inactive"  # step 2 done\ndeactivated_on = 2027-02-01\nmax_age_days = 30\n'
    fleet = fleet_of(text)
    plan = plan_rotation(fleet, fleet.stacks[0], TODAY)
    assert edit_table(text, plan.table, plan.writes, plan.removes) == (
        '[access_key]\ngeneration = 2   # since March\nprevious = "none"  # step 2 done\nmax_age_days = 30\n'
    )


def test_a_new_key_goes_beside_the_rotation_keys_already_there() -> None:
    text = "[access_key]\ngeneration = 1\nmax_age_days = 30\n"
    fleet = fleet_of(text)
    plan = plan_rotation(fleet, fleet.stacks[0], TODAY)
    assert edit_table(text, plan.table, plan.writes, plan.removes) == (
        '[access_key]\ngeneration = 2\nprevious = "active"\nmax_age_days = 30\n'
    )


def test_an_inline_table_is_edited_in_place() -> None:
    text = (
        TWO_ENVIRONMENTS
        + '[[identities]]\nname = "a"\nenvironment.staging.access_key = { generation = 2, previous = "active" }\n'
    )
    fleet = fleet_of(text)
    plan = plan_rotation(fleet, stack_of(fleet, "staging", "a"), TODAY)
    edited = edit_table(text, plan.table, plan.writes, plan.removes)
    assert unplanned_changes(fleet, fleet_of(edited), [plan]) == []
    assert edited.startswith(TWO_ENVIRONMENTS + '[[identities]]\nname = "a"\n')


def test_rejects_an_edit_that_would_change_another_stack() -> None:
    text = "[access_key]\ngeneration = 4\n" + TWO_ENVIRONMENTS
    fleet = fleet_of(text)
    plan = plan_rotation(fleet, stack_of(fleet, "staging"), TODAY)
    # The top-level table, which both stacks read: what a careless writer would edit.
    wrong = edit_table(text, ("access_key",), plan.writes, plan.removes)
    assert unplanned_changes(fleet, fleet_of(wrong), [plan]) == [
        "environment 'production': settings other than the rotation's changed"
    ]


# ---------------------------------------------------------------------------------------------------------------------
# The evidence: what IAM must show before each step
# ---------------------------------------------------------------------------------------------------------------------

OLD = KeyInIam("AKIAOLD", "Active", NOW - timedelta(days=100))
NEW = KeyInIam("AKIANEW", "Active", NOW - timedelta(days=2))


def key(base: KeyInIam, **changes: Any) -> KeyInIam:
    return KeyInIam(**{**{f: getattr(base, f) for f in KeyInIam.__slots__}, **changes})


@pytest.mark.parametrize(
    ("settings", "step", "keys", "problems"),
    [
        ("", "create", (OLD,), []),
        ("", "create", None, ["its user is not in IAM: deploy the stack first"]),
        (
            "",
            "create",
            (OLD, NEW),
            ["IAM holds 2 keys for the user, not 1: finish the previous rotation (or apply it) first"],
        ),
        (
            "",
            "create",
            (key(OLD, status="Inactive"),),
            ["the only key AKIAOLD is Inactive, but the configuration says it is in use"],
        ),
        ('generation = 2\nprevious = "active"', "deactivate", (OLD, NEW), []),
        (
            'generation = 2\nprevious = "active"',
            "deactivate",
            (key(OLD, last_used=NOW - timedelta(days=3), last_service="ec2"), NEW),
            [],
        ),
        (  # a use while the apply delivers the new key, or a call in flight meanwhile: the consumer switched
            'generation = 2\nprevious = "active"',
            "deactivate",
            (key(OLD, last_used=NEW.created + DELIVERY_ALLOWANCE, last_service="ec2"), NEW),
            [],
        ),
        (
            'generation = 2\nprevious = "active"',
            "deactivate",
            (key(OLD, last_used=NEW.created + DELIVERY_ALLOWANCE + timedelta(seconds=1), last_service="ec2"), NEW),
            [
                "the old key AKIAOLD was used at 2027-02-27 12:00:16 UTC (ec2), after the new key AKIANEW was "
                "delivered at 2027-02-27 12:00:00 UTC: switch that consumer to the new key first"
            ],
        ),
        (
            'generation = 2\nprevious = "active"',
            "deactivate",
            (OLD,),
            ["IAM holds 1 key(s) for the user, not 2: apply the previous step first"],
        ),
        (
            'generation = 2\nprevious = "active"',
            "deactivate",
            (key(OLD, last_used=NOW - timedelta(days=1), last_service="ec2", last_region="eu-west-1"), NEW),
            [
                "the old key AKIAOLD was used at 2027-02-28 12:00:00 UTC (ec2, eu-west-1), after the new key AKIANEW was "
                "delivered at 2027-02-27 12:00:00 UTC: switch that consumer to the new key first"
            ],
        ),
        (
            'generation = 2\nprevious = "active"',
            "deactivate",
            (OLD, key(NEW, status="Inactive")),
            ["the new key AKIANEW is Inactive"],
        ),
        (
            'generation = 2\nprevious = "inactive"\ndeactivated_on = 2027-02-22',
            "delete",
            (key(OLD, status="Inactive"), NEW),
            [],
        ),
        (
            'generation = 2\nprevious = "inactive"\ndeactivated_on = 2027-02-23',
            "delete",
            (key(OLD, status="Inactive"), NEW),
            [
                "the old key AKIAOLD is inactive since 2027-02-23, less than the grace period of 7 day(s) "
                "(access_key.rotation_grace_days): delete it on or after 2027-03-02"
            ],
        ),
        (
            'generation = 2\nprevious = "inactive"\ndeactivated_on = 2027-02-28\nrotation_grace_days = 1',
            "delete",
            (key(OLD, status="Inactive"), NEW),
            [],
        ),
        (
            'generation = 2\nprevious = "inactive"\ndeactivated_on = 2027-02-01',
            "delete",
            (OLD, NEW),
            ["the old key AKIAOLD is still Active: apply step 2 (deactivate) first"],
        ),
        (
            'generation = 2\nprevious = "inactive"',
            "delete",
            (key(OLD, status="Inactive"), NEW),
            [
                "access_key.deactivated_on is not set, so how long the old key has been inactive is unknown: set it "
                "to the day it was deactivated"
            ],
        ),
    ],
)
def test_the_evidence_each_step_needs(
    settings: str, step: Step, keys: tuple[KeyInIam, ...] | None, problems: list[str]
) -> None:
    fleet = fleet_of(single(settings))
    assert evidence_problems(step, keys, fleet.stacks[0], NOW) == problems


@pytest.mark.parametrize(
    ("settings", "keys", "due"),
    [
        ("max_age_days = 90", (key(OLD, created=NOW - timedelta(days=91)),), True),
        ("max_age_days = 90", (key(OLD, created=NOW - timedelta(days=89)),), False),
        ("max_age_days = 90", None, False),
        ('generation = 2\nprevious = "active"', (OLD, NEW), True),
        ('generation = 2\nprevious = "active"', (key(OLD, last_used=NOW), NEW), False),
        (
            'generation = 2\nprevious = "inactive"\ndeactivated_on = 2027-02-01',
            (key(OLD, status="Inactive"), NEW),
            True,
        ),
        (
            'generation = 2\nprevious = "inactive"\ndeactivated_on = 2027-02-28',
            (key(OLD, status="Inactive"), NEW),
            False,
        ),
    ],
)
def test_a_key_is_due_past_its_age_or_when_the_next_steps_evidence_holds(
    settings: str, keys: tuple[KeyInIam, ...] | None, due: bool
) -> None:
    fleet = fleet_of(single(settings))
    assert is_due(fleet.stacks[0], keys, NOW) is due


PARAMETER = "'/streammanager/production/access-key-id'"
SECRET = "'streammanager/production'"
APPLY = "apply step 1 (which writes the store) first"


@pytest.mark.parametrize(
    ("store", "problems"),
    [
        (StoreReading("ssm", PARAMETER, key_id="AKIANEW"), []),
        (
            StoreReading("ssm", PARAMETER, key_id="AKIAOLD"),
            [f"the parameter {PARAMETER} holds the key id AKIAOLD, not the new key AKIANEW: {APPLY}"],
        ),
        (
            StoreReading("ssm", PARAMETER),
            [
                f"the parameter {PARAMETER} does not exist, so it holds neither the old key AKIAOLD nor the new key "
                f"AKIANEW: {APPLY}"
            ],
        ),
        (StoreReading("secretsmanager", SECRET, changed=NEW.created + timedelta(seconds=1)), []),
        # IAM's creation time is to the second: a write within the new key's second is after it.
        (StoreReading("secretsmanager", SECRET, changed=NEW.created.replace(microsecond=0)), []),
        (
            StoreReading("secretsmanager", SECRET, changed=NEW.created - timedelta(seconds=1)),
            [
                f"the secret {SECRET} last changed at 2027-02-27 11:59:59 UTC, before the new key AKIANEW was created "
                f"at 2027-02-27 12:00:00 UTC: it still holds the old key AKIAOLD, not the new one; {APPLY}"
            ],
        ),
        (
            StoreReading("secretsmanager", SECRET),
            [
                f"the secret {SECRET} does not exist, so it holds neither the old key AKIAOLD nor the new key AKIANEW: "
                f"{APPLY}"
            ],
        ),
        (None, []),  # not read: the outputs' keys, which keys rotate says it does not check
    ],
)
def test_deactivate_needs_the_store_to_deliver_the_new_key(store: StoreReading | None, problems: list[str]) -> None:
    stack = fleet_of(single('generation = 2\nprevious = "active"')).stacks[0]
    assert evidence_problems("deactivate", (OLD, NEW), stack, NOW, store) == problems
    assert is_due(stack, (OLD, NEW), NOW, store) is (not problems)


def test_rejects_deactivate_with_a_stale_store_but_still_names_a_consumer_left_behind() -> None:
    stack = fleet_of(single('generation = 2\nprevious = "active"')).stacks[0]
    used = key(OLD, last_used=NOW, last_service="ec2")
    problems = evidence_problems("deactivate", (used, NEW), stack, NOW, StoreReading("ssm", PARAMETER, "AKIAOLD"))
    assert [problem.split(" ", 3)[:3] for problem in problems] == [
        ["the", "old", "key"],
        ["the", "parameter", PARAMETER],
    ]


@pytest.mark.parametrize(
    ("step", "delivery", "notice"),
    [
        (
            "deactivate",
            "output",
            'not checked: that the outputs hold the new key (delivery = "output"): they live in the Terraform state, '
            "which keys rotate does not read",
        ),
        (
            "deactivate",
            "pgp",
            'not checked: that the outputs hold the new key (delivery = "pgp"): they live in the Terraform state, '
            "which keys rotate does not read",
        ),
        ("deactivate", "ssm", None),
        ("deactivate", "secretsmanager", None),
        ("create", "output", None),
        ("delete", "output", None),
    ],
)
def test_deactivate_says_what_it_cannot_check_of_the_outputs(step: Step, delivery: str, notice: str | None) -> None:
    assert unchecked_delivery(step, delivery) == notice


# ---------------------------------------------------------------------------------------------------------------------
# The write: the whole file replaced at once, its permissions kept; never through a link, never past the cap
# ---------------------------------------------------------------------------------------------------------------------


def test_the_file_is_replaced_whole_and_keeps_its_permissions(tmp_path: Path) -> None:
    config = tmp_path / "iam.toml"
    config.write_text("[access_key]\ngeneration = 1\n", encoding="utf-8")
    config.chmod(0o640)
    replace_file_text(config, "[access_key]\ngeneration = 2\n", limit=MAX_CONFIG_BYTES)
    assert config.read_text(encoding="utf-8") == "[access_key]\ngeneration = 2\n"
    assert config.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["iam.toml"]  # no temporary file left behind


@pytest.mark.parametrize(("link", "size", "reason"), [(True, 10, "not-a-file"), (False, 11, "too-large")])
def test_rejects_writing_through_a_link_or_past_the_cap(tmp_path: Path, link: bool, size: int, reason: str) -> None:
    real = tmp_path / "real.toml"
    real.write_text("a = 1\n", encoding="utf-8")
    config = tmp_path / "iam.toml"
    if link:
        config.symlink_to(real)
    else:
        config.write_text("a = 1\n", encoding="utf-8")
    with pytest.raises(RefusedError) as refused:
        replace_file_text(config, "b" * size, limit=10)
    assert refused.value.reason == reason
    assert real.read_text(encoding="utf-8") == "a = 1\n" and config.read_text(encoding="utf-8") == "a = 1\n"
