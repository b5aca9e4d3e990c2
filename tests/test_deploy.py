"""Deploying for real against the AWS emulator: lifecycle, locking, interruption; AWS checked with boto3."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
import http.client
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import json
import os
from pathlib import Path
import re
import shutil
import signal
import subprocess
import threading
import time
from typing import Any
import urllib.parse

import pytest

from programmatic_iam_dev.emulator import AwsEmulator, running_emulator
from tests.support.helpers import (
    REPO,
    cdktf_cli,
    granted_actions,
    run_command,
    split_policy_actions,
    split_policy_config,
    synth,
)
from tests.support.terraform import Terraform

pytestmark = pytest.mark.terraform

SEED = json.loads((REPO / "tests" / "fixtures" / "seed-console-policy.json").read_text(encoding="utf-8"))
SEED_ACTIONS = frozenset(SEED["Statement"][0]["Action"])
STACK = "production-streammanager"
STATE_BUCKET = "terraform-state"
STATE_KEY = f"{STACK}/terraform.tfstate"
LOCK_SUFFIX = ".tflock"  # Terraform's S3 lock file sits beside the state, under the state key plus this
RESOURCE_TYPES = ["aws_iam_access_key", "aws_iam_policy", "aws_iam_user", "aws_iam_user_policy_attachment"]
WAIT_SECONDS = 120.0
HOP_BY_HOP = frozenset({"connection", "keep-alive", "content-length", "transfer-encoding"})  # not forwarded

TAGGED = """
[tags]
team = "video"
cost-center = "streaming"

[user]
tags = { purpose = "stream-manager" }
"""
DEFAULT_TAGS = {
    "team": "video",
    "cost-center": "streaming",
    # The tool's own, by which `keys status` finds the user once its environment has left the configuration.
    "programmatic-iam:identity": "streammanager",
    "programmatic-iam:environment": "production",
}
USER_TAGS = {"purpose": "stream-manager"}


# ---------------------------------------------------------------------------------------------------------------------
# Deploying, and reading what is really in AWS (never Terraform's own account of it)
# ---------------------------------------------------------------------------------------------------------------------


def deploy(terraform: Terraform, aws: AwsEmulator, config: str | None, directory: Path) -> Path:
    """Synthesize ``config`` into ``directory``, create the state bucket, init and apply; the stack's folder."""
    synth(config, directory)
    aws.client("s3").create_bucket(Bucket=STATE_BUCKET)
    stack_dir = directory / "cdktf.out" / "stacks" / STACK
    terraform.init(stack_dir)
    terraform.apply(stack_dir)
    return stack_dir


def start_terraform(terraform: Terraform, args: list[str], cwd: Path, log: Path, **env: str) -> subprocess.Popen[str]:
    """Start ``terraform <args>`` in its own process group (so that its provider can be killed with it)."""
    with log.open("w", encoding="utf-8") as output:
        return subprocess.Popen(
            [str(terraform.binary), *args],
            cwd=cwd,
            env={**terraform.env, **env},
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )


def initialized_default_stack(terraform: Terraform, aws: AwsEmulator, directory: Path) -> Path:
    """The default stack synthesized into ``directory``, its state bucket created, ``terraform init`` done."""
    synth(None, directory)
    aws.client("s3").create_bucket(Bucket=STATE_BUCKET)
    stack_dir = directory / "cdktf.out" / "stacks" / STACK
    terraform.init(stack_dir)
    return stack_dir


def users(aws: AwsEmulator) -> list[str]:
    return sorted(user["UserName"] for user in aws.client("iam").list_users()["Users"])


def local_policies(aws: AwsEmulator) -> dict[str, dict[str, Any]]:
    """Customer-managed policies by name."""
    return {policy["PolicyName"]: policy for policy in aws.client("iam").list_policies(Scope="Local")["Policies"]}


def access_keys(aws: AwsEmulator) -> dict[str, list[tuple[str, str]]]:
    """Every user's access keys as (id, status) pairs (metadata only: IAM never returns a secret again)."""
    iam = aws.client("iam")
    return {
        user: [(key["AccessKeyId"], key["Status"]) for key in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]]
        for user in users(aws)
    }


def live_document(aws: AwsEmulator, policy_arn: str) -> dict[str, Any]:
    """The policy's default version, as IAM holds it (URL-decoded when the client leaves it encoded)."""
    iam = aws.client("iam")
    version_id = iam.get_policy(PolicyArn=policy_arn)["Policy"]["DefaultVersionId"]
    document = iam.get_policy_version(PolicyArn=policy_arn, VersionId=version_id)["PolicyVersion"]["Document"]
    if isinstance(document, str):
        document = json.loads(urllib.parse.unquote(document))
    assert isinstance(document, dict)
    return document


def state_objects(aws: AwsEmulator) -> list[str]:
    """The keys in the state bucket (states and lock files)."""
    listing = aws.client("s3").list_objects_v2(Bucket=STATE_BUCKET)
    return sorted(item["Key"] for item in listing.get("Contents", []))


def state_instances(aws: AwsEmulator, key: str = STATE_KEY) -> list[tuple[str, str]]:
    """``(type.name, status)`` of each managed resource instance in the state object, read from the bucket.

    Only these leave this function: the state holds the secret access key in plaintext.
    """
    if key not in state_objects(aws):
        return []
    state = json.loads(aws.client("s3").get_object(Bucket=STATE_BUCKET, Key=key)["Body"].read())
    assert state["version"] == 4
    return sorted(
        (f"{resource['type']}.{resource['name']}", instance.get("status") or "ok")
        for resource in state["resources"]
        if resource["mode"] == "managed"
        for instance in resource["instances"]
    )


def state_resources(aws: AwsEmulator, key: str = STATE_KEY) -> list[str]:
    """The addresses in the state object (a tainted one too)."""
    return [name for name, _ in state_instances(aws, key)]


def planned_actions(terraform: Terraform, stack_dir: Path) -> dict[str, list[str]]:
    """Each resource's planned actions (only those: the plan JSON holds the secret in its prior state)."""
    plan = terraform.plan_json(stack_dir)
    return {change["address"]: change["change"]["actions"] for change in plan["resource_changes"]}


def address(stack_dir: Path, resource_type: str) -> str:
    """The Terraform address of the one resource of a type in the synthesized stack."""
    stack = json.loads((stack_dir / "cdk.tf.json").read_text(encoding="utf-8"))
    (name,) = stack["resource"][resource_type]
    return f"{resource_type}.{name}"


def wait_for(condition: Callable[[], bool], what: str, timeout: float = WAIT_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def lock_id(error_output: str) -> str:
    """The lock's id from Terraform's "Error acquiring the state lock" message (its ``Lock Info`` block)."""
    match = re.search(r"Lock Info:\s+ID:\s+(\S+)", error_output)
    assert match, "no lock id in Terraform's error"
    return match.group(1)


# ---------------------------------------------------------------------------------------------------------------------
# A proxy in front of the emulator's IAM that holds chosen calls, to interrupt Terraform at a known point
# ---------------------------------------------------------------------------------------------------------------------


class HoldingProxy:
    """Forwards IAM calls to the emulator, holding those named in ``hold`` until :meth:`release`.

    With ``after``, calls are held only once an ``after`` call has gone through. A held call reaches the
    emulator after release even if its client has given up meanwhile, as a call that reached AWS is
    carried out whether or not anyone reads the answer. Terraform is pointed at it with
    ``AWS_ENDPOINT_URL_IAM``; S3 (the state) and STS still go straight to the emulator.
    """

    def __init__(self, upstream: str, hold: set[str], after: str | None = None) -> None:
        self.upstream = urllib.parse.urlsplit(upstream)
        self.hold = hold
        self.after = after
        self.held: list[str] = []
        self.forwarded: list[str] = []
        self._armed = after is None
        self._lock = threading.Lock()
        self._released = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _proxy_handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> HoldingProxy:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()

    def release(self) -> None:
        """Let every held call (and every later one) through."""
        self._released.set()

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        """Hold the call if it is one to hold, then forward it; the emulator's status, headers and body."""
        action = urllib.parse.parse_qs(body.decode("utf-8", "replace")).get("Action", [""])[0]
        with self._lock:
            hold = self._armed and action in self.hold and not self._released.is_set()
            if hold:
                self.held.append(action)
        if hold:
            self._released.wait(WAIT_SECONDS)
        connection = http.client.HTTPConnection(self.upstream.hostname or "", self.upstream.port, timeout=60)
        try:
            sent = {k: v for k, v in headers.items() if k.lower() not in HOP_BY_HOP}
            connection.request("POST", path, body=body, headers=sent)
            response = connection.getresponse()
            answer = response.status, response.getheaders(), response.read()
        finally:
            connection.close()
        with self._lock:
            self.forwarded.append(action)
            self._armed = self._armed or action == self.after
        return answer


def _proxy_handler(proxy: HoldingProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # IAM's query API: every call is a form-encoded POST
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status, headers, data = proxy.handle(self.path, dict(self.headers.items()), body)
            try:
                self.send_response(status)
                for name, value in headers:
                    if name.lower() not in HOP_BY_HOP:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(data)
            except OSError:
                pass  # the client gave up while the call was held

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


# ---------------------------------------------------------------------------------------------------------------------
# One deployment shared by the checks that only read (its own emulator, so other tests' resets leave it alone)
# ---------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Deployment:
    stack_dir: Path
    terraform: Terraform
    aws: AwsEmulator


@pytest.fixture(scope="module")
def deployed(terraform: Terraform, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """The default policy with default and user tags, applied once for the read-only checks below."""
    directory = tmp_path_factory.mktemp("deployed")
    with running_emulator(directory / "moto.log") as aws:
        emulated = terraform.with_environment(aws.environment(base=terraform.env))
        yield Deployment(deploy(emulated, aws, TAGGED, directory), emulated, aws)


@pytest.mark.engine
def test_the_user_exists_without_console_access(deployed: Deployment) -> None:
    iam = deployed.aws.client("iam")
    assert users(deployed.aws) == [STACK]
    assert iam.get_user(UserName=STACK)["User"]["Path"] == "/"
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_login_profile(UserName=STACK)


@pytest.mark.engine
def test_the_live_policy_grants_exactly_the_seed_actions(deployed: Deployment) -> None:
    (policy,) = local_policies(deployed.aws).values()
    assert policy["PolicyName"] == f"{STACK}-programmatic-access"
    document = live_document(deployed.aws, policy["Arn"])
    assert document["Version"] == "2012-10-17"
    assert len(SEED_ACTIONS) == 63
    assert granted_actions(document) == SEED_ACTIONS


@pytest.mark.engine
def test_the_policy_is_attached_to_the_user(deployed: Deployment) -> None:
    (policy,) = local_policies(deployed.aws).values()
    attached = deployed.aws.client("iam").list_attached_user_policies(UserName=STACK)["AttachedPolicies"]
    assert [(p["PolicyName"], p["PolicyArn"]) for p in attached] == [(policy["PolicyName"], policy["Arn"])]
    assert deployed.aws.client("iam").list_user_policies(UserName=STACK)["PolicyNames"] == []  # no inline policy


@pytest.mark.engine
def test_the_user_has_exactly_one_active_access_key(deployed: Deployment) -> None:
    ((key_id, status),) = access_keys(deployed.aws)[STACK]
    assert status == "Active"
    output = deployed.terraform.run(["output", "-raw", "access_key_id"], deployed.stack_dir).stdout
    assert output == key_id


@pytest.mark.engine
def test_default_tags_and_user_tags_reach_aws(deployed: Deployment) -> None:
    iam = deployed.aws.client("iam")
    user_tags = {t["Key"]: t["Value"] for t in iam.list_user_tags(UserName=STACK)["Tags"]}
    assert user_tags == {**DEFAULT_TAGS, **USER_TAGS}
    (policy,) = local_policies(deployed.aws).values()
    policy_tags = {t["Key"]: t["Value"] for t in iam.list_policy_tags(PolicyArn=policy["Arn"])["Tags"]}
    assert policy_tags == DEFAULT_TAGS


@pytest.mark.engine
def test_a_second_plan_shows_no_changes(deployed: Deployment) -> None:
    assert deployed.terraform.plan_has_changes(deployed.stack_dir) is False
    assert state_objects(deployed.aws) == [STATE_KEY]  # no lock file left behind
    assert state_resources(deployed.aws) == sorted(address(deployed.stack_dir, kind) for kind in RESOURCE_TYPES)


# ---------------------------------------------------------------------------------------------------------------------
# What other configurations make in AWS: literal text, a split policy, group mode (one apply each, then destroy)
# ---------------------------------------------------------------------------------------------------------------------

LITERAL_DESCRIPTION = "Grants ${aws:username} and %{ if true }x%{ endif } literally"
LITERAL_POLICY_PATH = "/p${aws:username}/"
LITERAL_USER_PATH = "/a${b}/%{c}/"
LITERAL_RESOURCE = "arn:aws:iam::*:user/${aws:username}"


@pytest.mark.engine
def test_template_sequences_in_the_config_reach_aws_literally(
    emulated_terraform: Terraform, aws: AwsEmulator, tmp_path: Path
) -> None:
    config = f"""
        [policy]
        actions = ["iam:GetUser"]
        resources = [{json.dumps(LITERAL_RESOURCE)}]
        description = {json.dumps(LITERAL_DESCRIPTION)}
        path = {json.dumps(LITERAL_POLICY_PATH)}

        [user]
        path = {json.dumps(LITERAL_USER_PATH)}
        """
    stack_dir = deploy(emulated_terraform, aws, config, tmp_path)
    iam = aws.client("iam")
    assert iam.get_user(UserName=STACK)["User"]["Path"] == LITERAL_USER_PATH
    (policy,) = local_policies(aws).values()
    live = iam.get_policy(PolicyArn=policy["Arn"])["Policy"]
    assert (live["Description"], live["Path"]) == (LITERAL_DESCRIPTION, LITERAL_POLICY_PATH)
    (statement,) = live_document(aws, policy["Arn"])["Statement"]
    assert (statement["Action"], statement["Resource"]) == (["iam:GetUser"], LITERAL_RESOURCE)

    emulated_terraform.destroy(stack_dir)
    assert (users(aws), local_policies(aws)) == ([], {})


@pytest.mark.engine
@pytest.mark.parametrize(
    ("attach_policies_to", "groups"),
    [
        ("user", []),  # the user holds every part and is in no group
        ("group", [STACK]),  # the user is in its group, which holds every part; the user holds none
    ],
)
def test_every_part_of_a_split_policy_is_deployed_and_attached(
    attach_policies_to: str, groups: list[str], emulated_terraform: Terraform, aws: AwsEmulator, tmp_path: Path
) -> None:
    stack_dir = deploy(emulated_terraform, aws, split_policy_config(attach_policies_to), tmp_path)
    iam = aws.client("iam")
    policies = local_policies(aws)
    base = f"{STACK}-programmatic-access"
    assert len(policies) >= 3
    assert sorted(policies) == sorted([base, *(f"{base}-{n}" for n in range(2, len(policies) + 1))])
    parts = [granted_actions(live_document(aws, policy["Arn"])) for policy in policies.values()]
    assert set().union(*parts) == set(split_policy_actions())
    assert sum(len(part) for part in parts) == len(split_policy_actions()), "an action is in two parts"

    def attached(listing: dict[str, Any]) -> list[str]:
        return sorted(policy["PolicyArn"] for policy in listing["AttachedPolicies"])

    everything = sorted(policy["Arn"] for policy in policies.values())
    assert [group["GroupName"] for group in iam.list_groups_for_user(UserName=STACK)["Groups"]] == groups
    holders = {("user", STACK): attached(iam.list_attached_user_policies(UserName=STACK))}
    holders |= {("group", g): attached(iam.list_attached_group_policies(GroupName=g)) for g in groups}
    assert holders == {("user", STACK): [] if groups else everything, **{("group", g): everything for g in groups}}
    assert iam.list_user_policies(UserName=STACK)["PolicyNames"] == []  # no inline policy

    emulated_terraform.destroy(stack_dir)
    assert (users(aws), local_policies(aws), iam.list_groups()["Groups"]) == ([], {}, [])


# ---------------------------------------------------------------------------------------------------------------------
# Changes, new environments, destroy
# ---------------------------------------------------------------------------------------------------------------------


@pytest.mark.engine
def test_a_changed_action_list_updates_the_policy_in_place(
    emulated_terraform: Terraform, aws: AwsEmulator, tmp_path: Path
) -> None:
    stack_dir = deploy(emulated_terraform, aws, None, tmp_path)
    iam = aws.client("iam")
    user_before = iam.get_user(UserName=STACK)["User"]
    keys_before = access_keys(aws)
    (policy_before,) = local_policies(aws).values()

    actions = sorted(SEED_ACTIONS - {"ec2:UnmonitorInstances"} | {"ec2:DescribeSnapshots"})
    synth(f"[policy]\nactions = {json.dumps(actions)}\n", tmp_path)
    emulated_terraform.init(stack_dir)  # a new synth replaces the stack's folder, .terraform included
    changes = planned_actions(emulated_terraform, stack_dir)
    policy = address(stack_dir, "aws_iam_policy")
    assert {name: done for name, done in changes.items() if done != ["no-op"]} == {policy: ["update"]}
    emulated_terraform.apply(stack_dir)

    user_after = iam.get_user(UserName=STACK)["User"]
    assert (user_after["UserId"], user_after["CreateDate"]) == (user_before["UserId"], user_before["CreateDate"])
    assert access_keys(aws) == keys_before
    (policy_after,) = local_policies(aws).values()
    assert (policy_after["Arn"], policy_after["PolicyId"]) == (policy_before["Arn"], policy_before["PolicyId"])
    assert policy_after["DefaultVersionId"] != policy_before["DefaultVersionId"]  # a new version, made default
    assert granted_actions(live_document(aws, policy_after["Arn"])) == set(actions)
    assert emulated_terraform.plan_has_changes(stack_dir) is False


@pytest.mark.engine
def test_a_new_environment_gets_its_own_stack_and_leaves_the_first_alone(
    emulated_terraform: Terraform, aws: AwsEmulator, tmp_path: Path
) -> None:
    production = '[[environments]]\nname = "production"\nregion = "us-east-1"\n'
    staging = '[[environments]]\nname = "staging"\nregion = "eu-west-1"\n'
    first = deploy(emulated_terraform, aws, production, tmp_path)
    first_json = (first / "cdk.tf.json").read_bytes()
    user_before = aws.client("iam").get_user(UserName=STACK)["User"]

    stacks = synth(production + staging, tmp_path)
    assert sorted(stacks) == [STACK, "staging-streammanager"]
    second = tmp_path / "cdktf.out" / "stacks" / "staging-streammanager"
    emulated_terraform.init(second)
    emulated_terraform.apply(second)

    assert users(aws) == [STACK, "staging-streammanager"]
    assert sorted(local_policies(aws)) == [f"{STACK}-programmatic-access", "staging-streammanager-programmatic-access"]
    assert [len(keys) for keys in access_keys(aws).values()] == [1, 1]
    assert state_objects(aws) == [STATE_KEY, "staging-streammanager/terraform.tfstate"]
    assert len(state_resources(aws, "staging-streammanager/terraform.tfstate")) == len(RESOURCE_TYPES)
    assert (first / "cdk.tf.json").read_bytes() == first_json
    emulated_terraform.init(first)
    assert emulated_terraform.plan_has_changes(first) is False
    assert aws.client("iam").get_user(UserName=STACK)["User"]["UserId"] == user_before["UserId"]


@pytest.mark.engine
def test_destroy_leaves_nothing_behind(emulated_terraform: Terraform, aws: AwsEmulator, tmp_path: Path) -> None:
    stack_dir = deploy(emulated_terraform, aws, None, tmp_path)
    assert users(aws) == [STACK]
    emulated_terraform.destroy(stack_dir)
    iam = aws.client("iam")
    assert iam.list_users()["Users"] == []
    assert iam.list_policies(Scope="Local")["Policies"] == []
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.list_access_keys(UserName=STACK)
    assert state_resources(aws) == []
    assert state_objects(aws) == [STATE_KEY]


# ---------------------------------------------------------------------------------------------------------------------
# The pinned cdktf CLI
# ---------------------------------------------------------------------------------------------------------------------


def repository_state() -> set[str]:
    """What git sees in the repository (ignored files too), and the files of the repository's own cdktf.out.

    Bytecode caches are left out: other test runs write them at any time.
    """
    status = subprocess.run(
        ["git", "status", "--porcelain", "--ignored"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    state = {line for line in status.splitlines() if "__pycache__" not in line}
    state |= {
        f"cdktf.out file {path.relative_to(REPO)} {path.stat().st_mtime_ns}" for path in (REPO / "cdktf.out").rglob("*")
    }
    return state


@pytest.mark.engine
def test_the_pinned_cdktf_cli_deploys_and_follows_environments_as_they_change(
    emulated_terraform: Terraform, aws: AwsEmulator, tmp_path: Path
) -> None:
    config = tmp_path / "iam.toml"
    out = tmp_path / "out"
    aws.client("s3").create_bucket(Bucket=STATE_BUCKET)
    environment = {**emulated_terraform.env, "IAM_CONFIG": str(config), "CHECKPOINT_DISABLE": "1"}

    def cdktf(toml: str, *args: str) -> str:
        config.write_text('[naming]\nname = "cli"\n' + toml, encoding="utf-8")
        result = run_command(cdktf_cli(*args, "--skip-provider-lock", "--output", str(out)), REPO, environment)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    before = repository_state()
    cdktf("", "deploy", "--auto-approve", "production-cli")
    after = repository_state()
    assert (sorted(after - before), sorted(before - after)) == ([], []), "cdktf deploy wrote into the repository"
    assert users(aws) == ["production-cli"]
    assert [status for _, status in access_keys(aws)["production-cli"]] == ["Active"]
    assert sorted(local_policies(aws)) == ["production-cli-programmatic-access"]
    assert len(state_resources(aws, "production-cli/terraform.tfstate")) == len(RESOURCE_TYPES)
    assert (out / "stacks" / "production-cli" / "cdk.tf.json").is_file()

    # An environment added: both stacks deploy in one run, the first one unchanged.
    staging = '[[environments]]\nname = "staging"\nregion = "us-east-1"\n'
    production = '[[environments]]\nname = "production"\nregion = "us-east-1"\n'
    cdktf(production + staging, "deploy", "--auto-approve", "*")
    assert users(aws) == ["production-cli", "staging-cli"]
    assert sorted(p.name for p in (out / "stacks").iterdir()) == ["production-cli", "staging-cli"]

    # An environment removed: its folder goes, the other plans no changes, and (as docs/deploying.md
    # says) the removed environment's resources stay until someone destroys them.
    plan = cdktf(staging, "diff", "staging-cli")
    assert "No changes." in plan
    assert sorted(p.name for p in (out / "stacks").iterdir()) == ["staging-cli"]
    assert users(aws) == ["production-cli", "staging-cli"]


# ---------------------------------------------------------------------------------------------------------------------
# Locking and interruption
# ---------------------------------------------------------------------------------------------------------------------


@pytest.mark.engine
def test_of_two_concurrent_applies_one_is_refused_the_lock(
    emulated_terraform: Terraform, aws: AwsEmulator, tmp_path: Path
) -> None:
    synth(None, tmp_path)
    aws.client("s3").create_bucket(Bucket=STATE_BUCKET)
    copies = [tmp_path / "first", tmp_path / "second"]
    for copy in copies:
        shutil.copytree(tmp_path / "cdktf.out" / "stacks" / STACK, copy)
        emulated_terraform.init(copy)

    apply = ["apply", "-auto-approve", "-input=false", "-no-color", "-lock-timeout=0s"]
    processes = [start_terraform(emulated_terraform, apply, copy, copy / "apply.log") for copy in copies]
    codes = [process.wait(timeout=WAIT_SECONDS) for process in processes]
    logs = [(copy / "apply.log").read_text(encoding="utf-8") for copy in copies]

    assert sorted(codes) == [0, 1], logs
    loser = codes.index(1)
    assert "Error acquiring the state lock" in logs[loser]
    assert "Creating..." not in logs[loser]
    assert state_objects(aws) == [STATE_KEY]  # the winner released its lock
    expected = sorted(address(copies[0], kind) for kind in RESOURCE_TYPES)
    assert state_resources(aws) == expected
    listed = emulated_terraform.run(["state", "list"], copies[loser]).stdout.split()
    assert sorted(listed) == expected
    assert emulated_terraform.plan_has_changes(copies[loser]) is False
    assert users(aws) == [STACK]
    assert [len(keys) for keys in access_keys(aws).values()] == [1]


@pytest.mark.engine
def test_an_interrupted_apply_converges_on_the_next_apply(
    emulated_terraform: Terraform, aws: AwsEmulator, tmp_path: Path
) -> None:
    stack_dir = initialized_default_stack(emulated_terraform, aws, tmp_path)
    log = tmp_path / "apply.log"

    # Interrupt once the user is created and the policy is done, while the provider reads the new user back.
    with HoldingProxy(aws.endpoint, hold={"GetUser"}, after="CreateUser") as proxy:
        process = start_terraform(
            emulated_terraform,
            ["apply", "-auto-approve", "-input=false", "-no-color"],
            stack_dir,
            log,
            AWS_ENDPOINT_URL_IAM=proxy.url,
        )
        try:
            wait_for(lambda: "GetUser" in proxy.held, "the provider to read the new user back")
            policy_done = re.compile(r"aws_iam_policy\.\S+: Creation complete")
            wait_for(lambda: bool(policy_done.search(log.read_text(encoding="utf-8"))), "the policy to be created")
            process.send_signal(signal.SIGINT)
            code = process.wait(timeout=WAIT_SECONDS)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    output = log.read_text(encoding="utf-8")
    assert code == 1, output
    assert "Interrupt received" in output
    assert state_objects(aws) == [STATE_KEY]  # a graceful stop releases the lock
    # The finished policy is recorded; the user, created but not read back, is recorded as tainted.
    assert state_instances(aws) == [
        (address(stack_dir, "aws_iam_policy"), "ok"),
        (address(stack_dir, "aws_iam_user"), "tainted"),
    ]
    (policy_before,) = local_policies(aws).values()
    user_before = aws.client("iam").get_user(UserName=STACK)["User"]

    emulated_terraform.apply(stack_dir)
    assert emulated_terraform.plan_has_changes(stack_dir) is False
    assert users(aws) == [STACK]
    assert [len(keys) for keys in access_keys(aws).values()] == [1]
    (policy_after,) = local_policies(aws).values()
    assert policy_after["PolicyId"] == policy_before["PolicyId"]  # what was finished before the interrupt is kept
    assert aws.client("iam").get_user(UserName=STACK)["User"]["UserId"] != user_before["UserId"]  # the tainted one


@pytest.mark.engine
def test_a_killed_apply_is_recovered_with_force_unlock_and_import(
    emulated_terraform: Terraform, aws: AwsEmulator, tmp_path: Path
) -> None:
    stack_dir = initialized_default_stack(emulated_terraform, aws, tmp_path)

    # Kill Terraform and its provider (as a cancelled CI job would) while both creations are in flight.
    with HoldingProxy(aws.endpoint, hold={"CreateUser", "CreatePolicy"}) as proxy:
        process = start_terraform(
            emulated_terraform,
            ["apply", "-auto-approve", "-input=false", "-no-color"],
            stack_dir,
            tmp_path / "apply.log",
            AWS_ENDPOINT_URL_IAM=proxy.url,
        )
        try:
            wait_for(lambda: {"CreatePolicy", "CreateUser"} <= set(proxy.held), "both creations to be in flight")
        finally:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        proxy.release()
        wait_for(lambda: {"CreatePolicy", "CreateUser"} <= set(proxy.forwarded), "the held calls to reach AWS")

    # AWS has what Terraform never recorded, and the lock of the dead process stays.
    assert users(aws) == [STACK]
    (policy,) = local_policies(aws).values()
    assert state_resources(aws) == []
    assert state_objects(aws) == [STATE_KEY + LOCK_SUFFIX]  # the lock, and not even an empty state

    refused = emulated_terraform.attempt(["apply", "-auto-approve", "-input=false", "-no-color"], stack_dir)
    assert refused.returncode == 1
    assert "Error acquiring the state lock" in refused.stderr
    emulated_terraform.run(["force-unlock", "-force", lock_id(refused.stderr)], stack_dir)
    assert STATE_KEY + LOCK_SUFFIX not in state_objects(aws)

    # Adopt what AWS has and the state lacks, with import blocks: one reviewable plan ("2 to import").
    imports = [
        {"to": address(stack_dir, "aws_iam_user"), "id": STACK},
        {"to": address(stack_dir, "aws_iam_policy"), "id": policy["Arn"]},
    ]
    (stack_dir / "recovery-imports.tf.json").write_text(json.dumps({"import": imports}), encoding="utf-8")
    emulated_terraform.apply(stack_dir)
    assert emulated_terraform.plan_has_changes(stack_dir) is False
    assert users(aws) == [STACK]
    assert [len(keys) for keys in access_keys(aws).values()] == [1]
    assert [p["PolicyId"] for p in local_policies(aws).values()] == [policy["PolicyId"]]
    assert state_objects(aws) == [STATE_KEY]
