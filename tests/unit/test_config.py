"""The configuration file: defaults, overrides, and every kind of bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from programmatic_iam.config import IdentityConfig, load_config
from programmatic_iam.errors import (
    PROBLEMS_PER_KEY_MAX,
    SUGGESTIONS_MAX,
    ConfigError,
    Notice,
    Problem,
    key_path,
    rendered_for,
)
from tests.support.helpers import write_config


def problems_of(directory: Path, text: str) -> list[str]:
    write_config(directory, text)
    with pytest.raises(ConfigError) as caught:
        load_config({}, cwd=directory)
    return [p.render() for p in caught.value.problems]


def test_no_file_gives_the_documented_defaults(tmp_path: Path) -> None:
    config = load_config({}, cwd=tmp_path)
    assert config.model_dump() == IdentityConfig().model_dump()
    assert config.origin == "<built-in default>"
    assert config.naming.user == "{{ environment }}-{{ name }}"
    assert config.naming.policy == "{{ environment }}-{{ name }}-programmatic-access"
    assert [(e.name, e.region) for e in config.environments] == [("production", "us-east-1")]
    assert config.policy.actions is None and config.policy.file is None


def test_a_file_overrides_only_what_it_names(tmp_path: Path) -> None:
    write_config(tmp_path, '[naming]\nname = "recorder"\n')
    config = load_config({}, cwd=tmp_path)
    assert config.naming.name == "recorder"
    assert config.naming.user == IdentityConfig().naming.user
    assert config.backend == IdentityConfig().backend
    assert config.origin == "iam.toml"


def test_iam_config_names_another_file(tmp_path: Path) -> None:
    write_config(tmp_path, '[naming]\nname = "ignored"\n')
    write_config(tmp_path, '[naming]\nname = "chosen"\n', name="other.toml")
    config = load_config({"IAM_CONFIG": "other.toml"}, cwd=tmp_path)
    assert config.naming.name == "chosen"
    assert config.base_dir == tmp_path.resolve()


def test_rejects_iam_config_naming_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\$IAM_CONFIG: 'missing.toml' no such file"):
        load_config({"IAM_CONFIG": "missing.toml"}, cwd=tmp_path)


def test_rejects_invalid_toml_with_the_position(tmp_path: Path) -> None:
    (problem,) = problems_of(tmp_path, '[naming\nname = "x"\n')
    assert problem.startswith("iam.toml: the file is not valid TOML") and "line 1" in problem


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[naming]\nnmae = "x"\n', "iam.toml: naming.nmae: this key is not a configuration key; did you mean 'name'?"),
        ("[polcy]\nactions = []\n", "iam.toml: polcy: this key is not a configuration key; did you mean 'policy'?"),
        (
            '[[environments]]\nname = "a"\nregion = "us-east-1"\nregoin = "x"\n',
            "iam.toml: environments[0].regoin: this key is not a configuration key; did you mean 'region'?",
        ),
        ('[backend]\nbucket = "My_Bucket"\n', "iam.toml: backend.bucket: 'My_Bucket' is not an S3 bucket name"),
        ('[backend]\nbucket = "xn--state"\n', "iam.toml: backend.bucket: 'xn--state' uses 'xn--', which S3 reserves"),
        ('[backend]\ndynamodb_table = "ab"\n', "iam.toml: backend.dynamodb_table: 'ab' is not a DynamoDB table name"),
        (
            '[backend]\nkms_key_id = "1234abcd-12ab-34cd-56ef-1234567890ab"\n',
            "iam.toml: backend.kms_key_id: '1234abcd-12ab-34cd-56ef-1234567890ab' is not a KMS key ARN, key id or alias",
        ),
        (
            '[[environments]]\nname = "a"\nregion = "mars-1"\n',
            "iam.toml: environments[0].region: 'mars-1' is not an AWS region name",
        ),
        ('[[environments]]\nname = "a"\n', "iam.toml: environments[0].region: is missing"),
        (
            '[[environments]]\nname = "a"\nregion = "us-east-1"\naccount_id = 123\n',
            'iam.toml: environments[0].account_id: 123 should be text in quotes, such as "value"',
        ),
        (
            '[policy]\nallow_wildcards = "yes"\n',
            "iam.toml: policy.allow_wildcards: 'yes' should be true or false\n"
            "    fix: write true or false (the key reference in docs/configuration.md)",
        ),
        ("[policy]\nmax_policies = 21\n", "iam.toml: policy.max_policies: 21 should be less than or equal to 20"),
        (
            '[policy]\nactions = ["ec2:RunInstances"]\nfile = "p.json"\n',
            "iam.toml: policy: sets policy.actions and policy.file, which are mutually exclusive",
        ),
        ('[user]\npath = "users"\n', "iam.toml: user.path: 'users' is not an IAM path"),
        (
            '[user]\npermissions_boundary = "boundary"\n',
            "iam.toml: user.permissions_boundary: 'boundary' is not a managed policy ARN",
        ),
        (
            '[tags]\n"aws:owner" = "me"\n',
            "iam.toml: tags: has the tag key 'aws:owner', whose prefix 'aws:' AWS reserves\n"
            "    fix: use letters, digits, spaces and _ . : / = + - @, at most 50 tags, "
            "no key starting aws: or programmatic-iam:",
        ),
        (
            '[tags]\n"Programmatic-IAM:environment" = "staging"\n',
            "iam.toml: tags: has the tag key 'Programmatic-IAM:environment', whose prefix 'programmatic-iam:' this "
            "tool reserves for the tags by which `keys status` finds what it made",
        ),
        ('[tags]\nowner = "${var.x}"\n', "with characters AWS tags do not allow"),
        ('[naming]\ndelimiter = "/"\n', "iam.toml: naming.delimiter: '/' should be '-', '_' or '.'"),
        (
            '[[environments]]\nname = "prod"\nregion = "us-east-1"\n[[environments]]\nname = "PROD"\nregion = "us-west-2"\n',
            "iam.toml: environments: lists the environment 'PROD' twice",
        ),
        ("environments = []\n", "has no environments"),
        (
            '[environments]\nname = "a"\nregion = "us-east-1"\n',
            "iam.toml: environments: is a single [environments] table, but a list of tables is expected\n"
            "    fix: write [[environments]] (double brackets) before each entry",
        ),
        (
            '[naming]\nname = "${TfToken[TOKEN.1]}"\n',
            "iam.toml: naming.name: '${TfToken[TOKEN.1]}' contains a cdktf token marker",
        ),
    ],
)
def test_rejects_bad_values_naming_file_key_and_value(tmp_path: Path, text: str, expected: str) -> None:
    problems = problems_of(tmp_path, text)
    assert any(expected in problem for problem in problems), problems
    assert all("\n    fix: " in problem for problem in problems)


@pytest.mark.parametrize("key", ["user.path", "policy.path"])
@pytest.mark.parametrize("path", ["/streaming", "streaming/", "streaming", "//", "/a b/", "/" + "a" * 511 + "/"])
def test_rejects_an_iam_path_that_does_not_start_and_end_with_a_slash(tmp_path: Path, key: str, path: str) -> None:
    section, name = key.split(".")
    (problem,) = problems_of(tmp_path, f'[{section}]\n{name} = "{path}"\n')
    assert problem.startswith(f"iam.toml: {key}: '{path[:20]}"), problem
    assert "is not an IAM path" in problem


@pytest.mark.parametrize("path", ["/", "/streaming/", "/division/streaming/", "/" + "a" * 510 + "/"])
def test_accepts_an_iam_path(tmp_path: Path, path: str) -> None:
    write_config(tmp_path, f'[user]\npath = "{path}"\n[policy]\npath = "{path}"\n')
    config = load_config({}, cwd=tmp_path)
    assert (config.user.path, config.policy.path) == (path, path)


@pytest.mark.parametrize("name", ["prod env", "-prod", "prod/eu", "prodüction"])
def test_rejects_an_unusable_environment_name_at_its_key(tmp_path: Path, name: str) -> None:
    (problem,) = problems_of(tmp_path, f'[[environments]]\nname = "{name}"\nregion = "us-east-1"\n')
    assert problem.startswith(f"iam.toml: environments[0].name: {name!r} is not a usable environment name"), problem


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        (("environments", 1, "region"), "environments[1].region"),
        (("naming.user",), "naming.user"),
        (("policy", "resources", 10), "policy.resources[10]"),
        (("environments", 0, "assume_role", "role_arn"), "environments[0].assume_role.role_arn"),
        ((), ""),
    ],
)
def test_a_key_path_is_dotted_with_list_items_by_index(parts: tuple[str | int, ...], expected: str) -> None:
    assert key_path(*parts) == expected


def test_a_key_rendered_per_environment_names_the_environment() -> None:
    assert rendered_for("naming.user", "staging") == "naming.user (environment 'staging')"


ENTRIES = (
    '[[environments]]\nname = "a"\nregion = "us-east-1"\n'
    '[[environments]]\nname = "{second}"\nregion = "us-east-1"\n'
    '[[environments]]\nname = "c"\nregion = "eu-west-1"\n'
)


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        (ENTRIES.format(second="b"), ["environments[0].region", "environments[1].region", "environments[2].region"]),
        # The second entry is dropped for its name: the third keeps its own index, not the one it has after.
        (ENTRIES.format(second="bad name"), ["environments[0].region", "environments[2].region"]),
        (ENTRIES.format(second="b") + '[naming]\nnmae = "x"\n', [f"environments[{i}].region" for i in range(3)]),
        # An environment from the defaults: named where the user would add it.
        ("", ["environments[0].region"]),
    ],
)
def test_an_environment_is_named_by_its_index_in_the_file(tmp_path: Path, entries: str, expected: list[str]) -> None:
    write_config(tmp_path, entries)
    config: object
    try:
        config = load_config({}, cwd=tmp_path)
    except ConfigError as error:
        config = error.partial  # what the later checks run on
    assert isinstance(config, IdentityConfig)
    assert [config.environment_key(e, "region") for e in config.environments] == expected


def test_a_file_that_is_not_utf8_is_a_problem_not_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "iam.toml").write_bytes('[naming]\nname = "café"\n'.encode("latin-1"))
    with pytest.raises(ConfigError) as caught:
        load_config({}, cwd=tmp_path)
    (problem,) = [p.render() for p in caught.value.problems]
    assert problem.startswith("iam.toml: the file cannot be read ('utf-8' codec can't decode"), problem
    assert problem.endswith("fix: check the path and encoding")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le"])
def test_a_utf16_file_is_named_as_such_with_how_to_save_it_as_utf8(tmp_path: Path, encoding: str) -> None:
    (tmp_path / "iam.toml").write_bytes('[naming]\nname = "x"\n'.encode(encoding))
    with pytest.raises(ConfigError) as caught:
        load_config({}, cwd=tmp_path)
    (problem,) = [p.render() for p in caught.value.problems]
    assert problem == (
        "iam.toml: the file is UTF-16 text (what Windows PowerShell's `>` writes), not UTF-8\n"
        "    fix: save it as UTF-8: in an editor's save dialog, or in PowerShell with `| Out-File -Encoding utf8 "
        "FILE` instead of `> FILE`"
    )


def test_a_long_value_is_shown_shortened(tmp_path: Path) -> None:
    namespace = "a b" * 2000
    (problem,) = problems_of(tmp_path, f'[naming]\nnamespace = "{namespace}"\n')
    assert problem.startswith("iam.toml: naming.namespace: 'a ba ba b"), problem
    assert len(problem) < 400, problem


def test_reports_every_problem_at_once_across_sections(tmp_path: Path) -> None:
    problems = problems_of(
        tmp_path,
        """
        [naming]
        nmae = "x"
        user = "{{ envirnment }}-{{ name }}"
        [policy]
        actions = ["ec2:DescribeInstancess"]
        [backend]
        bucket = "UPPER"
        """,
    )
    assert len(problems) == 2  # the loader's; the naming and policy checks come after, in the blueprint
    assert "naming.nmae" in problems[0] and "backend.bucket" in problems[1]


def test_a_bad_required_value_is_reported_once_not_also_as_missing(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, '[[environments]]\nname = "a"\nregion = "mars-1"\n')
    assert len(problems) == 1, problems
    assert problems[0].startswith("iam.toml: environments[0].region: 'mars-1' is not an AWS region name")


def test_bad_items_of_a_list_are_reported_once_each_at_their_own_index(tmp_path: Path) -> None:
    resources = ", ".join(str(i) if i in (9, 10) else f'"r{i}"' for i in range(12))
    problems = problems_of(tmp_path, f'[policy]\nactions = ["s3:GetObject"]\nresources = [{resources}]\n')
    assert [p.split(" should")[0] for p in problems] == [
        "iam.toml: policy.resources[9]: 9",
        "iam.toml: policy.resources[10]: 10",
    ], problems


@pytest.mark.parametrize(
    ("problem", "rendered"),
    [
        (Problem("iam.toml: \x1b[2J", "", "why", "fix"), "iam.toml: \\x1b[2J: why\n    fix: fix"),
        (Problem("w", "'x'", "is \u202ebad", "fix"), "w: 'x' is \\u202ebad\n    fix: fix"),
        (Problem("w", "\x07", "why", "fix"), "w: \\x07 why\n    fix: fix"),
        (Problem("w", "", "why", "tab\there\u2028"), "w: why\n    fix: tab\\there\\u2028"),
        (Notice("w\x9b", "says \x1b]0;title\x07"), "w\\x9b: says \\x1b]0;title\\x07"),
    ],
)
def test_every_part_of_a_rendered_problem_shows_control_characters_escaped(
    problem: Problem | Notice, rendered: str
) -> None:
    assert problem.render() == rendered


def test_problems_past_twenty_of_one_list_are_counted_not_printed() -> None:
    problems = [Problem(f"iam.toml: policy.actions[{i}]", f"'a{i}'", "is bad", "fix it") for i in range(100_000)]
    lines = ConfigError([Problem("iam.toml: naming.name", "", "is bad", "fix it"), *problems]).render().splitlines()
    assert lines[0] == "100001 problems in the configuration:"
    assert len(lines) == 1 + 2 * (1 + PROBLEMS_PER_KEY_MAX + 1), lines[-4:]
    assert lines[-2] == (
        "  - iam.toml: policy.actions[20] and after: 99,980 more problems like the ones above, not listed one by one"
    )


def test_at_most_two_hundred_problems_are_printed(tmp_path: Path) -> None:
    problems_of(tmp_path, "".join(f"unknown{i} = 1\n" for i in range(1000)))
    with pytest.raises(ConfigError) as caught:
        load_config({}, cwd=tmp_path)
    lines = caught.value.render().splitlines()
    assert len(lines) == 1 + 2 * 201, len(lines)
    assert lines[-2] == "  - iam.toml: unknown200 and after: 800 more problems, not listed one by one"


def test_only_the_first_unknown_keys_get_a_suggestion(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, "".join(f"[nmaing{i}]\n" for i in range(100)))
    suggested = ["did you mean 'naming'?" in problem for problem in problems]
    assert suggested == [True] * SUGGESTIONS_MAX + [False] * (100 - SUGGESTIONS_MAX)


def test_a_table_of_many_bad_tags_gives_one_short_problem(tmp_path: Path) -> None:
    (problem,) = problems_of(tmp_path, "[tags]\n" + "".join(f'k{i} = "a\\nb"\n' for i in range(1000)))
    assert problem.startswith("iam.toml: tags: has 1000 tags, AWS allows at most 50, has 'a\\nb'"), problem
    assert "and 996 more" in problem and len(problem) < 400, problem
