"""The stubs that let mypy check the cdk layer against CDK Terrain's own types (``make typecheck ENGINE=cdktn``)."""

from __future__ import annotations

from pathlib import Path

from programmatic_iam.cdk.engine import ENGINES
from programmatic_iam_dev.engine_stubs import imported_modules, stubs, write_stubs

SOURCE = """
from cdktf import App, TerraformStack
from cdktf_cdktf_provider_aws.iam_user import IamUser
from cdktf_cdktf_provider_aws.provider import AwsProvider
from constructs import Construct
import json
"""


def test_each_cdktf_module_imported_becomes_a_re_export_of_the_engines_own() -> None:
    modules = imported_modules([SOURCE])
    assert modules == {"cdktf", "cdktf_cdktf_provider_aws.iam_user", "cdktf_cdktf_provider_aws.provider"}
    assert stubs(ENGINES["cdktn"], modules) == {
        "cdktf/__init__.pyi": "from cdktn import *\n",
        "cdktf_cdktf_provider_aws/__init__.pyi": "",
        "cdktf_cdktf_provider_aws/iam_user.pyi": "from cdktn_provider_aws.iam_user import *\n",
        "cdktf_cdktf_provider_aws/provider.pyi": "from cdktn_provider_aws.provider import *\n",
    }


def test_the_stubs_cover_what_the_bindings_import_and_cdktf_itself_needs_none(tmp_path: Path) -> None:
    written = write_stubs(tmp_path / "cdktn", ENGINES["cdktn"])
    assert {
        "cdktf/__init__.pyi",
        "cdktf_cdktf_provider_aws/iam_user.pyi",
        "cdktf_cdktf_provider_aws/s3_bucket_versioning.pyi",
    } <= set(written)
    assert (tmp_path / "cdktn" / "cdktf_cdktf_provider_aws" / "iam_user.pyi").read_text() == (
        "from cdktn_provider_aws.iam_user import *\n"
    )
    (tmp_path / "cdktf").mkdir()
    (tmp_path / "cdktf" / "stale.pyi").write_text("")
    assert write_stubs(tmp_path / "cdktf", ENGINES["cdktf"]) == []
    assert list((tmp_path / "cdktf").iterdir()) == []
