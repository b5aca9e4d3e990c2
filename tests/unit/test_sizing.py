"""IAM's 6,144-character limit: counting as AWS does, and splitting into the fewest parts that mean the same."""

from __future__ import annotations

from dataclasses import replace
from fnmatch import fnmatchcase
import json
from pathlib import Path
import re

import pytest

from programmatic_iam.errors import ConfigError, Problem
from programmatic_iam.policy.catalogue import load_catalogue
from programmatic_iam.policy.document import ActionRules, PolicyDocument, Statement, parse_document
from programmatic_iam.policy.sizing import MANAGED_POLICY_MAX_CHARACTERS, iam_size, normalised_size, split_document
from tests.support.helpers import REPO, blueprint_of
from tests.support.iam_evaluator import ACCOUNT_ID, Request, decide

EC2_ACTIONS = load_catalogue().matching("ec2:*")
AWS_POLICIES = REPO / "tests" / "fixtures" / "aws-managed-policies"
# Actions of retired services that AWS's own documents still name.
RETIRED_ACTIONS = frozenset({"elastic-inference:Connect"})


def document(actions: list[str], sid: str | None = None, resources: str = "*") -> PolicyDocument:
    return PolicyDocument((Statement(effect="Allow", actions=tuple(actions), resources=resources, sid=sid),))


def aws_policy(name: str) -> PolicyDocument:
    """One of the AWS managed policies in ``tests/fixtures/aws-managed-policies``, checked as ``check`` would."""
    data = json.loads((AWS_POLICIES / f"{name}.json").read_text(encoding="utf-8"))
    rules = ActionRules(load_catalogue(), allow_wildcards=True, allow_unlisted=RETIRED_ACTIONS)
    parsed, problems, _ = parse_document(data, rules, where=name)
    assert parsed is not None, [problem.render() for problem in problems]
    return parsed


def lower_bound(doc: PolicyDocument, limit: int = MANAGED_POLICY_MAX_CHARACTERS) -> int:
    """Fewer parts than this cannot hold ``doc``: its characters, and the head each extra piece repeats.

    A part holds ``limit`` minus the document's frame; each statement costs its characters and a comma (one
    comma too many per part: hence ``+ 1``). A statement larger than that is cut into pieces that each repeat
    everything but the list cut (its head): ``n`` pieces of a list of ``u`` characters need ``n * head + u``
    characters, so at least ``u / (room - head)`` pieces, whichever list is cut.
    """
    room = limit - normalised_size(PolicyDocument((), id=doc.id).to_json_value()) + 1
    total = 0
    for statement in doc.statements:
        whole = normalised_size(statement.to_json_value()) + 1
        total += whole
        if whole > room:
            extra = []
            for units, emptied in (
                (statement.actions, replace(statement, actions=())),
                (statement.resources, replace(statement, resources=())),
            ):
                head = normalised_size(emptied.to_json_value())
                if isinstance(units, tuple) and len(units) > 1 and head < room:
                    pieces = -(-(whole - head) // (room - head))
                    extra.append((pieces - 1) * head)
            total += min(extra)
    return -(-total // room)


def pieces_of(parts: list[PolicyDocument], statement: Statement) -> list[Statement]:
    """The pieces of ``statement`` in ``parts``, in order: its Sid, then its Sid and Part2, Part3..."""
    assert statement.sid is not None
    pattern = re.compile(re.escape(statement.sid) + r"(Part(\d+))?")
    found = [(m[2] or "1", s) for part in parts for s in part.statements if s.sid and (m := pattern.fullmatch(s.sid))]
    return [s for _, s in sorted(found, key=lambda found: int(found[0]))]


@pytest.mark.parametrize(
    ("resources", "extra"),
    [
        ("*", 0),
        ("arn:aws:s3:::a&b", 5),  # Go's encoder writes & as \u0026: 6 characters for 1
        ("arn:aws:s3:::<x>", 10),
    ],
)
def test_size_is_the_providers_compact_form_with_go_escapes(resources: str, extra: int) -> None:
    doc = PolicyDocument((Statement(effect="Allow", actions=("s3:GetObject",), resources=resources),))
    compact = json.dumps(doc.to_json_value(), separators=(",", ":"))
    assert iam_size(doc) == len(compact) + extra


@pytest.mark.parametrize("space", [" ", "\u00a0", "\u2003", "\u3000"])
def test_whitespace_does_not_count(space: str) -> None:
    assert iam_size(document(["s3:GetObject"], resources=f"arn:aws:s3:::a{space}b")) == iam_size(
        document(["s3:GetObject"], resources="arn:aws:s3:::ab")
    )


def test_a_document_under_the_limit_is_not_split() -> None:
    doc = document(EC2_ACTIONS[:100])
    assert split_document(doc, where="w")[0] == [doc]


def test_a_large_document_is_split_in_order_into_parts_under_the_limit() -> None:
    doc = document(EC2_ACTIONS, sid="Ec2")
    parts = split_document(doc, where="w")[0]
    assert len(parts) >= -(-iam_size(doc) // MANAGED_POLICY_MAX_CHARACTERS) > 1
    assert all(iam_size(part) <= MANAGED_POLICY_MAX_CHARACTERS for part in parts)
    assert [a for part in parts for s in part.statements for a in s.actions] == EC2_ACTIONS
    assert [part.statements[0].sid for part in parts] == ["Ec2", *(f"Ec2Part{n}" for n in range(2, len(parts) + 1))]
    assert split_document(doc, where="w")[0] == parts  # deterministic


def test_small_statements_are_packed_together_in_order() -> None:
    statements = tuple(
        Statement(effect="Allow", actions=tuple(EC2_ACTIONS[i : i + 50]), resources="*", sid=f"S{i}")
        for i in range(0, 500, 50)
    )
    parts = split_document(PolicyDocument(statements), where="w")[0]
    assert len(parts) == lower_bound(PolicyDocument(statements)) == 3
    sids = [s.sid for part in parts for s in part.statements]
    assert [sid for sid in sids if sid and "Part" not in sid] == [s.sid for s in statements]


def test_a_split_policy_gets_stable_names_and_one_attachment_each(tmp_path: Path) -> None:
    actions = ", ".join(json.dumps(a) for a in EC2_ACTIONS)
    blueprint = blueprint_of(f"[policy]\nactions = [{actions}]\n", tmp_path)
    names = [p.name for p in blueprint.stacks[0].identity.policies]
    base = "production-streammanager-programmatic-access"
    assert names == [base, *(f"{base}-{n}" for n in range(2, len(names) + 1))]
    assert len(names) > 2


def test_rejects_a_policy_needing_more_managed_policies_than_allowed(tmp_path: Path) -> None:
    actions = ", ".join(json.dumps(a) for a in EC2_ACTIONS)
    with pytest.raises(
        ConfigError, match=r"needs \d+ managed policies of at most 6144 characters; policy.max_policies allows 2"
    ):
        blueprint_of(f"[policy]\nactions = [{actions}]\nmax_policies = 2\n", tmp_path)


def test_rejects_a_split_policy_whose_numbered_name_is_too_long(tmp_path: Path) -> None:
    actions = ", ".join(json.dumps(a) for a in EC2_ACTIONS)
    with pytest.raises(ConfigError, match="is over IAM's 128 characters once the part number is added"):
        blueprint_of(f'[naming]\npolicy = "{"p" * 127}"\n[policy]\nactions = [{actions}]\n', tmp_path)


# AWS's managed policies (tests/fixtures/aws-managed-policies) and the fewest parts each fits in; the comments
# say what the split made of them before it packed statements into earlier parts' room and counted Sids.
AWS_SPLITS = [
    ("AWSSupportServiceRolePolicy", 23),  # 24, one of 6,149 characters
    ("AWSConfigServiceRolePolicy", 12),  # 13
    ("AWSResourceExplorerServiceRolePolicy", 5),  # 6, one of 6,147 characters
    ("AIOpsAssistantPolicy", 4),  # one of 6,149 characters
    ("AmazonDataZoneEnvironmentRolePermissionsBoundary", 2),  # 3
    ("SageMakerStudioProjectProvisioningRolePolicy", 9),  # 10
    ("AmazonSageMakerServiceCatalogProductsCodeBuildServiceRolePolicy", 3),
    ("AmazonSageMakerServiceCatalogProductsLambdaServiceRolePolicy", 3),  # 4
    ("AmazonSageMakerFullAccess", 3),
]


@pytest.mark.parametrize(("name", "fewest"), AWS_SPLITS)
def test_an_aws_managed_policy_splits_into_the_fewest_parts_within_the_limit(name: str, fewest: int) -> None:
    doc = aws_policy(name)
    parts, problems = split_document(doc, where=name)
    assert problems == []
    assert [size for part in parts if (size := iam_size(part)) > MANAGED_POLICY_MAX_CHARACTERS] == []
    assert len(parts) == fewest == lower_bound(doc)
    assert split_document(doc, where=name)[0] == parts  # deterministic


@pytest.mark.parametrize(("name", "_fewest"), AWS_SPLITS)
def test_an_aws_managed_policys_parts_together_hold_each_statement_exactly(name: str, _fewest: int) -> None:
    doc = aws_policy(name)
    parts = split_document(doc, where=name)[0]
    assert sum(len(part.statements) for part in parts) == sum(len(pieces_of(parts, s)) for s in doc.statements)
    for statement in doc.statements:
        pieces = pieces_of(parts, statement)
        if len(pieces) == 1:
            assert pieces == [statement]
            continue
        assert not statement.negated_actions, f"{statement.sid}: a NotAction statement was cut"
        cut = "actions" if pieces[0].resources == statement.resources else "resources"
        assert [replace(piece, sid=statement.sid, **{cut: getattr(statement, cut)}) for piece in pieces] == [
            statement
        ] * len(pieces), "a piece changed more than the list it was cut along"
        assert [unit for piece in pieces for unit in getattr(piece, cut)] == list(getattr(statement, cut))


@pytest.mark.parametrize(
    ("name", "index", "sid", "count"),
    [
        ("SageMakerStudioProjectUserRolePermissionsBoundary", 85, "NotDeniedOperations", 685),
        ("AmazonDataZoneSageMakerEnvironmentRolePermissionsBoundary", 50, "DenyNotAction", 256),
    ],
)
def test_rejects_an_aws_managed_policy_whose_deny_notaction_is_over_the_limit(
    name: str, index: int, sid: str, count: int
) -> None:
    doc = aws_policy(name)
    size = normalised_size(doc.statements[index].to_json_value())
    assert split_document(doc, where=f"{name}.json") == (
        [],
        [
            Problem(
                f"{name}.json: Statement[{index}]",
                f"Sid {sid!r}",
                f"is {size} characters, over IAM's 6144 for a whole policy, and is a Deny with NotAction, which is "
                "never cut: each piece would deny the actions the other pieces list, so together they would deny "
                f"every action instead of all but these {count}",
                "shorten its NotAction list: a wildcard such as 'ec2:Describe*' names many actions in a few characters",
            )
        ],
    )


@pytest.mark.parametrize(
    ("effect", "count", "verb"),
    [("Allow", 400, "allow"), ("Deny", 256, "deny")],
)
def test_rejects_a_notaction_statement_over_the_limit(effect: str, count: int, verb: str) -> None:
    statement = Statement(effect=effect, actions=tuple(EC2_ACTIONS[:count]), resources="*", negated_actions=True)
    parts, (problem,) = split_document(PolicyDocument((statement,)), where="iam.toml: policy")
    assert parts == []
    assert problem.render() == (
        f"iam.toml: policy: Statement[0]: is {normalised_size(statement.to_json_value())} characters, over IAM's "
        f"6144 for a whole policy, and is a{'n' if effect == 'Allow' else ''} {effect} with NotAction, which is never cut: "
        f"each piece would {verb} the actions the other pieces list, so together they would {verb} every action "
        f"instead of all but these {count}\n"
        "    fix: shorten its NotAction list: a wildcard such as 'ec2:Describe*' names many actions in a few characters"
    )


PREFIXES = {"StringEquals": {"s3:prefix": [f"home/user-{i:03}/" for i in range(110)]}}


@pytest.mark.parametrize("effect", ["Allow", "Deny"])
@pytest.mark.parametrize(
    ("guarded", "before", "after"),
    [
        pytest.param(
            EC2_ACTIONS[:150],
            Statement(effect="Allow", actions=tuple(EC2_ACTIONS[150:250]), resources="*", sid="Before"),
            Statement(effect="Allow", actions=tuple(EC2_ACTIONS[250:]), resources="*", sid="After"),
            id="between statements that can be cut",
        ),
        pytest.param(
            EC2_ACTIONS[:130],
            Statement(effect="Allow", actions=tuple(EC2_ACTIONS[300:430]), resources="*", sid="Before"),
            Statement(effect="Allow", actions=("s3:GetObject",), resources="*", sid="After", condition=PREFIXES),
            id="before a statement that cannot",
        ),
    ],
)
def test_a_notaction_statement_that_fits_a_part_is_never_cut(
    effect: str, guarded: list[str], before: Statement, after: Statement
) -> None:
    """Even where cutting it would be the way to fill a part: the statements around it are cut instead."""
    guard = Statement(effect=effect, actions=tuple(guarded), resources="*", sid="Guard", negated_actions=True)
    doc = PolicyDocument((before, guard, after))
    parts, problems = split_document(doc, where="w")
    assert problems == []
    assert pieces_of(parts, guard) == [guard]
    assert [size for part in parts if (size := iam_size(part)) > MANAGED_POLICY_MAX_CHARACTERS] == []
    assert len(parts) == lower_bound(doc)


def test_a_notresource_statement_is_cut_by_its_actions_only() -> None:
    statement = Statement(
        effect="Allow",
        actions=tuple(EC2_ACTIONS),
        resources=tuple(f"arn:aws:ec2:*:*:instance/i-{n:017x}" for n in range(20)),
        sid="AllButThese",
        negated_resources=True,
    )
    parts = split_document(PolicyDocument((statement,)), where="w")[0]
    pieces = pieces_of(parts, statement)
    assert len(pieces) == len(parts) > 1
    assert all(piece.resources == statement.resources and piece.negated_resources for piece in pieces)
    assert [a for piece in pieces for a in piece.actions] == EC2_ACTIONS


@pytest.mark.parametrize("policy_id", [None, "AnIdEveryPartRepeats"])
@pytest.mark.parametrize("limit", [*range(2000, 2150, 2), *range(900, 910)])  # 900: over 20 parts
def test_every_part_is_measured_as_sent_with_its_part_sid(limit: int, policy_id: str | None) -> None:
    """A part measured before its Sid got ``Part2`` (or without the Id) could come out over the limit."""
    doc = replace(document(EC2_ACTIONS, sid="AVeryLongStatementIdentifierToMakeTheSuffixMatter"), id=policy_id)
    parts, problems = split_document(doc, where="w", limit=limit)
    assert problems == []
    assert [size for part in parts if (size := iam_size(part)) > limit] == []
    assert {part.id for part in parts} == {policy_id}
    assert [a for part in parts for s in part.statements for a in s.actions] == EC2_ACTIONS


def test_a_statement_whose_actions_are_few_and_resources_many_is_cut_by_resources() -> None:
    statement = Statement(
        effect="Allow",
        actions=("s3:GetObject", "s3:PutObject"),
        resources=tuple(f"arn:aws:s3:::bucket-{i}/*" for i in range(400)),
        sid="Buckets",
    )
    parts, problems = split_document(PolicyDocument((statement,)), where="w")
    assert problems == []
    pieces = pieces_of(parts, statement)
    assert len(pieces) == len(parts) == lower_bound(PolicyDocument((statement,)))
    assert all(piece.actions == statement.actions for piece in pieces)
    assert [r for piece in pieces for r in piece.resources] == list(statement.resources)


BIG_CONDITION = {"StringEquals": {"aws:PrincipalTag/team": [f"team-{i}" for i in range(700)]}}


@pytest.mark.parametrize(
    ("statement", "why"),
    [
        (
            Statement(
                effect="Allow",
                actions=("s3:GetObject",),
                resources=tuple(f"arn:aws:s3:::bucket-{i}/*" for i in range(400)),
                negated_resources=True,
            ),
            "it names the one action 's3:GetObject'; a NotResource list is never cut (each piece would match the "
            "resources the others list)",
        ),
        (
            Statement(effect="Allow", actions=("s3:GetObject",), resources="*", condition=BIG_CONDITION),
            "it names the one action 's3:GetObject'; it names the one resource '*'",
        ),
        (
            Statement(
                effect="Deny",
                actions=("s3:GetObject", "s3:PutObject"),
                resources=("arn:aws:s3:::a/*", "arn:aws:s3:::b/*"),
                condition=BIG_CONDITION,
            ),
            "even one of its actions with all its resources and its Condition is over the limit; even one of its "
            "resources with all its actions and its Condition is over the limit",
        ),
    ],
)
def test_rejects_a_statement_that_no_cut_fits_with_the_reason(statement: Statement, why: str) -> None:
    doc = PolicyDocument((document(["s3:ListBucket"]).statements[0], statement))
    parts, (problem,) = split_document(doc, where="iam.toml: policy")
    assert parts == []
    assert problem.render() == (
        f"iam.toml: policy: Statement[1]: is {normalised_size(statement.to_json_value())} characters, over IAM's "
        f"6144 for a whole policy, and cannot be cut: {why}\n"
        "    fix: shorten it, or write it as several statements, each with some of its actions and some of its "
        "resources"
    )


def test_rejects_a_cut_whose_part_sid_another_statement_has() -> None:
    doc = PolicyDocument(
        (
            Statement(effect="Allow", actions=tuple(EC2_ACTIONS), resources="*", sid="Ec2"),
            Statement(effect="Allow", actions=("s3:GetObject",), resources="*", sid="Ec2Part2"),
        )
    )
    parts, (problem,) = split_document(doc, where="iam.toml: policy")
    assert parts == []
    assert problem.render() == (
        "iam.toml: policy: Statement[0]: Sid 'Ec2' is cut into pieces, the piece 2 getting the Sid 'Ec2Part2', "
        "which Statement[1] has already; Sids must be unique\n    fix: rename one of them"
    )


def placement(parts: list[PolicyDocument]) -> dict[str | None, tuple[int, Statement]]:
    """Each piece by Sid: the part it is in, and the piece."""
    return {statement.sid: (number, statement) for number, part in enumerate(parts) for statement in part.statements}


def test_a_statement_appended_moves_no_other_statement() -> None:
    doc = aws_policy("SageMakerStudioProjectProvisioningRolePolicy")
    added = Statement(effect="Allow", actions=("s3:GetObject",), resources="arn:aws:s3:::new/*", sid="New")
    before = split_document(doc, where="w")[0]
    after = split_document(PolicyDocument((*doc.statements, added)), where="w")[0]
    assert len(after) == len(before)
    assert [tuple(s for s in part.statements if s != added) for part in after] == [part.statements for part in before]


@pytest.mark.parametrize(
    ("name", "index"),
    [("SageMakerStudioProjectProvisioningRolePolicy", 100), ("AWSConfigServiceRolePolicy", 1)],
)
@pytest.mark.parametrize("change", ["grows", "shrinks"])
def test_an_edited_statement_moves_none_before_it(name: str, index: int, change: str) -> None:
    doc = aws_policy(name)
    edited = doc.statements[index]
    actions = (*edited.actions, "s3:GetObject") if change == "grows" else edited.actions[1:]
    statements = (*doc.statements[:index], replace(edited, actions=actions), *doc.statements[index + 1 :])
    before = placement(split_document(doc, where="w")[0])
    after = placement(split_document(PolicyDocument(statements), where="w")[0])
    earlier = re.compile("|".join(re.escape(s.sid or "") + r"(Part\d+)?" for s in doc.statements[:index]))
    assert {sid: part for sid, part in after.items() if sid and earlier.fullmatch(sid)} == {
        sid: part for sid, part in before.items() if sid and earlier.fullmatch(sid)
    }


def decisions(policies: list[PolicyDocument], requests: list[Request]) -> list[str]:
    """What IAM decides for each request under ``policies`` attached together, by the independent evaluator."""
    return list(decide({f"policy-{n}": doc.to_json_value() for n, doc in enumerate(policies, 1)}, requests))


def reaches(statement: Statement, request: Request) -> bool:
    """Whether ``statement`` names the request's action and resource (its Condition aside)."""
    resources = (statement.resources,) if isinstance(statement.resources, str) else statement.resources
    action = any(fnmatchcase(request.action, pattern) for pattern in statement.actions)
    resource = any(fnmatchcase(request.resource, pattern) for pattern in resources)
    return action != statement.negated_actions and resource != statement.negated_resources


# EC2 actions on an instance, from the start, the middle and the end of the catalogue's list (so in different
# pieces of a cut statement), and actions that work only on "*".
INSTANCE_ACTIONS = ("ec2:AttachVolume", "ec2:GetConsoleOutput", "ec2:ModifyInstanceAttribute", "ec2:TerminateInstances")
UNSCOPED_ACTIONS = ("ec2:DescribeInstances", "s3:ListAllMyBuckets")


def ec2_requests(instances: list[str], regions: tuple[str, ...] = ("eu-west-1", "us-east-1")) -> list[Request]:
    """Each instance action on each instance and each unscoped action on "*", from each region."""
    targets = [(action, instance) for action in INSTANCE_ACTIONS for instance in instances]
    targets += [(action, "*") for action in UNSCOPED_ACTIONS]
    return [
        Request(action, resource, {"aws:RequestedRegion": region}) for action, resource in targets for region in regions
    ]


INSTANCES = [f"arn:aws:ec2:eu-west-1:{ACCOUNT_ID}:instance/i-0{name}" for name in ("protected", "other")]
BUCKETS = [f"arn:aws:s3:::bucket-{i}/key" for i in (0, 199, 399, 400)]


@pytest.mark.parametrize(
    ("statements", "requests"),
    [
        pytest.param(
            (
                Statement(
                    effect="Allow",
                    actions=tuple(EC2_ACTIONS),
                    resources=(INSTANCES[0],),
                    negated_resources=True,
                    condition={"StringEquals": {"aws:RequestedRegion": "eu-west-1"}},
                    sid="AllButProtected",
                ),
            ),
            ec2_requests(INSTANCES),
            id="Allow Action NotResource Condition, cut by actions",
        ),
        pytest.param(
            (
                Statement(effect="Allow", actions=("*",), resources="*", sid="Everything"),
                Statement(
                    effect="Deny",
                    actions=tuple(EC2_ACTIONS),
                    resources="*",
                    condition={"StringNotEquals": {"aws:RequestedRegion": "eu-west-1"}},
                    sid="Ec2OnlyInIreland",
                ),
            ),
            ec2_requests(INSTANCES),
            id="Deny Action Condition, cut by actions",
        ),
        pytest.param(
            (
                Statement(
                    effect="Allow",
                    actions=("s3:GetObject", "s3:PutObject"),
                    resources=tuple(f"arn:aws:s3:::bucket-{i}/*" for i in range(400)),
                    sid="Buckets",
                ),
            ),
            [
                Request(action, bucket)
                for action in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject")
                for bucket in BUCKETS
            ],
            id="Allow Action Resource list, cut by resources",
        ),
    ],
)
def test_the_parts_decide_every_request_as_the_whole_document_does(
    statements: tuple[Statement, ...], requests: list[Request]
) -> None:
    doc = PolicyDocument(statements)
    parts, problems = split_document(doc, where="w")
    assert problems == [] and len(parts) > 1
    expected = decisions([doc], requests)
    assert len(set(expected)) > 1, "the requests must tell allowed from denied"
    reached = {st.sid or "" for part in parts for st in part.statements for r in requests if reaches(st, r)}
    assert any("Part" in sid for sid in reached), "the requests must reach more than the first piece"
    assert decisions(parts, requests) == expected


EVERYTHING = Statement(effect="Allow", actions=("*",), resources="*")
NOT_BUCKETS = tuple(f"arn:aws:s3:::bucket-{i}/*" for i in range(400))


@pytest.mark.parametrize(
    ("statements", "cut_along", "request_", "whole", "cut"),
    [
        pytest.param(
            (Statement(effect="Allow", actions=tuple(EC2_ACTIONS[:400]), resources="*", negated_actions=True),),
            "actions",
            Request("ec2:AttachVolume", INSTANCES[1]),
            "ImplicitlyDenied",
            "Allowed",
            id="Allow NotAction",
        ),
        pytest.param(
            (
                EVERYTHING,
                Statement(effect="Deny", actions=tuple(EC2_ACTIONS[:400]), resources="*", negated_actions=True),
            ),
            "actions",
            Request("ec2:AttachVolume", INSTANCES[1]),
            "Allowed",
            "ExplicitlyDenied",
            id="Deny NotAction",
        ),
        pytest.param(
            (Statement(effect="Allow", actions=("s3:GetObject",), resources=NOT_BUCKETS, negated_resources=True),),
            "resources",
            Request("s3:GetObject", "arn:aws:s3:::bucket-0/key"),
            "ImplicitlyDenied",
            "Allowed",
            id="Allow NotResource",
        ),
        pytest.param(
            (
                EVERYTHING,
                Statement(effect="Deny", actions=("s3:GetObject",), resources=NOT_BUCKETS, negated_resources=True),
            ),
            "resources",
            Request("s3:GetObject", "arn:aws:s3:::bucket-0/key"),
            "Allowed",
            "ExplicitlyDenied",
            id="Deny NotResource",
        ),
    ],
)
def test_cutting_a_negated_list_would_change_what_it_decides(
    statements: tuple[Statement, ...], cut_along: str, request_: Request, whole: str, cut: str
) -> None:
    """Why NotAction and NotResource lists are never cut: each piece allows (or denies) what the others list."""
    *others, negated = statements
    half = len(getattr(negated, cut_along)) // 2
    naive = [
        PolicyDocument((*others, replace(negated, **{cut_along: getattr(negated, cut_along)[:half]}))),
        PolicyDocument((replace(negated, **{cut_along: getattr(negated, cut_along)[half:]}),)),
    ]
    assert decisions([PolicyDocument(statements)], [request_]) == [whole]
    assert decisions(naive, [request_]) == [cut]
    assert split_document(PolicyDocument(statements), where="w")[0] == []


def test_rejects_a_policy_file_whose_notaction_statement_cannot_fit(tmp_path: Path) -> None:
    name = "SageMakerStudioProjectUserRolePermissionsBoundary"
    (tmp_path / "boundary.json").write_bytes((AWS_POLICIES / f"{name}.json").read_bytes())
    with pytest.raises(ConfigError) as raised:
        blueprint_of('[policy]\nfile = "boundary.json"\nallow_wildcards = true\nmax_policies = 20\n', tmp_path)
    assert [problem.where for problem in raised.value.problems] == ["iam.toml: policy: Statement[85]"]
    assert "is a Deny with NotAction, which is never cut" in raised.value.problems[0].why


def test_a_statement_that_fits_a_part_is_cut_only_to_save_a_part() -> None:
    first = Statement(effect="Allow", actions=tuple(EC2_ACTIONS[:130]), resources="*", sid="First")
    second = Statement(effect="Allow", actions=tuple(EC2_ACTIONS[130:230]), resources="*", sid="Second")
    # Together over the limit, each within it: two parts, whether or not the second is cut to fill the first.
    assert iam_size(PolicyDocument((first,))) + iam_size(PolicyDocument((second,))) > MANAGED_POLICY_MAX_CHARACTERS
    assert iam_size(PolicyDocument((second,))) <= MANAGED_POLICY_MAX_CHARACTERS
    assert split_document(PolicyDocument((first, second)), where="w")[0] == [
        PolicyDocument((first,)),
        PolicyDocument((second,)),
    ]
