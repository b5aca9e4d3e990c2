"""``set_list`` (config/editing.py): ``usage tighten``'s write of ``policy.remove_actions``, one action a line under
its comment, everything else in the file kept byte for byte."""

from __future__ import annotations

import tomllib

import pytest

from programmatic_iam.config.editing import EditRefusedError, set_list

COMMENT = "usage tighten: not used in the 90 days before IAM's evidence of 2026-12-07 (production)"
PREFIX = "usage tighten:"


def written(text: str, table: tuple[str | int, ...], values: list[str], comment: str = COMMENT) -> str:
    return set_list(text, table, "remove_actions", values, comment, comment_prefix=PREFIX)


def test_a_table_with_its_own_header_gets_the_key_after_its_last_value() -> None:
    text = '# ours\n[policy]\nactions = [\n  "ec2:A",  # the first\n  "ec2:B",\n]\n\n# next\n[naming]\nname = "x"\n'
    edited = written(text, ("policy",), ["ec2:B"])
    assert edited == (
        '# ours\n[policy]\nactions = [\n  "ec2:A",  # the first\n  "ec2:B",\n]\n'
        f'# {COMMENT}\nremove_actions = [\n  "ec2:B",\n]\n\n# next\n[naming]\nname = "x"\n'
    )


def test_a_second_write_replaces_the_list_and_its_own_comment_and_keeps_another() -> None:
    first = written('[policy]\n# why we grant these\nactions = ["ec2:A", "ec2:B", "ec2:C"]\n', ("policy",), ["ec2:B"])
    second = written(first, ("policy",), ["ec2:B", "ec2:C"], COMMENT.replace("2026-12-07", "2027-01-07"))
    assert second == (
        '[policy]\n# why we grant these\nactions = ["ec2:A", "ec2:B", "ec2:C"]\n'
        f'# {COMMENT.replace("2026-12-07", "2027-01-07")}\nremove_actions = [\n  "ec2:B",\n  "ec2:C",\n]\n'
    )
    # the same write again changes nothing
    assert written(second, ("policy",), ["ec2:B", "ec2:C"], COMMENT.replace("2026-12-07", "2027-01-07")) == second


def test_a_missing_table_is_added_with_its_header() -> None:
    text = '[naming]\nname = "x"\n'
    edited = written(text, ("policy",), ["ec2:A"])
    assert edited.startswith(text) and tomllib.loads(edited)["policy"]["remove_actions"] == ["ec2:A"]


def test_an_identity_entry_written_with_dotted_keys_is_edited_in_place() -> None:
    text = (
        '[[identities]]\nname = "a"\npolicy.actions = ["ec2:A", "ec2:B"]  # a\'s\n\n'
        '[[identities]]\nname = "b"\npolicy.actions = ["ec2:A"]\n'
    )
    edited = written(text, ("identities", 0, "policy"), ["ec2:B"])
    loaded = tomllib.loads(edited)
    assert loaded["identities"][0]["policy"] == {"actions": ["ec2:A", "ec2:B"], "remove_actions": ["ec2:B"]}
    assert loaded["identities"][1]["policy"] == {"actions": ["ec2:A"]}
    assert "# a's" in edited and COMMENT in edited


def test_an_identity_without_a_policy_table_gets_one_in_its_entry() -> None:
    text = '[[identities]]\nname = "a"\n\n# the second\n[[identities]]\nname = "b"\n'
    edited = written(text, ("identities", 1, "policy"), ["ec2:B"])
    loaded = tomllib.loads(edited)
    assert "policy" not in loaded["identities"][0] and loaded["identities"][1]["policy"]["remove_actions"] == ["ec2:B"]


def test_a_value_that_never_ends_is_refused() -> None:
    with pytest.raises(EditRefusedError, match="never ends"):
        written('[policy]\nremove_actions = [\n  "ec2:A",\n', ("policy",), ["ec2:A"])


def test_brackets_inside_strings_and_comments_do_not_end_the_value() -> None:
    text = '[policy]\nremove_actions = [\n  "ec2:[A]",  # ] not the end\n  "ec2:B",\n]\nresources = ["*"]\n'
    edited = written(text, ("policy",), ["ec2:C"])
    assert tomllib.loads(edited)["policy"] == {"remove_actions": ["ec2:C"], "resources": ["*"]}
