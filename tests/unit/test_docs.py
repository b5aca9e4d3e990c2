"""The docs agree with the code."""

from __future__ import annotations

from programmatic_iam.config.reference import BEGIN, END, documented_keys, with_reference
from tests.support.helpers import REPO

CONFIGURATION_DOC = REPO / "docs" / "configuration.md"


def test_the_configuration_reference_is_generated_from_the_model() -> None:
    text = CONFIGURATION_DOC.read_text(encoding="utf-8")
    assert BEGIN in text and END in text
    assert with_reference(text) == text, "docs/configuration.md is stale: run `make docs`"


def test_every_key_of_the_product_contract_is_documented() -> None:
    contract = {
        "naming.namespace",
        "naming.name",
        "naming.user",
        "naming.policy",
        "policy.actions",
        "policy.file",
        "environments.name",
        "environments.region",
        "backend.bucket",
        "backend.key",
        "backend.region",
    }
    assert contract <= set(documented_keys())
    text = CONFIGURATION_DOC.read_text(encoding="utf-8")
    assert all(f"| `{key}` |" in text for key in documented_keys())
