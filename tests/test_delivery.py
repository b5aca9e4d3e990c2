"""Where the access key's secret is delivered: each mode deployed on the emulator, the key read back and used."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
import json
import os
from pathlib import Path
import shutil
import subprocess

import pytest

from programmatic_iam_dev.emulator import AwsEmulator
from tests.support.access_keys import AccessKey
from tests.support.helpers import run_cli, synth, without_metadata, write_config
from tests.support.terraform import Terraform, unavailable

STATE_BUCKET = "terraform-state"


@dataclass(frozen=True)
class Pgp:
    """A throw-away OpenPGP key pair in its own keyring."""

    home: Path
    public_key: str  # base64 of the binary public key, as Terraform takes it

    def decrypt(self, message_base64: str) -> str:
        completed = subprocess.run(
            ["gpg", "--batch", "--quiet", "--decrypt"],
            input=base64.b64decode(message_base64),
            env={**os.environ, "GNUPGHOME": str(self.home)},
            capture_output=True,
            check=True,
        )
        return completed.stdout.decode()


@pytest.fixture(scope="module")
def pgp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pgp]:
    if shutil.which("gpg") is None:
        unavailable("gpg is not installed")
    home = tmp_path_factory.mktemp("gnupg")
    home.chmod(0o700)
    environment = {**os.environ, "GNUPGHOME": str(home)}
    subprocess.run(
        [
            "gpg",
            "--batch",
            "--quiet",
            "--passphrase",
            "",
            "--quick-gen-key",
            "delivery <delivery@example.invalid>",
            "rsa2048",
            "encr",
            "never",
        ],
        env=environment,
        check=True,
        capture_output=True,
    )
    exported = subprocess.run(
        ["gpg", "--export", "delivery@example.invalid"], env=environment, check=True, capture_output=True
    ).stdout
    yield Pgp(home, base64.b64encode(exported).decode())
    # gpg starts an agent for the keyring; it would outlive the tests.
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], env=environment, check=False)


@dataclass(frozen=True)
class Deployed:
    stack_dir: Path
    user: str
    state_key: str


def deploy(terraform: Terraform, aws: AwsEmulator, config: str, directory: Path) -> Deployed:
    aws.client("s3").create_bucket(Bucket=STATE_BUCKET)
    (stack_id,) = synth(config, directory)
    stack_dir = directory / "cdktf.out" / "stacks" / stack_id
    terraform.init(stack_dir)
    terraform.apply(stack_dir)
    assert terraform.plan_has_changes(stack_dir) is False
    return Deployed(stack_dir, stack_id, f"{stack_id}/terraform.tfstate")


def output(terraform: Terraform, stack_dir: Path, name: str) -> object:
    return json.loads(terraform.run(["output", "-json", "-no-color", name], stack_dir).stdout)


def raw_state(aws: AwsEmulator, key: str) -> str:
    return str(aws.client("s3").get_object(Bucket=STATE_BUCKET, Key=key)["Body"].read().decode())


def live_user(aws: AwsEmulator, key: AccessKey) -> str:
    """Whom the emulator takes the key for, with its signature checks on: only a live key gets an answer."""
    aws.enforce_iam(after_calls=0)
    try:
        return str(key.client(aws, "sts").get_caller_identity()["Arn"])
    finally:
        aws.enforce_iam(after_calls=None)


@pytest.fixture
def emulator(aws: AwsEmulator) -> Iterator[AwsEmulator]:
    yield aws
    aws.enforce_iam(after_calls=None)


@pytest.mark.engine
@pytest.mark.terraform
def test_secrets_manager_holds_the_live_key_once_and_the_state_only_once(
    emulated_terraform: Terraform, emulator: AwsEmulator, tmp_path: Path
) -> None:
    deployed = deploy(emulated_terraform, emulator, '[access_key]\ndelivery = "secretsmanager"\n', tmp_path)
    arn = str(output(emulated_terraform, deployed.stack_dir, "secret_arn"))
    assert ":secret:production-streammanager/access-key-" in arn
    value = json.loads(emulator.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"])
    key = AccessKey(access_key_id=value["access_key_id"], secret_access_key=value["secret_access_key"])
    assert live_user(emulator, key).endswith(":user/production-streammanager")
    # Written with the write-only argument: the state keeps the key resource's copy and no second one.
    assert raw_state(emulator, deployed.state_key).count(value["secret_access_key"]) == 1

    # A replaced key reaches the store in the same apply (the write-only version follows the key).
    (key_address,) = [
        line
        for line in emulated_terraform.run(["state", "list"], deployed.stack_dir).stdout.split()
        if "access_key" in line
    ]
    emulated_terraform.apply(deployed.stack_dir, f"-replace={key_address}")
    renewed = json.loads(emulator.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"])
    assert renewed["access_key_id"] != value["access_key_id"]
    assert renewed["access_key_id"] == output(emulated_terraform, deployed.stack_dir, "access_key_id")
    new_key = AccessKey(access_key_id=renewed["access_key_id"], secret_access_key=renewed["secret_access_key"])
    assert live_user(emulator, new_key).endswith(":user/production-streammanager")
    emulated_terraform.destroy(deployed.stack_dir)
    assert emulator.client("secretsmanager").list_secrets()["SecretList"] == []


@pytest.mark.engine
@pytest.mark.terraform
def test_a_key_of_your_own_encrypts_the_store(
    emulated_terraform: Terraform, emulator: AwsEmulator, tmp_path: Path
) -> None:
    kms_key = emulator.client("kms").create_key(Description="stream manager key store")["KeyMetadata"]["Arn"]
    config = f'[access_key]\ndelivery = "secretsmanager"\nkms_key_id = "{kms_key}"\n'
    deployed = deploy(emulated_terraform, emulator, config, tmp_path)
    arn = str(output(emulated_terraform, deployed.stack_dir, "secret_arn"))
    assert emulator.client("secretsmanager").describe_secret(SecretId=arn)["KmsKeyId"] == kms_key


@pytest.mark.engine
@pytest.mark.terraform
def test_ssm_holds_the_live_key_in_a_secure_string(
    emulated_terraform: Terraform, emulator: AwsEmulator, tmp_path: Path
) -> None:
    deployed = deploy(emulated_terraform, emulator, '[access_key]\ndelivery = "ssm"\n', tmp_path)
    names = output(emulated_terraform, deployed.stack_dir, "parameter_names")
    assert names == [
        "/production-streammanager/access-key/access-key-id",
        "/production-streammanager/access-key/secret-access-key",
    ]
    ssm = emulator.client("ssm")
    key_id = ssm.get_parameter(Name=names[0])["Parameter"]
    secret = ssm.get_parameter(Name=names[1], WithDecryption=True)["Parameter"]
    assert (key_id["Type"], secret["Type"]) == ("String", "SecureString")
    key = AccessKey(access_key_id=key_id["Value"], secret_access_key=secret["Value"])
    assert live_user(emulator, key).endswith(":user/production-streammanager")
    assert raw_state(emulator, deployed.state_key).count(secret["Value"]) == 1


@pytest.mark.engine
@pytest.mark.terraform
def test_pgp_leaves_no_plaintext_secret_in_the_state(
    emulated_terraform: Terraform, emulator: AwsEmulator, pgp: Pgp, tmp_path: Path
) -> None:
    config = f'[access_key]\ndelivery = "pgp"\npgp_key = "{pgp.public_key}"\n'
    deployed = deploy(emulated_terraform, emulator, config, tmp_path)
    encrypted = str(output(emulated_terraform, deployed.stack_dir, "encrypted_secret_access_key"))
    secret = pgp.decrypt(encrypted)
    key_id = str(output(emulated_terraform, deployed.stack_dir, "access_key_id"))
    assert live_user(emulator, AccessKey(access_key_id=key_id, secret_access_key=secret)).endswith(
        ":user/production-streammanager"
    )
    state = raw_state(emulator, deployed.state_key)
    assert secret not in state
    (key,) = [r for r in json.loads(state)["resources"] if r["type"] == "aws_iam_access_key"]
    attributes = key["instances"][0]["attributes"]
    assert not attributes["secret"] and attributes["encrypted_secret"] == encrypted


# ---------------------------------------------------------------------------------------------------------------------
# A rotation: the delivery follows the new key, and the old one stays as it was delivered
# ---------------------------------------------------------------------------------------------------------------------


def delivered_key(terraform: Terraform, aws: AwsEmulator, stack_dir: Path, delivery: str, pgp: Pgp | None) -> AccessKey:
    """The current key as its consumer receives it: from the store, or from the outputs (decrypted)."""
    if delivery == "secretsmanager":
        arn = str(output(terraform, stack_dir, "secret_arn"))
        value = json.loads(aws.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"])
        return AccessKey(access_key_id=value["access_key_id"], secret_access_key=value["secret_access_key"])
    if delivery == "ssm":
        names = output(terraform, stack_dir, "parameter_names")
        assert isinstance(names, list)
        key_id_name, secret_name = names
        ssm = aws.client("ssm")
        return AccessKey(
            access_key_id=ssm.get_parameter(Name=key_id_name)["Parameter"]["Value"],
            secret_access_key=ssm.get_parameter(Name=secret_name, WithDecryption=True)["Parameter"]["Value"],
        )
    assert pgp is not None
    return AccessKey(
        access_key_id=str(output(terraform, stack_dir, "access_key_id")),
        secret_access_key=pgp.decrypt(str(output(terraform, stack_dir, "encrypted_secret_access_key"))),
    )


@pytest.mark.engine
@pytest.mark.terraform
@pytest.mark.parametrize("delivery", ["secretsmanager", "ssm", "pgp"])
def test_a_rotation_delivers_the_new_key_and_keeps_the_old_one_as_it_was(
    emulated_terraform: Terraform,
    emulator: AwsEmulator,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    delivery: str,
) -> None:
    """A store rewritten only when its version changes, or a previous key made without pgp_key, would show here."""
    pgp: Pgp | None = request.getfixturevalue("pgp") if delivery == "pgp" else None
    settings = f'[access_key]\ndelivery = "{delivery}"\n' + (f'pgp_key = "{pgp.public_key}"\n' if pgp else "")
    deployed = deploy(emulated_terraform, emulator, settings, tmp_path)
    first = delivered_key(emulated_terraform, emulator, deployed.stack_dir, delivery, pgp)
    assert live_user(emulator, first).endswith(":user/production-streammanager")

    synth(settings + 'generation = 2\nprevious = "active"\n', tmp_path)
    emulated_terraform.apply(deployed.stack_dir)
    second = delivered_key(emulated_terraform, emulator, deployed.stack_dir, delivery, pgp)
    assert second.access_key_id not in (first.access_key_id, "")
    assert second.access_key_id == output(emulated_terraform, deployed.stack_dir, "access_key_id")
    # Both keys work: the new one as delivered (its secret included), the old one still, and not replaced.
    assert live_user(emulator, second).endswith(":user/production-streammanager")
    assert live_user(emulator, first).endswith(":user/production-streammanager")
    assert output(emulated_terraform, deployed.stack_dir, "previous_access_key_id") == first.access_key_id

    state = raw_state(emulator, deployed.state_key)
    keys = [r for r in json.loads(state)["resources"] if r["type"] == "aws_iam_access_key"]
    assert sorted(key["instances"][0]["attributes"]["id"] for key in keys) == sorted(
        [first.access_key_id, second.access_key_id]
    )
    if pgp:  # neither key's secret in plaintext, the previous one's included
        assert first.secret_access_key not in state and second.secret_access_key not in state
        assert all(not key["instances"][0]["attributes"]["secret"] for key in keys)
        assert all(key["instances"][0]["attributes"]["encrypted_secret"] for key in keys)
    assert emulated_terraform.plan_has_changes(deployed.stack_dir) is False


# ---------------------------------------------------------------------------------------------------------------------
# Bad input: each a clear problem before Terraform runs, nothing written
# ---------------------------------------------------------------------------------------------------------------------

NOT_A_KEY = base64.b64encode(b"\x8cnot an openpgp public key").decode()  # a packet, but not a public key
KEY_SHAPED = base64.b64encode(b"\x99\x01\x0d\x04").decode()  # a public-key packet's header: shape only


@pytest.mark.parametrize(
    ("settings", "why"),
    [
        ('delivery = "vault"', "access_key.delivery: 'vault' should be 'output', 'secretsmanager', 'ssm' or 'pgp'"),
        ('delivery = "pgp"', 'sets delivery = "pgp" without pgp_key'),
        ('delivery = "pgp"\npgp_key = "not base64!"', "is not base64"),
        ('delivery = "pgp"\npgp_key = "-----BEGIN PGP PUBLIC KEY BLOCK-----"', "is an ASCII-armoured key"),
        (f'delivery = "pgp"\npgp_key = "{NOT_A_KEY}"', "is base64 but not an OpenPGP public key"),
        (f'pgp_key = "{KEY_SHAPED}"', 'sets pgp_key with delivery = "output"'),
        ('delivery = "ssm"\nkms_key_id = "alias/mine"', "is not a KMS key ARN"),
        (
            'kms_key_id = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-44cd-86ef-1234567890ab"',
            "where no store uses it",
        ),
        ('delivery = "secretsmanager"\nsecret_name = "{{ user }} key"', "is not a Secrets Manager name"),
        ('delivery = "ssm"\nparameter_path = "aws/{{ user }}"', "is not an SSM parameter path"),
        ('delivery = "ssm"\nparameter_path = "/{{ usr }}"', "uses the unknown variable 'usr'"),
    ],
)
def test_rejects_bad_delivery_settings(tmp_path: Path, settings: str, why: str) -> None:
    write_config(tmp_path, f"[access_key]\n{settings}\n")
    code, _, stderr = run_cli(tmp_path, "synth")
    assert code == 2
    assert why in stderr
    assert "Traceback" not in stderr
    assert not (tmp_path / "cdktf.out").exists()


@pytest.mark.engine
def test_the_default_delivery_is_todays_stack(tmp_path: Path) -> None:
    """Delivery adds nothing to the default: `output` is the stack as it was (the snapshots guard it too)."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    default = without_metadata(synth(None, tmp_path / "a"))
    explicit = without_metadata(synth('[access_key]\ndelivery = "output"\n', tmp_path / "b"))
    assert default == explicit
    (stack,) = default.values()
    assert set(stack["output"]) == {"user_name", "user_arn", "policy_arns", "access_key_id", "secret_access_key"}
