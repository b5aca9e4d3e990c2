"""Adding the programmatic identity to a cdktf app of your own (see docs/library.md)."""

# ruff: noqa: I001  (programmatic_iam.cdk is imported before the provider bindings on purpose, see below)

from __future__ import annotations

from pathlib import Path

# First, before any provider binding: then `cdktf_cdktf_provider_aws.<resource>` loads only the modules it
# names (seconds), instead of all ~2,200 (about a minute), with the same output (docs/library.md).
from programmatic_iam.cdk import ProgrammaticIdentity, require_aws_provider

from cdktf import App, TerraformOutput, TerraformStack
from cdktf_cdktf_provider_aws.provider import AwsProvider
from constructs import Construct

from programmatic_iam import IdentitySpec, identity_spec, load_config


class MediaPlatformStack(TerraformStack):
    """A stack of your own: your provider and backend, your resources, and the Stream Manager identity."""

    def __init__(self, scope: Construct, id: str, stream_manager: IdentitySpec) -> None:
        super().__init__(scope, id)
        AwsProvider(self, "aws", region="eu-west-1")
        require_aws_provider(self, ">= 5.100.0, < 7.0.0")
        identity = ProgrammaticIdentity(self, "stream_manager", stream_manager)
        TerraformOutput(self, "stream_manager_user", value=identity.user.name)
        if identity.access_key is not None:  # None only with access_key.create = false
            TerraformOutput(self, "stream_manager_secret", value=identity.access_key.secret, sensitive=True)


def main(outdir: str = "cdktf.out", config_dir: Path | None = None) -> None:
    # The same iam.toml (or built-in default) the app uses; pick one environment's identity.
    spec = identity_spec(load_config(cwd=config_dir), "production")
    app = App(outdir=outdir)
    MediaPlatformStack(app, "media-platform", spec)
    app.synth()


if __name__ == "__main__":
    main()
