"""An independent IAM policy evaluator for the tests: what AWS would decide for a request, given policy documents.

It runs `@cloud-copilot/iam-simulate` (pinned in package.json) in one Node.js process per call, however many
requests. That package is AGPL-3.0: it is a test tool only, never imported or shipped by ``modules/``.

    decide({"deployer": document}, [Request("iam:AttachUserPolicy", user_arn, {"iam:PolicyARN": policy_arn})])
    -> ["Allowed"]

A request it cannot decide exactly fails the test with the evaluator's own message (an invalid policy, an
unknown action, a context key the action does not have and which would be silently ignored, a resource with
``*`` in it, which it reads as a pattern). Without Node.js or the package the test is skipped, or fails in CI.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
import json
import os
import shutil
import subprocess
from typing import Any, Literal, cast

import pytest

from .engines import REPO

Decision = Literal["Allowed", "ImplicitlyDenied", "ExplicitlyDenied"]
DECISIONS: tuple[Decision, ...] = ("Allowed", "ImplicitlyDenied", "ExplicitlyDenied")
ACCOUNT_ID = "123456789012"
"""The account of a request's resource (and of its principal) unless the request names another."""

SCRIPT = REPO / "tests" / "support" / "iam_evaluator.mjs"
PACKAGE = REPO / "node_modules" / "@cloud-copilot" / "iam-simulate" / "package.json"
TIMEOUT_SECONDS = 120


@dataclass(frozen=True, slots=True)
class Request:
    """One API call to decide: the action, the resource's ARN (or ``*``) and the request's context keys.

    ``principal`` defaults to a user named ``deployer`` in ``account_id``, in the resource's partition.
    """

    action: str
    resource: str
    context: Mapping[str, str | Sequence[str]] = field(default_factory=dict)
    account_id: str = ACCOUNT_ID
    principal: str | None = None

    def to_json_value(self) -> dict[str, Any]:
        partition = self.resource.split(":")[1] if self.resource.startswith("arn:") else "aws"
        principal = self.principal or f"arn:{partition}:iam::{self.account_id}:user/deployer"
        return {
            "principal": principal,
            "action": self.action,
            "resource": {"resource": self.resource, "accountId": self.account_id},
            "contextVariables": {
                key: value if isinstance(value, str) else list(value) for key, value in self.context.items()
            },
        }


def decide(
    identity_policies: Mapping[str, Mapping[str, Any]],
    requests: Sequence[Request],
    *,
    permission_boundaries: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[Decision]:
    """The decision for each request, in order, under the identity policies (name -> document) and boundaries."""
    require_evaluator()
    given = {
        "identityPolicies": _named(identity_policies),
        "permissionBoundaryPolicies": None if permission_boundaries is None else _named(permission_boundaries),
        "requests": [request.to_json_value() for request in requests],
    }
    try:
        finished = subprocess.run(
            ["node", str(SCRIPT)],
            input=json.dumps(given),
            capture_output=True,
            text=True,
            timeout=TIMEOUT_SECONDS,
            cwd=REPO,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"the IAM evaluator did not answer {len(requests)} requests in {TIMEOUT_SECONDS} s")
    if finished.returncode != 0:
        pytest.fail(f"the IAM evaluator failed (exit {finished.returncode}):\n{finished.stderr.strip()}")
    results = json.loads(finished.stdout)["results"]
    # An invalid policy makes every request fail the same way: said once.
    invalid = next((r["error"] for r in results if r.get("error", {}).get("message") == "policy.errors"), None)
    if invalid is not None:
        pytest.fail(f"the IAM evaluator finds the policies invalid: {json.dumps(invalid)}")
    errors = [
        f"  {request.action} on {request.resource} with {dict(request.context)}: {json.dumps(result['error'])}"
        for request, result in zip(requests, results, strict=True)
        if "error" in result
    ]
    if errors:
        pytest.fail("the IAM evaluator could not decide these requests:\n" + "\n".join(errors))
    decisions = [result["decision"] for result in results]
    unknown = sorted({decision for decision in decisions if decision not in DECISIONS})
    if unknown:
        pytest.fail(f"the IAM evaluator answered {unknown}, none of {list(DECISIONS)}")
    return cast(list[Decision], decisions)


def decide_named(
    identity_policies: Mapping[str, Mapping[str, Any]],
    requests: Mapping[str, Request],
    *,
    permission_boundaries: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Decision]:
    """:func:`decide` for requests by name (a test's labels): name -> decision, in one run of the evaluator."""
    decisions = decide(identity_policies, list(requests.values()), permission_boundaries=permission_boundaries)
    return dict(zip(requests, decisions, strict=True))


def require_evaluator() -> None:
    """Skip the test when Node.js or the pinned package is missing; in CI (``CI`` set), fail it instead."""
    missing = [
        what
        for what, present in (
            ("Node.js (node on PATH)", shutil.which("node") is not None),
            ("@cloud-copilot/iam-simulate in node_modules", PACKAGE.exists()),
        )
        if not present
    ]
    if not missing:
        return
    message = f"the IAM evaluator needs {' and '.join(missing)}; install Node.js, then run `make setup`"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def _named(policies: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [{"name": name, "policy": dict(document)} for name, document in policies.items()]
