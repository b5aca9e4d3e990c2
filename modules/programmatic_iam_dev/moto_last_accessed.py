"""IAM's last-accessed reports for moto's server, which has none (docs/local-emulator.md).

``GenerateServiceLastAccessedDetails`` and ``GetServiceLastAccessedDetails`` answer as IAM does, in IAM's wire
format (moto serializes them with botocore's model of IAM), from the requests the emulator actually received:
every authenticated call, whether moto's authorization let it through or refused it (IAM records attempts, not only
successes), is recorded against the entity that made it (the user of the access key, or the role of an assumed
role's session), with its service, action, region and time.

A report lists each service the entity's policies allow (its inline and attached policies, and its groups'), with
the last time the entity was authenticated to it. For the services IAM tracks at action level (EC2, IAM and Lambda
here: their botocore operations, which are their IAM actions), it lists each tracked action the policies allow,
with its last use if there was one; an action that is not listed is not tracked, as on AWS. Where the emulator
differs from IAM: S3 is reported at service level only (its operations are not its IAM actions), a policy that
allows ``*`` reports only the services used, and a job is finished as soon as it is made.

Tests control what IAM would have recorded over months (``POST /programmatic-iam/last-accessed``, a JSON object):
``{"clock": "2026-01-01T00:00:00Z"}`` dates the calls and jobs after it (``null``: the real time again),
``{"created": {"user": "u", "date": "..."}}`` (optionally ``"account"``) sets a user's creation date, and
``{"jobs": "IN_PROGRESS"}`` or ``{"jobs": "FAILED"}`` makes later jobs end so (``"COMPLETED"`` again by
default), and ``{"throttle": {"GetServiceLastAccessedDetails": 3}}`` answers the next 3 such calls ``Throttling``,
as IAM answers a caller past its rate. ``/moto-api/reset`` forgets the records, the jobs and the settings.

Needs nothing but moto and botocore: it is loaded into the emulator's own process (``moto_server.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from functools import cache
import json
import threading
from typing import Any
import uuid

CONTROL_PATH = "/programmatic-iam/last-accessed"
CONTROL_MAX_BYTES = 64 * 1024
DEFAULT_ACCOUNT = "123456789012"
# The services this emulator reports at action level, by IAM namespace: botocore's service of each.
ACTION_LEVEL_SERVICES = {"ec2": "ec2", "iam": "iam", "lambda": "lambda"}
# moto's name of a service where it is not the IAM namespace.
NAMESPACES = {"awslambda": "lambda"}
JOB_OUTCOMES = ("COMPLETED", "IN_PROGRESS", "FAILED")
PAGE_SIZE = 100
MAX_JOBS = 10_000
"""The report jobs kept: a fleet's report is one job per stack, and the bench's fleet has 600."""


@dataclass(frozen=True)
class Access:
    """The last authenticated call (allowed or refused) of one action by one entity."""

    time: datetime
    region: str


@dataclass
class Job:
    arn: str
    granularity: str
    created: datetime
    status: str
    services: list[dict[str, Any]] = field(default_factory=list)


class LastAccessed:
    """The calls the emulator has authenticated, by entity ARN, then (namespace, action); the jobs; the test settings."""

    def __init__(self, max_jobs: int = MAX_JOBS) -> None:
        self._lock = threading.Lock()
        self._accesses: dict[str, dict[tuple[str, str], Access]] = {}
        self.jobs: dict[str, Job] = {}
        self.max_jobs = max_jobs
        self.clock: datetime | None = None
        self.job_outcome = "COMPLETED"
        self.throttled: dict[str, int] = {}
        """How many more calls of each of the two actions answer ``Throttling``, as IAM does past its rate."""

    def now(self) -> datetime:
        return self.clock or datetime.now(UTC)

    def record(self, entity: str, namespace: str, action: str, region: str) -> None:
        with self._lock:
            self._accesses.setdefault(entity, {})[(namespace, action)] = Access(self.now(), region)

    def accesses(self, entity: str) -> dict[tuple[str, str], Access]:
        with self._lock:
            return dict(self._accesses.get(entity, {}))

    def add_job(self, job_id: str, job: Job) -> None:
        """Keep ``job``, forgetting the oldest beyond :attr:`max_jobs` (its id then answers ``NoSuchEntity``, as an
        expired job does in IAM): a long-running emulator's memory stays bounded."""
        with self._lock:
            self.jobs[job_id] = job
            while len(self.jobs) > self.max_jobs:
                del self.jobs[next(iter(self.jobs))]

    def take_throttle(self, operation: str) -> bool:
        """Whether this call of ``operation`` is to be throttled (one fewer after it)."""
        with self._lock:
            left = self.throttled.get(operation, 0)
            if left > 0:
                self.throttled[operation] = left - 1
            return left > 0

    def reset(self) -> None:
        with self._lock:
            self._accesses.clear()
            self.jobs.clear()
            self.clock = None
            self.job_outcome = "COMPLETED"
            self.throttled.clear()


RECORDS = LastAccessed()


# ---------------------------------------------------------------------------------------------------------------------
# The report: pure, given the entity's allowed action patterns and its accesses
# ---------------------------------------------------------------------------------------------------------------------


def allowed_patterns(documents: Iterable[str]) -> list[str]:
    """Every action pattern (``ec2:Describe*``) that an ``Allow`` statement of ``documents`` (JSON) names."""
    patterns: list[str] = []
    for document in documents:
        statements = json.loads(document).get("Statement", [])
        for statement in [statements] if isinstance(statements, dict) else statements:
            if statement.get("Effect") != "Allow":
                continue
            actions = statement.get("Action", [])
            patterns += [actions] if isinstance(actions, str) else list(actions)
    return patterns


def service_entries(
    patterns: Iterable[str],
    accesses: dict[tuple[str, str], Access],
    entity: str,
    tracked_actions: Callable[[str], list[str]],
    service_name: Callable[[str], str],
    *,
    action_level: bool,
) -> list[dict[str, Any]]:
    """The report's ``ServicesLastAccessed``: each service the patterns allow, with its last authentication and, at
    action level for a tracked service, each allowed tracked action with its last use."""
    by_namespace: dict[str, list[str]] = {}
    for pattern in patterns:
        namespace, _, action = pattern.partition(":")
        if pattern == "*":
            for used_namespace, _ in accesses:
                by_namespace.setdefault(used_namespace, []).append("*")
        elif action:
            by_namespace.setdefault(namespace.lower(), []).append(action)
    entries = []
    for namespace in sorted(by_namespace):
        calls = [access for (space, _), access in accesses.items() if space == namespace]
        entry: dict[str, Any] = {"ServiceName": service_name(namespace), "ServiceNamespace": namespace}
        if calls:
            last = max(calls, key=lambda access: access.time)
            entry.update(
                LastAuthenticated=last.time,
                LastAuthenticatedEntity=entity,
                LastAuthenticatedRegion=last.region,
                TotalAuthenticatedEntities=1,
            )
        else:
            entry["TotalAuthenticatedEntities"] = 0
        if action_level and namespace in ACTION_LEVEL_SERVICES:
            granted = by_namespace[namespace]
            tracked = []
            for name in tracked_actions(namespace):
                if not any(fnmatchcase(name.lower(), pattern.lower()) for pattern in granted):
                    continue
                row: dict[str, Any] = {"ActionName": name}
                access = accesses.get((namespace, name))
                if access is not None:
                    row.update(
                        LastAccessedEntity=entity, LastAccessedTime=access.time, LastAccessedRegion=access.region
                    )
                tracked.append(row)
            entry["TrackedActionsLastAccessed"] = tracked
        entries.append(entry)
    return entries


def page(job: Job, max_items: int, marker: str | None, now: datetime) -> dict[str, Any]:
    """``GetServiceLastAccessedDetails``'s answer for ``job``: one page of its services from ``marker``."""
    start = int(marker) if marker else 0
    services = job.services[start : start + max_items] if job.status == "COMPLETED" else []
    result: dict[str, Any] = {
        "JobStatus": job.status,
        "JobType": job.granularity,
        "JobCreationDate": job.created,
        # required by IAM's model whatever the status; an unfinished job gives its creation date
        "JobCompletionDate": job.created if job.status == "IN_PROGRESS" else now,
        "ServicesLastAccessed": services,
        "IsTruncated": job.status == "COMPLETED" and start + max_items < len(job.services),
    }
    if result["IsTruncated"]:
        result["Marker"] = str(start + max_items)
    if job.status == "FAILED":
        result["Error"] = {"Code": "ServiceFailure", "Message": "the job could not be completed (set by a test)"}
    return result


# ---------------------------------------------------------------------------------------------------------------------
# moto: recording, the two IAM actions, the test settings
# ---------------------------------------------------------------------------------------------------------------------


def _backend(account: str, region: str) -> Any:
    from moto.iam.models import iam_backends
    from moto.utilities.utils import get_partition

    return iam_backends[account][get_partition(region)]


def entity_of(account: str, access_key: str, region: str) -> str | None:
    """The ARN of the user whose key ``access_key`` is, or of the role whose session it is."""
    backend = _backend(account, region)
    key = backend.access_keys.get(access_key)
    if key is None:
        return None
    if getattr(key, "role_arn", None):
        return str(key.role_arn)
    return str(backend.get_user(key.user_name).arn)


def policy_documents(backend: Any, arn: str) -> list[str]:
    """The documents of every policy of the user or role ``arn``: inline, attached, and its groups'."""
    kind, _, name = arn.split(":", 5)[5].partition("/")
    name = name.rsplit("/", 1)[-1]
    holders = [backend.get_user(name)] if kind == "user" else [backend.get_role(name)]
    if kind == "user":
        holders += backend.get_groups_for_user(name)
    documents = []
    for holder in holders:
        documents += list(holder.policies.values())
        for policy in holder.managed_policies.values():
            documents += [version.document for version in policy.versions if version.is_default]
    return documents


@cache
def tracked_actions(namespace: str) -> list[str]:
    import botocore.session

    return sorted(botocore.session.get_session().get_service_model(ACTION_LEVEL_SERVICES[namespace]).operation_names)


@cache
def service_name(namespace: str) -> str:
    import botocore.session

    session = botocore.session.get_session()
    if namespace in session.get_available_services():
        return str(session.get_service_model(namespace).metadata.get("serviceFullName", namespace))
    return namespace


def generate_service_last_accessed_details(self: Any) -> Any:
    from moto.core.responses import ActionResult
    from moto.iam.exceptions import InvalidInput, NoSuchEntity

    _throttle("GenerateServiceLastAccessedDetails")
    arn = self._get_param("Arn") or ""
    granularity = self._get_param("Granularity") or "SERVICE_LEVEL"
    if granularity not in ("SERVICE_LEVEL", "ACTION_LEVEL"):
        raise InvalidInput(f"Granularity must be SERVICE_LEVEL or ACTION_LEVEL, not {granularity}")
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[2] != "iam" or not parts[5].startswith(("user/", "role/")):
        raise InvalidInput(f"{arn} is not the ARN of a user or a role")
    try:
        documents = policy_documents(self.backend, arn)
    except Exception as missing:  # moto's own not-found
        raise NoSuchEntity(f"The entity {arn} cannot be found.") from missing
    services = service_entries(
        allowed_patterns(documents),
        RECORDS.accesses(arn),
        arn,
        tracked_actions,
        service_name,
        action_level=granularity == "ACTION_LEVEL",
    )
    job_id = str(uuid.uuid4())
    RECORDS.add_job(job_id, Job(arn, granularity, RECORDS.now(), RECORDS.job_outcome, services))
    return ActionResult({"JobId": job_id})


def get_service_last_accessed_details(self: Any) -> Any:
    from moto.core.responses import ActionResult
    from moto.iam.exceptions import InvalidInput, NoSuchEntity

    _throttle("GetServiceLastAccessedDetails")
    job = RECORDS.jobs.get(self._get_param("JobId") or "")
    if job is None:
        raise NoSuchEntity("No such job.")
    max_items = int(self._get_param("MaxItems") or PAGE_SIZE)
    marker = self._get_param("Marker")
    if not 1 <= max_items <= 1000 or (marker is not None and not marker.isdigit()):
        raise InvalidInput("MaxItems must be 1 to 1000, and Marker one this job gave")
    return ActionResult(page(job, max_items, marker, RECORDS.now()))


THROTTLED_OPERATIONS = ("GenerateServiceLastAccessedDetails", "GetServiceLastAccessedDetails")


def _throttle(operation: str) -> None:
    from moto.iam.exceptions import IAMException

    if RECORDS.take_throttle(operation):
        raise IAMException("Throttling", "Rate exceeded")


def patch_last_accessed() -> None:
    """Record every authenticated call, allowed or refused, and give moto's IAM the two last-accessed actions."""
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.core.exceptions import AccessDeniedError
    from moto.iam.responses import IamResponse

    authorize = ActionAuthenticatorMixin._authenticate_and_authorize_normal_action

    def authorize_and_record(self: Any, resource: str = "*") -> None:
        # IAM records every authenticated attempt, a refused one included; a key it does not know, or a signature
        # that does not match, is no authenticated attempt and leaves nothing.
        try:
            authorize(self, resource)
        except AccessDeniedError:
            record(self)
            raise
        record(self)

    def record(self: Any) -> None:
        entity = entity_of(self.current_account, self.access_key, self.region)
        if entity is not None:
            namespace = NAMESPACES.get(self.service_name, self.service_name)
            RECORDS.record(entity, namespace, self._get_action(), self.region)

    ActionAuthenticatorMixin._authenticate_and_authorize_normal_action = authorize_and_record  # type: ignore[method-assign]
    IamResponse.generate_service_last_accessed_details = generate_service_last_accessed_details  # type: ignore[attr-defined]
    IamResponse.get_service_last_accessed_details = get_service_last_accessed_details  # type: ignore[attr-defined]


def apply_control(settings: dict[str, Any]) -> None:
    """The test settings of the module docstring; a ValueError names what is wrong."""
    unknown = set(settings) - {"clock", "created", "jobs", "throttle"}
    if unknown:
        raise ValueError(f"unknown settings {sorted(unknown)}: use clock, created, jobs or throttle")
    for operation, count in (settings.get("throttle") or {}).items():
        if operation not in THROTTLED_OPERATIONS or not isinstance(count, int) or count < 0:
            raise ValueError(f"throttle takes {' or '.join(THROTTLED_OPERATIONS)}, each with a count of calls")
        RECORDS.throttled[operation] = count
    if "clock" in settings:
        clock = settings["clock"]
        RECORDS.clock = None if clock is None else _moment(clock)
    if "jobs" in settings:
        if settings["jobs"] not in JOB_OUTCOMES:
            raise ValueError(f"jobs must be one of {', '.join(JOB_OUTCOMES)}")
        RECORDS.job_outcome = settings["jobs"]
    if "created" in settings:
        created = settings["created"]
        user = _backend(created.get("account", DEFAULT_ACCOUNT), "us-east-1").get_user(created["user"])
        user.create_date = _moment(created["date"])


def _moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"{text} has no time zone: end it with Z or +00:00")
    return moment.astimezone(UTC)


class LastAccessedControl:
    """WSGI middleware: the test settings at CONTROL_PATH; ``/moto-api/reset`` also forgets the records."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self._app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO")
        if path == "/moto-api/reset":
            RECORDS.reset()
        if path != CONTROL_PATH:
            return self._app(environ, start_response)
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            if environ.get("REQUEST_METHOD") != "POST" or not 0 < length <= CONTROL_MAX_BYTES:
                raise ValueError(f"POST a JSON object of at most {CONTROL_MAX_BYTES} bytes")
            settings = json.loads(environ["wsgi.input"].read(length))
            if not isinstance(settings, dict):
                raise ValueError("the settings must be a JSON object")
            apply_control(settings)
        except Exception as wrong:  # a test's mistake: say what it was
            start_response("400 Bad Request", [("Content-Type", "text/plain")])
            return [f"{type(wrong).__name__}: {wrong}\n".encode()]
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok\n"]
