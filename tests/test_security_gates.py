"""Security gates on every shipped profile: checkov on real plans, parliament and cloudsplaining on the documents.

Each finding that remains is listed with its reason in docs/security.md; a finding that appears or goes away
fails here, so the list cannot go stale and a shipped policy cannot regress unnoticed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
import re
from typing import Any

import pytest

from programmatic_iam.analysis.risk import assess
from programmatic_iam_dev.emulator import AwsEmulator
from tests.support.helpers import REPO, run_command, synth
from tests.support.terraform import Terraform, unavailable

pytestmark = [pytest.mark.terraform, pytest.mark.engine]

CHECKOV = REPO / ".venv-checkov" / "bin" / "checkov"
SECURITY_DOC = REPO / "docs" / "security.md"
STACK = "production-streammanager"
HARDENED = '[policy]\ntemplate = "stream-manager-2.0-hardened"\n'
PROFILES = {
    "stream-manager-2.0": None,
    "stream-manager-2.0-hardened": HARDENED,
    "stream-manager-2.0-hardened, attached to a group": HARDENED + '[user]\nattach_policies_to = "group"\n',
}


@pytest.fixture(scope="module")
def plans(terraform: Terraform, aws_emulator: AwsEmulator, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``terraform show -json`` of a plan of each profile's stack (checkov's policy checks need a plan)."""
    aws_emulator.reset()
    emulated = terraform.with_environment(aws_emulator.environment(base=terraform.env))
    aws_emulator.client("s3").create_bucket(Bucket="terraform-state")
    found = {}
    for name, config in PROFILES.items():
        folder = tmp_path_factory.mktemp("profile")
        synth(config, folder)
        stack = folder / "cdktf.out" / "stacks" / STACK
        emulated.init(stack)
        found[name] = folder / "plan.json"
        found[name].write_text(json.dumps(emulated.plan_json(stack)), encoding="utf-8")
    return found


def checkov_failures(plan: Path) -> set[str]:
    """The ids of the checks checkov fails on ``plan``, offline."""
    if not CHECKOV.exists():
        unavailable(f"checkov is not installed in {CHECKOV.parent.parent.name}/; run `make test`, which installs it")
    environment = {
        **os.environ,
        "BC_SKIP_MAPPING": "TRUE",
        "CKV_SKIP_PACKAGE_UPDATE_CHECK": "TRUE",
        "LOG_LEVEL": "ERROR",
    }
    completed = run_command(
        [str(CHECKOV), "-f", str(plan), "--framework", "terraform_plan", "--skip-download", "--compact", "-o", "json"],
        plan.parent,
        environment,
    )
    assert completed.returncode in (0, 1), completed.stderr
    report = json.loads(completed.stdout)
    report = report[0] if isinstance(report, list) else report
    assert report["summary"]["parsing_errors"] == 0
    assert report["summary"]["passed"] > 10  # the checks ran (on cdk.tf.json the policy checks silently do not)
    return {check["check_id"] for check in report["results"]["failed_checks"]}


def documented(section: str) -> set[str]:
    """The check or finding ids listed in ``docs/security.md`` under the heading ``section``."""
    text = SECURITY_DOC.read_text(encoding="utf-8")
    body = text.split(f"### {section}\n", 1)[1].split("\n#", 1)[0]
    return set(re.findall(r"^\| `([A-Z_0-9]+)` \|", body, re.MULTILINE))


def policy_documents(plan: Path) -> list[dict[str, Any]]:
    data = json.loads(plan.read_text(encoding="utf-8"))
    return [
        json.loads(change["change"]["after"]["policy"])
        for change in data["resource_changes"]
        if change["type"] == "aws_iam_policy"
    ]


@pytest.mark.parametrize("profile", list(PROFILES))
def test_checkov_fails_only_what_docs_security_md_explains(plans: dict[str, Path], profile: str) -> None:
    assert checkov_failures(plans[profile]) == documented(f"checkov: {profile}")


def test_the_hardened_profile_passes_checkovs_policy_checks(plans: dict[str, Path]) -> None:
    assert {"CKV_AWS_290", "CKV_AWS_355"} <= checkov_failures(plans["stream-manager-2.0"])
    assert not {"CKV_AWS_290", "CKV_AWS_355"} & checkov_failures(plans["stream-manager-2.0-hardened"])


@pytest.mark.parametrize("profile", ["stream-manager-2.0", "stream-manager-2.0-hardened"])
def test_parliament_finds_only_what_docs_security_md_explains(plans: dict[str, Path], profile: str) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # parliament imports pkg_resources, which warns of its own deprecation
        from parliament import analyze_policy_string

    found = set()
    for document in policy_documents(plans[profile]):
        for statement in document["Statement"]:
            single = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
            found |= {f"{finding.issue}" for finding in analyze_policy_string(single).findings}
    assert found == documented(f"parliament: {profile}")


def test_parliaments_deliberate_findings_are_the_split_statements(plans: dict[str, Path]) -> None:
    """RESOURCE_MISMATCH only where a launch or a rule is split into tagged and untagged resources on purpose."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from parliament import analyze_policy_string

    (document,) = policy_documents(plans["stream-manager-2.0-hardened"])
    flagged = {
        statement["Sid"]
        for statement in document["Statement"]
        if analyze_policy_string(json.dumps({"Version": "2012-10-17", "Statement": [statement]})).findings
    }
    assert flagged == {"LaunchTagged", "LaunchFrom", "NewSecurityGroupRules"}


@pytest.mark.parametrize(
    ("profile", "escalations"),
    [("stream-manager-2.0", {"ModifyEC2InstanceUserDataThenRestart"}), ("stream-manager-2.0-hardened", set())],
)
def test_cloudsplaining_escalation_paths(plans: dict[str, Path], profile: str, escalations: set[str]) -> None:
    findings = assess(policy_documents(plans[profile]))
    found = {
        f.title.removeprefix("privilege escalation (").rstrip(")") for f in findings if f.kind == "privilege-escalation"
    }
    assert found == escalations
