"""moto's server, with two of its access checks made to behave as AWS's do, a retried request answered as its
first attempt was, and IAM's last-accessed reports (``moto_last_accessed.py``; docs/local-emulator.md).

Bucket-policy statements that carry a ``Condition`` are left out. moto checks bucket policies without any
request context and takes every condition as met, so the state bucket's "deny unless TLS" statement
(``aws:SecureTransport`` false) would deny every object request, the state's reads and writes included.
On AWS the backend always speaks HTTPS, which the emulator's plain HTTP stands in for, and that statement
never applies: leaving conditional statements out is what AWS does with the policies this project writes.
Unconditional statements are still enforced.

An inactive access key is refused. moto finds the key a request is signed with but ignores its status, so
a key deactivated by a rotation's second step would go on working; AWS refuses it
(``InvalidClientTokenId``), and the rotation tests must see that. Nor is such a refused call recorded as the
key's last use (moto records every request's key before it checks it): AWS's ``GetAccessKeyLastUsed`` shows
calls it authenticated, and ``keys status`` and ``keys rotate`` read it as the evidence of who still uses a key.

A retried request gets the answer its first attempt got. The AWS SDKs retry a call whose answer they did not
receive (a connection reset, an EOF) whatever the operation, with the same ``amz-sdk-invocation-id`` and an
``amz-sdk-request`` header counting the attempt. On a loaded machine the emulator's development web server has
been seen to lose such answers after it had carried out the call: Terraform's retried ``CreatePolicy`` then
failed with ``EntityAlreadyExists``, and a retried state-lock write failed on the client's own lock; a user with
a second access key and a ``PutParameter`` answered 400, seen on loaded runs before, fit the same pattern. AWS does not lose answers at that rate, so the retry is answered from the first attempt: same
invocation id, same request (method, path, query, target and body), a successful first answer. Anything else
(another invocation, a changed request, a first answer that failed and is being retried for it) is carried
out as usual, so a second writer is still refused.

Run as a script (``python -I moto_server.py -H ... -p ...``) so that it needs nothing but moto.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable
import hashlib
import io
import json
import sys
import threading
from typing import Any


def unconditional_statements(policy: str | bytes) -> str:
    """The bucket policy ``policy`` without its statements that have a ``Condition``."""
    document = json.loads(policy)
    statements = document.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    return json.dumps({**document, "Statement": [s for s in statements if "Condition" not in s]})


def patch_bucket_policy_checks() -> None:
    """Make moto's S3 check bucket policies without their conditional statements."""
    from moto.iam.access_control import IAMPolicy, PermissionResult
    from moto.s3.models import FakeBucket

    def get_permission(self: Any, action: str, resource: str) -> Any:
        if self.policy is None:
            return PermissionResult.NEUTRAL
        return IAMPolicy(unconditional_statements(self.policy)).is_action_permitted(action, resource)

    FakeBucket.get_permission = get_permission  # type: ignore[method-assign]


def patch_inactive_key_checks() -> None:
    """Make moto refuse a request signed with an inactive access key, as AWS does.

    The key is refused the way moto refuses an unknown one: ``InvalidClientTokenId`` (S3:
    ``InvalidAccessKeyId``), which is what AWS answers for a deactivated key. Nor is the refused call recorded
    as the key's last use, which moto would record for every request before checking it.
    """
    from moto.iam.access_control import CreateAccessKeyFailure, IAMUserAccessKey

    find_key = IAMUserAccessKey.__init__

    def refuse_inactive(self: Any, *arguments: Any, **keywords: Any) -> None:
        find_key(self, *arguments, **keywords)
        key = self.backend.get_user(self._owner_user_name).get_access_key_by_id(self._access_key_id)
        if key.status != "Active":
            raise CreateAccessKeyFailure(reason="InvalidId")

    IAMUserAccessKey.__init__ = refuse_inactive  # type: ignore[method-assign]

    from moto.iam import models
    from moto.utilities.utils import get_partition

    record_use = models.mark_account_as_visited

    def record_active_use(account_id: str, access_key: str, service: str, region: str) -> None:
        backend = models.iam_backends[account_id][get_partition(region)]
        key = backend.access_keys.get(access_key)
        if key is None or key.status == "Active":
            record_use(account_id, access_key, service, region)

    # moto's request handling imports it from the module at each request, so replacing it there is enough.
    models.mark_account_as_visited = record_active_use


# The answers kept for retries: recent ones, small ones (an SDK retries within seconds; IAM, STS, SSM and the
# state's objects answer in kilobytes).
ANSWERS_KEPT = 4096
ANSWER_KEPT_MAX_BYTES = 1 << 20
REQUEST_READ_MAX_BYTES = 16 << 20
RESET_PATH = "/moto-api/reset"  # empties the emulator, and so the answers kept too

Answer = tuple[str, list[tuple[str, str]], bytes]


def attempt_of(environ: dict[str, Any]) -> int:
    """The attempt an SDK request says it is (``amz-sdk-request: attempt=2; max=25``), 1 when it does not say."""
    for field in environ.get("HTTP_AMZ_SDK_REQUEST", "").split(";"):
        name, _, value = field.strip().partition("=")
        if name == "attempt" and value.isdigit():
            return int(value)
    return 1


def request_fingerprint(environ: dict[str, Any], body: bytes) -> str:
    """What makes two attempts the same request: method, path, query, target and body, not their signatures."""
    digest = hashlib.sha256()
    for part in ("REQUEST_METHOD", "PATH_INFO", "QUERY_STRING", "HTTP_X_AMZ_TARGET"):
        digest.update(environ.get(part, "").encode("utf-8", "surrogateescape") + b"\0")
    digest.update(body)
    return digest.hexdigest()


def _readable_body_length(environ: dict[str, Any]) -> int | None:
    """The request body's length when it can be read whole and bounded, else None."""
    if environ.get("HTTP_TRANSFER_ENCODING"):
        return None
    length = environ.get("CONTENT_LENGTH") or "0"
    if not length.isdigit() or int(length) > REQUEST_READ_MAX_BYTES:
        return None
    return int(length)


class RetryAnswers:
    """WSGI middleware: a retry of a request whose first attempt succeeded gets that attempt's answer (module
    docstring)."""

    def __init__(self, app: Callable[..., Iterable[bytes]], kept: int = ANSWERS_KEPT) -> None:
        self._app = app
        self._kept = kept
        self._answers: OrderedDict[str, tuple[str, Answer]] = OrderedDict()
        self._lock = threading.Lock()
        self.replayed = 0

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == RESET_PATH:
            with self._lock:
                self._answers.clear()
        invocation = environ.get("HTTP_AMZ_SDK_INVOCATION_ID", "")
        length = _readable_body_length(environ)
        if not invocation or length is None:
            return self._app(environ, start_response)
        body = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(body)
        fingerprint = request_fingerprint(environ, body)
        attempt = attempt_of(environ)
        first = self._first_answer(invocation, fingerprint) if attempt > 1 else None
        if first is not None:
            status, headers, content = first
            print(f"answered attempt {attempt} of {invocation} with its first answer", flush=True)
            start_response(status, headers)
            return [content]
        answered: list[tuple[str, list[tuple[str, str]]]] = []

        def keep_status(status: str, headers: list[tuple[str, str]], *exc_info: Any) -> Any:
            answered.append((status, list(headers)))
            return start_response(status, headers, *exc_info)

        chunks = self._app(environ, keep_status)
        try:
            content = b"".join(chunks)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        if answered and answered[-1][0][:1] in ("2", "3") and len(content) <= ANSWER_KEPT_MAX_BYTES:
            self._keep(invocation, fingerprint, (*answered[-1], content))
        return [content]

    def _first_answer(self, invocation: str, fingerprint: str) -> Answer | None:
        with self._lock:
            kept = self._answers.get(invocation)
            if kept is None or kept[0] != fingerprint:
                return None
            self.replayed += 1
            return kept[1]

    def _keep(self, invocation: str, fingerprint: str, answer: Answer) -> None:
        with self._lock:
            self._answers[invocation] = (fingerprint, answer)
            while len(self._answers) > self._kept:
                self._answers.popitem(last=False)


def patch_retried_requests(outer: Callable[[Any], Any] = lambda app: app) -> None:
    """Make moto's server put :class:`RetryAnswers` in front of the application it dispatches every request to, and
    ``outer`` in front of that."""
    from moto import server
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    def answering_retries(*arguments: Any, **keywords: Any) -> Any:
        return outer(RetryAnswers(DomainDispatcherApplication(*arguments, **keywords)))

    server.DomainDispatcherApplication = answering_retries  # type: ignore[assignment,attr-defined]


def sibling_module(name: str) -> Any:
    """The module ``name`` next to this file: run as a script in isolated mode, its folder is not on the path."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # before it runs: its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


if __name__ == "__main__":
    last_accessed = sibling_module("moto_last_accessed")
    patch_bucket_policy_checks()
    patch_inactive_key_checks()
    last_accessed.patch_last_accessed()
    patch_retried_requests(last_accessed.LastAccessedControl)
    from moto.server import main

    main(sys.argv[1:])
