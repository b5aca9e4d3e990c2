"""The review's pure pieces: Markdown that nothing can break out of, GitHub's count, the risk engine."""

from __future__ import annotations

import json

import pytest

from programmatic_iam.analysis.comment import fenced, inline_code, length
from programmatic_iam.analysis.risk import assess, new_findings
from tests.support.helpers import REPO

SEED = json.loads((REPO / "tests" / "fixtures" / "seed-console-policy.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("value", "markdown"),
    [
        ("production-streammanager", "`production-streammanager`"),
        ("a`b", "``a`b``"),
        ("`edge", "`` `edge ``"),
        ("a``b", "```a``b```"),
        ("x|y", "`x\\|y`"),
        ("line\nbreak\ttab", "`line break tab`"),
        ("<img src=x>", "`<img src=x>`"),
    ],
)
def test_inline_code_keeps_values_inert(value: str, markdown: str) -> None:
    assert inline_code(value) == markdown


def test_a_fence_is_longer_than_any_backtick_run_inside() -> None:
    assert fenced(["a", "b"], "diff") == "```diff\na\nb\n```"
    assert fenced(['+ "```````"'], "diff") == '````````diff\n+ "```````"\n````````'


def test_length_counts_as_github_does() -> None:
    assert length("abc") == 3
    assert length("\u2795") == 1  # heavy plus: one UTF-16 unit
    assert length("\u26a0\ufe0f") == 2  # warning sign and its emoji selector
    assert length("\U0001f511") == 2  # outside the BMP: a surrogate pair


def test_the_seed_policy_has_the_user_data_escalation_and_destructive_actions() -> None:
    findings = {finding.title: finding for finding in assess([SEED])}
    escalation = findings["privilege escalation (ModifyEC2InstanceUserDataThenRestart)"]
    assert (escalation.severity, escalation.actions) == (
        "high",
        ("ec2:ModifyInstanceAttribute", "ec2:StartInstances", "ec2:StopInstances"),
    )
    assert escalation.link.startswith("https://")
    destructive = findings["destructive actions on any resource"]
    assert destructive.severity == "medium"
    assert "ec2:TerminateInstances" in destructive.actions
    assert set(findings) == {
        "privilege escalation (ModifyEC2InstanceUserDataThenRestart)",
        "destructive actions on any resource",
    }


def test_a_path_across_two_policies_is_found() -> None:
    run = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ec2:RunInstances", "Resource": "*"}]}
    pass_role = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"}]}
    titles = [finding.title for finding in assess([run, pass_role])]
    assert "privilege escalation (CreateEC2WithExistingIP)" in titles
    assert "privilege escalation (CreateEC2WithExistingIP)" not in [f.title for f in assess([run])]


def test_a_condition_scopes_the_actions_it_guards() -> None:
    scoped = dict(SEED["Statement"][0], Condition={"StringEquals": {"aws:ResourceTag/app": "streammanager"}})
    assert assess([{"Version": "2012-10-17", "Statement": [scoped]}]) == ()


def test_only_new_or_grown_findings_are_new() -> None:
    before = assess([SEED])
    grown = dict(SEED["Statement"][0], Action=[*SEED["Statement"][0]["Action"], "ec2:DeleteVolume"])
    after = assess([{"Version": "2012-10-17", "Statement": [grown]}])
    assert [f.title for f in new_findings(before, after)] == ["destructive actions on any resource"]
    assert new_findings(after, before) == ()
