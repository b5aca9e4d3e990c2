"""``export-module``: the identity as a plain Terraform module, called from an HCL root with real Terraform.

Proven with the real Terraform binary: string escaping (a root outputs each tricky literal back), every
example validates as a module, all called from one root, each module plans the same resources as its stack
(all in one plan of each kind), and
an HCL root applies the default on the emulator, idempotently, with the policy as IAM holds it checked.
"""

from __future__ import annotations

import json
from pathlib import Path
import re
import shutil
from typing import Any

import pytest

from programmatic_iam.module_export import hcl
from programmatic_iam_dev.emulator import AwsEmulator
from tests.support.helpers import REPO, run_cli, synth, write_config
from tests.support.terraform import Terraform

STACK = "production-streammanager"
EXAMPLES = sorted(path.stem for path in (REPO / "examples").glob("*.toml"))
ROOT_CALLING = """
provider "aws" {{
  region = "us-east-1"
}}

module "identity" {{
  source = "{source}"
{arguments}}}

output "user_name" {{
  value = module.identity.{name_output}
}}
"""


def export(cwd: Path, *args: str) -> Path:
    code, _, stderr = run_cli(cwd, "export-module", "module", *args)
    assert code == 0, stderr
    return cwd / "module"


def root_calling(directory: Path, module: Path, arguments: str = "", name_output: str = "user_name") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    source = "./" + str(module.relative_to(directory)) if module.is_relative_to(directory) else str(module)
    text = ROOT_CALLING.format(source=source, arguments=arguments, name_output=name_output)
    (directory / "main.tf").write_text(text, encoding="utf-8")
    return directory


def example_config(tmp_path: Path, name: str) -> Path:
    """The example's configuration and the files it names, copied into ``tmp_path`` (made if need be)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(REPO / "examples" / f"{name}.toml", tmp_path / "iam.toml")
    if (REPO / "examples" / "policies").is_dir():
        shutil.copytree(REPO / "examples" / "policies", tmp_path / "policies")
    return tmp_path


# ---------------------------------------------------------------------------------------------------------------------
# Bad input: every problem named, nothing written, nothing lost
# ---------------------------------------------------------------------------------------------------------------------


def test_several_environments_need_one_chosen(tmp_path: Path) -> None:
    example_config(tmp_path, "multi-environment")
    code, stdout, stderr = run_cli(tmp_path, "export-module", "module")
    assert code == 2 and stdout == ""
    assert "--environment" in stderr and "dev, staging, production" in stderr and "nothing was written" in stderr
    assert not (tmp_path / "module").exists()
    code, _, stderr = run_cli(tmp_path, "export-module", "module", "--environment", "qa")
    assert code == 2 and "--environment: qa is not a configured environment" in stderr
    export(tmp_path, "--environment", "staging")
    assert '"acme-staging-streammanager"' in (tmp_path / "module" / "variables.tf").read_text(encoding="utf-8")


def test_a_folder_holding_other_files_is_refused_and_left_alone(tmp_path: Path) -> None:
    (tmp_path / "module").mkdir()
    (tmp_path / "module" / "main.tf").write_text('resource "x" "y" {}\n', encoding="utf-8")
    (tmp_path / "module" / "notes.txt").write_text("mine\n", encoding="utf-8")
    code, _, stderr = run_cli(tmp_path, "export-module", "module")
    assert code == 2
    assert "DIR: 'module' holds 'main.tf', 'notes.txt', which an export did not write" in stderr
    assert (tmp_path / "module" / "main.tf").read_text(encoding="utf-8") == 'resource "x" "y" {}\n'
    (tmp_path / "file").write_text("", encoding="utf-8")
    code, _, stderr = run_cli(tmp_path, "export-module", "file")
    assert code == 2 and "problem in the output folder" in stderr and "DIR: 'file' is a file, not a folder" in stderr


def test_a_document_of_ones_own_in_policies_is_refused_and_kept(tmp_path: Path) -> None:
    module = export(tmp_path)
    (module / "policies" / "mine.json").write_text('{"Version": "2012-10-17"}', encoding="utf-8")
    code, _, stderr = run_cli(tmp_path, "export-module", "module")
    assert code == 2, stderr
    assert "DIR: 'module' holds 'policies/mine.json', which an export did not write" in stderr
    assert (module / "policies" / "mine.json").read_text(encoding="utf-8") == '{"Version": "2012-10-17"}'


def test_a_symbolic_link_as_the_folder_is_refused_and_left_alone(tmp_path: Path) -> None:
    module = export(tmp_path)
    (tmp_path / "link").symlink_to(module)
    before = sorted((p.name, p.read_bytes()) for p in module.rglob("*") if p.is_file())
    code, _, stderr = run_cli(tmp_path, "export-module", "link")
    assert code == 2, stderr
    assert "DIR: 'link' is a symbolic link (to" in stderr
    assert (tmp_path / "link").is_symlink() and (tmp_path / "link").resolve() == module
    assert sorted((p.name, p.read_bytes()) for p in module.rglob("*") if p.is_file()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "module"]


def test_an_earlier_export_is_replaced_and_terraforms_working_files_stay(tmp_path: Path) -> None:
    module = export(tmp_path)
    (module / ".terraform").mkdir()
    (module / ".terraform.lock.hcl").write_text("# lock\n", encoding="utf-8")
    write_config(tmp_path, '[naming]\nname = "sm"\n')
    export(tmp_path)
    assert sorted(path.name for path in (module / "policies").iterdir()) == ["production-sm-programmatic-access.json"]
    assert (module / ".terraform.lock.hcl").read_text(encoding="utf-8") == "# lock\n"
    assert (module / ".terraform").is_dir()


def test_a_bad_configuration_writes_nothing(tmp_path: Path) -> None:
    write_config(tmp_path, '[policy]\nactions = ["ec2:DescribeInstancez"]\n')
    code, _, stderr = run_cli(tmp_path, "export-module", "module")
    assert code == 2 and "ec2:DescribeInstances" in stderr and "Traceback" not in stderr
    assert not (tmp_path / "module").exists()


def test_adoption_is_left_to_the_root_with_its_import_blocks_listed(tmp_path: Path) -> None:
    write_config(
        tmp_path,
        '[user]\nadopt = true\n\n[[environments]]\nname = "production"\nregion = "us-east-1"\n'
        'account_id = "123456789012"\n',
    )
    code, _, stderr = run_cli(tmp_path, "export-module", "module")
    assert code == 0 and "Terraform allows import blocks only in the root module" in stderr
    readme = (tmp_path / "module" / "README.md").read_text(encoding="utf-8")
    assert 'to = module.identity.aws_iam_user.user\n  id = "production-streammanager"' in readme
    assert 'id = "arn:aws:iam::123456789012:policy/production-streammanager-programmatic-access"' in readme


@pytest.mark.parametrize(
    ("access_key", "generation", "required_version"),
    [
        ("", 1, ">= 1.10.0"),
        ("generation = 3\n", 3, ">= 1.10.0"),
        # The stores take the secret write-only, which needs Terraform 1.11: one floor, not two.
        ('delivery = "ssm"\ngeneration = 2\nprevious = "active"\n', 2, ">= 1.11.0"),
    ],
)
def test_the_module_takes_its_defaults_from_the_configuration(
    tmp_path: Path, access_key: str, generation: int, required_version: str
) -> None:
    write_config(tmp_path, f"[access_key]\n{access_key}")
    module = export(tmp_path)
    variables = (module / "variables.tf").read_text(encoding="utf-8")
    (default,) = re.findall(r'variable "access_key_generation" \{[^}]*?\n  default +=(.*)\n', variables)
    assert default.strip() == str(generation)
    (required,) = re.findall(r"\n  required_version = (.*)\n", (module / "versions.tf").read_text(encoding="utf-8"))
    assert required == json.dumps(required_version)


def test_the_export_needs_no_cdktf(tmp_path: Path) -> None:
    from tests.support.helpers import cdk_modules_loaded

    result, loaded = cdk_modules_loaded(tmp_path, "export-module", "module")
    assert result.returncode == 0, result.stderr
    assert loaded == []


# ---------------------------------------------------------------------------------------------------------------------
# With the real Terraform binary
# ---------------------------------------------------------------------------------------------------------------------

TRICKY = [
    "${aws:username}",
    "%{ if true }x%{ endif }",
    'a "quoted" \\ backslash',
    "line\nbreak\ttab\r",
    "$${already} %%{doubled}",
    "\u0001\u001f control",
    "ünïcödé €",
    '${file("/etc/hostname")}',
]


@pytest.mark.terraform
def test_hcl_literals_reach_terraform_as_written(terraform: Terraform, tmp_path: Path) -> None:
    outputs = "".join(f'output "v{index}" {{\n  value = {hcl(text)}\n}}\n' for index, text in enumerate(TRICKY))
    outputs += f'output "listed" {{\n  value = {hcl(TRICKY)}\n}}\n'
    outputs += f'output "mapped" {{\n  value = {hcl(dict(zip(TRICKY, TRICKY, strict=True)))}\n}}\n'
    outputs += f'output "plain" {{\n  value = {hcl({"n": None, "t": True, "f": False, "i": 7})}\n}}\n'
    (tmp_path / "main.tf").write_text(outputs, encoding="utf-8")
    terraform.run(["init", "-input=false", "-no-color"], tmp_path)
    terraform.apply(tmp_path)
    shown = json.loads(terraform.run(["output", "-json"], tmp_path).stdout)
    assert [shown[f"v{index}"]["value"] for index in range(len(TRICKY))] == TRICKY
    assert shown["listed"]["value"] == TRICKY
    assert shown["mapped"]["value"] == dict(zip(TRICKY, TRICKY, strict=True))
    assert shown["plain"]["value"] == {"n": None, "t": True, "f": False, "i": 7}


def name_output_of(example: str) -> str:
    return "role_name" if example == "instance-profile" else "user_name"


@pytest.mark.terraform
def test_every_example_exports_a_module_one_root_validates_them_all(terraform: Terraform, tmp_path: Path) -> None:
    # One root calling every example's module, as a repository holding several identities would: one init and one
    # validate for all of them, each problem named by its module's address (module.<example>).
    examples = [name for name in EXAMPLES if name not in ("multi-environment", "fleet")]
    assert len(examples) >= 7, examples
    calls = ['provider "aws" {\n  region = "us-east-1"\n}\n']
    for example in examples:
        module = export(example_config(tmp_path / example, example))
        calls.append(f'module "{example}" {{\n  source = "{module}"\n}}\n')
        calls.append(f'output "{example}" {{\n  value = module.{example}.{name_output_of(example)}\n}}\n')
    root = tmp_path / "root"
    root.mkdir()
    (root / "main.tf").write_text("\n".join(calls), encoding="utf-8")
    result = terraform.init_and_validate(root)
    assert result["valid"] and result["error_count"] == 0


def planned(terraform: Terraform, directory: Path) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """Each module's planned resources (by the module's name): their type and known values, normalised where the
    two routes may spell alike differently."""
    terraform.run(["init", "-input=false", "-no-color", "-backend=false"], directory)
    terraform.run(["plan", "-input=false", "-no-color", "-refresh=false", "-out=p.tfplan"], directory)
    plan = json.loads(terraform.run(["show", "-json", "-no-color", "p.tfplan"], directory).stdout)
    found: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for change in plan["resource_changes"]:
        after = {key: value for key, value in change["change"]["after"].items() if value not in (None, [], {})}
        after.pop("tags", None)  # the stack tags through the provider's default tags; tags_all is what AWS gets
        for key in ("policy", "assume_role_policy"):
            if key in after:
                after[key] = json.loads(after[key])
        found.setdefault(change["module_address"].removeprefix("module."), []).append((change["type"], after))
    return {
        module: sorted(changes, key=lambda item: json.dumps(item, sort_keys=True)) for module, changes in found.items()
    }


PLANNED_EXAMPLES = ["group-attachment", "secrets-manager", "ssm-parameters", "instance-profile", "policy-variables"]


@pytest.mark.engine
@pytest.mark.terraform
def test_the_module_plans_what_the_stack_plans(emulated_terraform: Terraform, aws: AwsEmulator, tmp_path: Path) -> None:
    # Every example twice, each in one root planned once: its exported module, called with the stack's region, and
    # its synthesized stack as a module (its own provider block and default tags; local state, as the comparison is
    # of configurations, not of backends).
    modules, stacks = tmp_path / "modules", tmp_path / "stacks"
    module_calls, stack_calls = [], {}
    for example in PLANNED_EXAMPLES:
        config = example_config(tmp_path / example, example)
        (stack_id,) = synth((config / "iam.toml").read_text(encoding="utf-8"), config)
        stack = json.loads((config / "cdktf.out" / "stacks" / stack_id / "cdk.tf.json").read_text(encoding="utf-8"))
        region = stack["provider"]["aws"][0]["region"]
        del stack["terraform"]["backend"]
        (stacks / example).mkdir(parents=True)
        (stacks / example / "cdk.tf.json").write_text(json.dumps(stack), encoding="utf-8")
        stack_calls[example] = {"source": f"./{example}"}
        module_calls.append(
            f'provider "aws" {{\n  alias  = "{example}"\n  region = "{region}"\n}}\n'
            f'module "{example}" {{\n  source    = "{export(config)}"\n  providers = {{ aws = aws.{example} }}\n}}\n'
        )
    modules.mkdir()
    (modules / "main.tf").write_text("\n".join(module_calls), encoding="utf-8")
    (stacks / "main.tf.json").write_text(json.dumps({"module": stack_calls}), encoding="utf-8")
    from_modules, from_stacks = planned(emulated_terraform, modules), planned(emulated_terraform, stacks)
    assert sorted(from_stacks) == sorted(from_modules) == sorted(PLANNED_EXAMPLES)
    for example in PLANNED_EXAMPLES:
        assert from_modules[example] == from_stacks[example], example


@pytest.mark.terraform
def test_an_hcl_root_applies_the_module_on_the_emulator_idempotently(
    emulated_terraform: Terraform, aws: AwsEmulator, tmp_path: Path
) -> None:
    terraform = emulated_terraform
    (tmp_path / "policies").mkdir()
    document = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["ec2:DescribeInstances", "ec2:DescribeRegions"], "Resource": "*"},
            {
                "Effect": "Allow",
                "Action": ["iam:GetUser"],
                "Resource": "arn:aws:iam::*:user/${aws:username}",
            },
        ],
    }
    (tmp_path / "policies" / "app.json").write_text(json.dumps(document), encoding="utf-8")
    write_config(
        tmp_path,
        '[policy]\nfile = "policies/app.json"\ndescription = "For ${aws:username} %{x}"\n\n[tags]\nteam = "video"\n',
    )
    module = export(tmp_path)
    root = root_calling(tmp_path / "root", module)
    with (root / "main.tf").open("a", encoding="utf-8") as main:
        main.write('output "secret" {\n  value     = module.identity.secret_access_key\n  sensitive = true\n}\n')
    terraform.run(["init", "-input=false", "-no-color"], root)
    terraform.apply(root)

    iam = aws.client("iam")
    user = iam.get_user(UserName=STACK)["User"]
    assert {tag["Key"]: tag["Value"] for tag in user.get("Tags", [])} == {
        "team": "video",
        # The tool's own, as in the stack: `keys status` finds the user by them.
        "programmatic-iam:identity": "streammanager",
        "programmatic-iam:environment": "production",
    }
    (policy,) = iam.list_attached_user_policies(UserName=STACK)["AttachedPolicies"]
    assert iam.get_policy(PolicyArn=policy["PolicyArn"])["Policy"]["Description"] == "For ${aws:username} %{x}"
    version = iam.get_policy(PolicyArn=policy["PolicyArn"])["Policy"]["DefaultVersionId"]
    live = iam.get_policy_version(PolicyArn=policy["PolicyArn"], VersionId=version)["PolicyVersion"]["Document"]
    live = json.loads(live) if isinstance(live, str) else live
    assert [statement["Action"] for statement in live["Statement"]] == [
        ["ec2:DescribeInstances", "ec2:DescribeRegions"],
        ["iam:GetUser"],
    ]
    assert live["Statement"][1]["Resource"] == "arn:aws:iam::*:user/${aws:username}"
    (key,) = iam.list_access_keys(UserName=STACK)["AccessKeyMetadata"]

    outputs = terraform.outputs(root)
    secret_is_a_key = isinstance(outputs.pop("secret"), str)  # never compared in an assert: pytest would print it
    assert secret_is_a_key
    assert outputs == {"user_name": STACK}
    shown = terraform.run(["output", "-no-color"], root).stdout
    assert "secret = <sensitive>" in shown
    assert not terraform.plan_has_changes(root)

    terraform.destroy(root)
    assert STACK not in [user["UserName"] for user in iam.list_users()["Users"]]
    assert key["AccessKeyId"] not in json.dumps(iam.list_users())


@pytest.mark.terraform
def test_a_caller_replaces_the_documents_and_attaches_through_a_group(
    emulated_terraform: Terraform, aws: AwsEmulator, tmp_path: Path
) -> None:
    module = export(tmp_path)
    arguments = """
  user_name          = "staging-streammanager"
  attach_policies_to = "group"
  policies = {
    "staging-reads" = {
      document = jsonencode({
        Version   = "2012-10-17"
        Statement = [{ Effect = "Allow", Action = ["ec2:DescribeRegions"], Resource = "arn:aws:iam::*:user/$${aws:username}" }]
      })
    }
  }
"""
    root = root_calling(tmp_path / "root", module, arguments=arguments)
    resources = {address: values for address, values in planned_addresses(emulated_terraform, root).items()}
    assert sorted(resources) == [
        "module.identity.aws_iam_access_key.access_key[0]",
        "module.identity.aws_iam_group.group[0]",
        'module.identity.aws_iam_group_policy_attachment.policy["staging-reads"]',
        'module.identity.aws_iam_policy.policy["staging-reads"]',
        "module.identity.aws_iam_user.user",
        "module.identity.aws_iam_user_group_membership.group[0]",
    ]
    assert resources["module.identity.aws_iam_group.group[0]"]["name"] == "staging-streammanager"
    document = json.loads(resources['module.identity.aws_iam_policy.policy["staging-reads"]']["policy"])
    assert document["Statement"][0]["Resource"] == "arn:aws:iam::*:user/${aws:username}"

    (tmp_path / "root" / "main.tf").write_text(
        (tmp_path / "root" / "main.tf").read_text(encoding="utf-8").replace('"group"', '"role"'), encoding="utf-8"
    )
    refused = emulated_terraform.attempt(["plan", "-input=false", "-no-color"], root)
    assert refused.returncode != 0 and 'attach_policies_to must be "user" or "group".' in refused.stderr


def planned_addresses(terraform: Terraform, directory: Path) -> dict[str, dict[str, Any]]:
    terraform.run(["init", "-input=false", "-no-color"], directory)
    terraform.run(["plan", "-input=false", "-no-color", "-out=p.tfplan"], directory)
    plan = json.loads(terraform.run(["show", "-json", "-no-color", "p.tfplan"], directory).stdout)
    return {change["address"]: change["change"]["after"] for change in plan["resource_changes"]}
