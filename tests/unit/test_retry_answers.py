"""The emulator's answers to retries (``RetryAnswers`` in ``moto_server.py``), in front of a WSGI application that
counts what reaches it: which requests are answered from a first attempt, and how much is kept."""

from __future__ import annotations

import io
from typing import Any

import pytest

from programmatic_iam_dev.moto_server import ANSWER_KEPT_MAX_BYTES, REQUEST_READ_MAX_BYTES, RetryAnswers, attempt_of


class Counting:
    """A WSGI application that answers ``status`` with the number of requests it has been sent."""

    def __init__(self, status: str = "200 OK", padding: int = 0) -> None:
        self.status = status
        self.padding = padding
        self.calls = 0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        self.calls += 1
        environ["wsgi.input"].read()
        start_response(self.status, [("Content-Type", "text/plain")])
        return [str(self.calls).encode(), b" " * self.padding]


def send(
    answers: RetryAnswers, invocation: str, attempt: int, body: bytes = b"Action=CreateUser", **extra: str
) -> bytes:
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "HTTP_AMZ_SDK_INVOCATION_ID": invocation,
        "HTTP_AMZ_SDK_REQUEST": f"attempt={attempt}; max=25",
        **extra,
    }
    return b"".join(answers(environ, lambda status, headers, *exc_info: None))


@pytest.mark.parametrize(
    ("header", "attempt"),
    [("attempt=3; max=25", 3), ("ttl=20261207T071500Z; attempt=2; max=3", 2), ("max=25", 1), ("attempt=x", 1), ("", 1)],
)
def test_the_attempt_is_read_from_the_sdk_request_header(header: str, attempt: int) -> None:
    assert attempt_of({"HTTP_AMZ_SDK_REQUEST": header}) == attempt


def test_only_a_retry_of_the_same_request_is_answered_from_its_first_attempt() -> None:
    app = Counting()
    answers = RetryAnswers(app)
    assert send(answers, "a", 1) == b"1"
    assert send(answers, "a", 2) == b"1"
    assert send(answers, "a", 2, body=b"Action=CreateAccessKey") == b"2"
    assert send(answers, "a", 3, body=b"Action=CreateAccessKey") == b"2"  # the latest answer to that id
    assert send(answers, "b", 2) == b"3"  # no first attempt seen
    assert send(answers, "a", 1) == b"4"  # not said to be a retry
    assert send(answers, "", 2) == b"5"
    assert answers.replayed == 2


@pytest.mark.parametrize(
    "changed",
    [
        {"body": b"Action=CreateAccessKey"},
        {"HTTP_X_AMZ_TARGET": "AmazonSSM.PutParameter"},  # JSON APIs: the same body for another operation
        {"PATH_INFO": "/terraform-state/other.tfstate"},  # S3: the same body for another object
        {"QUERY_STRING": "versionId=2"},
        {"REQUEST_METHOD": "PUT"},
    ],
)
def test_a_retry_that_changed_the_request_is_carried_out(changed: dict[str, Any]) -> None:
    app = Counting()
    answers = RetryAnswers(app)
    send(answers, "a", 1)
    assert (send(answers, "a", 2, **changed), answers.replayed) == (b"2", 0)


def test_a_large_answer_is_not_kept() -> None:
    app = Counting(padding=ANSWER_KEPT_MAX_BYTES)
    answers = RetryAnswers(app)
    send(answers, "a", 1)
    send(answers, "a", 2)
    assert (app.calls, answers.replayed) == (2, 0)


def test_a_failed_first_answer_is_not_kept() -> None:
    app = Counting("500 Internal Server Error")
    answers = RetryAnswers(app)
    send(answers, "a", 1)
    send(answers, "a", 2)
    assert (app.calls, answers.replayed) == (2, 0)


def test_a_request_whose_body_cannot_be_read_whole_and_bounded_passes_through() -> None:
    app = Counting()
    answers = RetryAnswers(app)
    send(answers, "a", 1, HTTP_TRANSFER_ENCODING="chunked")
    send(answers, "a", 2, HTTP_TRANSFER_ENCODING="chunked")
    send(answers, "b", 1, CONTENT_LENGTH=str(REQUEST_READ_MAX_BYTES + 1))
    send(answers, "b", 2, CONTENT_LENGTH=str(REQUEST_READ_MAX_BYTES + 1))
    assert (app.calls, answers.replayed) == (4, 0)


def test_only_the_latest_answers_are_kept_and_a_reset_forgets_them() -> None:
    app = Counting()
    answers = RetryAnswers(app, kept=2)
    for invocation in ("a", "b", "c"):
        send(answers, invocation, 1)
    assert [send(answers, invocation, 2) for invocation in ("c", "b", "a")] == [b"3", b"2", b"4"]
    send(answers, "reset", 1, PATH_INFO="/moto-api/reset")
    assert send(answers, "a", 2) == b"6"
