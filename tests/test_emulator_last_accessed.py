"""IAM's last-accessed reports on the emulator (``moto_last_accessed.py``, docs/local-emulator.md): made from the
calls it authenticated (allowed or refused), in IAM's wire format (boto3 parses them with botocore's model of IAM, and each answer is checked
against that model's output shape here), with months of use played by moving the emulator's clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
import json
import time
from typing import Any
import uuid

import boto3
from botocore.config import Config
from botocore.validate import ParamValidator
import pytest

from programmatic_iam_dev.emulator import EMULATED_REGION, FAKE_ACCESS_KEY_ID, FAKE_SECRET_ACCESS_KEY, AwsEmulator
from tests.support.access_keys import error_code

USER = "production-streammanager"
POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": ["ec2:DescribeInstances", "ec2:DescribeRegions", "ec2:RunInstances"],
            "Resource": "*",
        },
        {"Effect": "Allow", "Action": ["ec2:Foo", "ssm:GetParameter", "s3:GetObject"], "Resource": "*"},
        {"Effect": "Deny", "Action": "lambda:InvokeFunction", "Resource": "*"},
    ],
}


def workload_key(aws: AwsEmulator) -> dict[str, str]:
    """The user with the policy attached, and its access key's credentials."""
    iam = aws.client("iam")
    iam.create_user(UserName=USER)
    arn = iam.create_policy(PolicyName="streammanager", PolicyDocument=json.dumps(POLICY))["Policy"]["Arn"]
    iam.attach_user_policy(UserName=USER, PolicyArn=arn)
    key = iam.create_access_key(UserName=USER)["AccessKey"]
    return {"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]}


def report(aws: AwsEmulator, arn: str, granularity: str = "ACTION_LEVEL", **paging: Any) -> dict[str, Any]:
    """The finished (or failed) job's answer, checked against IAM's model."""
    iam = aws.client("iam")
    job = iam.generate_service_last_accessed_details(Arn=arn, Granularity=granularity)["JobId"]
    for _ in range(50):
        answer = iam.get_service_last_accessed_details(JobId=job, **paging)
        if answer["JobStatus"] != "IN_PROGRESS":
            break
        time.sleep(0.1)
    conforms(iam, "GetServiceLastAccessedDetails", answer)
    return dict(answer)


def conforms(client: Any, operation: str, answer: dict[str, Any]) -> None:
    """``answer`` (without boto3's ResponseMetadata) has the members, required ones and types of IAM's model."""
    shape = client.meta.service_model.operation_model(operation).output_shape
    checked = ParamValidator().validate({k: v for k, v in answer.items() if k != "ResponseMetadata"}, shape)
    assert not checked.has_errors(), checked.generate_report()


def by_namespace(answer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {service["ServiceNamespace"]: service for service in answer["ServicesLastAccessed"]}


def test_the_report_has_each_allowed_service_and_tracked_action_with_its_last_authenticated_attempt(
    aws: AwsEmulator,
) -> None:
    credentials = workload_key(aws)
    user_arn = aws.client("iam").get_user(UserName=USER)["User"]["Arn"]
    half_a_year_ago = datetime.now(UTC) - timedelta(days=200)
    aws.last_accessed(clock=half_a_year_ago.isoformat())
    aws.client("ec2", **credentials).describe_regions()
    aws.last_accessed(clock=None)
    aws.enforce_iam(after_calls=0)
    ec2 = aws.client("ec2", region="eu-west-1", **credentials)
    ec2.describe_instances()
    # denied, but authenticated: IAM records the attempt (the service's last region), though the action is not
    # listed, as no policy allows it
    denied = aws.client("ec2", region="ap-south-1", **credentials)
    assert error_code(lambda: denied.terminate_instances(InstanceIds=["i-0123456789abcdef0"])) == "AccessDenied"
    # not authenticated (the key's id with a wrong secret): no attempt of the user's, nothing recorded
    forged = {**credentials, "aws_secret_access_key": "not-the-secret"}
    unsigned = aws.client("ec2", region="us-west-2", **forged)
    assert error_code(lambda: unsigned.describe_instances()) == "AuthFailure"  # EC2's word for it
    aws.enforce_iam(after_calls=None)

    answer = report(aws, user_arn)
    assert answer["JobStatus"] == "COMPLETED" and answer["JobType"] == "ACTION_LEVEL" and not answer["IsTruncated"]
    services = by_namespace(answer)
    # every service an Allow names; not lambda, which only a Deny names
    assert set(services) == {"ec2", "ssm", "s3"}
    ec2_service = services["ec2"]
    assert ec2_service["ServiceName"] == "Amazon Elastic Compute Cloud"
    assert ec2_service["LastAuthenticatedEntity"] == user_arn and ec2_service["LastAuthenticatedRegion"] == "ap-south-1"
    assert ec2_service["TotalAuthenticatedEntities"] == 1
    actions = {row["ActionName"]: row for row in ec2_service["TrackedActionsLastAccessed"]}
    # ec2:Foo is no EC2 action: not tracked, so not listed; TerminateInstances is not allowed
    assert set(actions) == {"DescribeInstances", "DescribeRegions", "RunInstances"}
    assert actions["DescribeInstances"]["LastAccessedRegion"] == "eu-west-1"
    assert abs(actions["DescribeInstances"]["LastAccessedTime"] - datetime.now(UTC)) < timedelta(minutes=5)
    assert abs(actions["DescribeRegions"]["LastAccessedTime"] - half_a_year_ago) < timedelta(seconds=5)
    assert actions["DescribeRegions"]["LastAccessedEntity"] == user_arn
    assert "LastAccessedTime" not in actions["RunInstances"]  # allowed, tracked, never used
    # services IAM tracks at service level only here: no action list, and unused
    for namespace in ("ssm", "s3"):
        assert "TrackedActionsLastAccessed" not in services[namespace]
        assert services[namespace]["TotalAuthenticatedEntities"] == 0 and "LastAuthenticated" not in services[namespace]


def test_a_service_level_report_lists_no_actions(aws: AwsEmulator) -> None:
    credentials = workload_key(aws)
    aws.client("ec2", **credentials).describe_instances()
    answer = report(aws, aws.client("iam").get_user(UserName=USER)["User"]["Arn"], "SERVICE_LEVEL")
    assert answer["JobType"] == "SERVICE_LEVEL"
    assert all("TrackedActionsLastAccessed" not in service for service in answer["ServicesLastAccessed"])
    assert by_namespace(answer)["ec2"]["TotalAuthenticatedEntities"] == 1


def test_every_page_is_read_with_its_marker(aws: AwsEmulator) -> None:
    workload_key(aws)
    arn = aws.client("iam").get_user(UserName=USER)["User"]["Arn"]
    whole = report(aws, arn)["ServicesLastAccessed"]
    iam = aws.client("iam")
    job = iam.generate_service_last_accessed_details(Arn=arn, Granularity="ACTION_LEVEL")["JobId"]
    pages, marker = [], None
    while True:
        answer = iam.get_service_last_accessed_details(JobId=job, MaxItems=1, **({"Marker": marker} if marker else {}))
        conforms(iam, "GetServiceLastAccessedDetails", answer)
        pages += answer["ServicesLastAccessed"]
        if not answer["IsTruncated"]:
            break
        marker = answer["Marker"]
    assert len(whole) == 3 and pages == whole


@pytest.mark.parametrize("outcome", ["FAILED", "IN_PROGRESS"])
def test_a_job_can_be_made_to_fail_or_never_finish(aws: AwsEmulator, outcome: str) -> None:
    workload_key(aws)
    aws.last_accessed(jobs=outcome)
    answer = report(aws, aws.client("iam").get_user(UserName=USER)["User"]["Arn"])
    assert answer["JobStatus"] == outcome and answer["ServicesLastAccessed"] == []
    assert ("Error" in answer) is (outcome == "FAILED")
    aws.reset()  # and a reset makes jobs finish again
    workload_key(aws)
    assert report(aws, aws.client("iam").get_user(UserName=USER)["User"]["Arn"])["JobStatus"] == "COMPLETED"


def test_a_users_age_can_be_set(aws: AwsEmulator) -> None:
    workload_key(aws)
    aws.last_accessed(created={"user": USER, "date": "2025-01-02T03:04:05+00:00"})
    created = aws.client("iam").get_user(UserName=USER)["User"]["CreateDate"]
    assert created == datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_a_reset_forgets_what_was_used(aws: AwsEmulator) -> None:
    credentials = workload_key(aws)
    aws.client("ec2", **credentials).describe_instances()
    aws.reset()
    workload_key(aws)
    assert (
        by_namespace(report(aws, aws.client("iam").get_user(UserName=USER)["User"]["Arn"]))["ec2"][
            "TotalAuthenticatedEntities"
        ]
        == 0
    )


def test_iams_errors_for_an_unknown_entity_a_bad_granularity_and_an_unknown_job(aws: AwsEmulator) -> None:
    iam = aws.client("iam")
    missing = "arn:aws:iam::123456789012:user/nobody"
    assert error_code(lambda: iam.generate_service_last_accessed_details(Arn=missing)) == "NoSuchEntity"
    workload_key(aws)
    arn = iam.get_user(UserName=USER)["User"]["Arn"]
    assert error_code(lambda: iam.generate_service_last_accessed_details(Arn=arn, Granularity="X")) == "InvalidInput"
    assert error_code(lambda: iam.get_service_last_accessed_details(JobId=str(uuid.uuid4()))) == "NoSuchEntity"


def test_a_wrong_setting_is_refused_with_its_reason(aws: AwsEmulator) -> None:
    import urllib.error

    for settings, reason in (
        ({"clock": "2026-01-01T00:00:00"}, "no time zone"),
        ({"jobs": "DONE"}, "jobs must be one of"),
        ({"speed": 2}, "unknown settings ['speed']"),
    ):
        with pytest.raises(urllib.error.HTTPError) as refused:
            aws.last_accessed(**settings)
        assert refused.value.code == 400 and reason in refused.value.read().decode()


def test_calls_past_the_rate_can_be_throttled_as_iam_throttles_them(aws: AwsEmulator) -> None:
    workload_key(aws)
    arn = aws.client("iam").get_user(UserName=USER)["User"]["Arn"]
    # one attempt per call: the SDK's own retries would hide the throttling
    iam = boto3.client(
        "iam",
        region_name=EMULATED_REGION,
        endpoint_url=aws.endpoint,
        aws_access_key_id=FAKE_ACCESS_KEY_ID,
        aws_secret_access_key=FAKE_SECRET_ACCESS_KEY,
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
    )
    aws.last_accessed(throttle={"GenerateServiceLastAccessedDetails": 1, "GetServiceLastAccessedDetails": 2})
    assert error_code(lambda: iam.generate_service_last_accessed_details(Arn=arn)) == "Throttling"
    job = iam.generate_service_last_accessed_details(Arn=arn)["JobId"]
    codes = [error_code(lambda: iam.get_service_last_accessed_details(JobId=job)) for _ in range(3)]
    assert codes == ["Throttling", "Throttling", None]
