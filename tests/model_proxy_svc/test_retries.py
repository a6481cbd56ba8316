"""The retry policy on its own: what is retried, how long it waits, when it gives up."""

from __future__ import annotations

import asyncio
import email.utils
import time

import httpx
import pytest

from aigw_common.errors import UpstreamRejected
from aigw_common.settings import ModelProxySettings
from model_proxy_svc.retries import RetryableUpstreamError, RetryPolicy, retry_after_s


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),
        ({"Retry-After": "6"}, 6.0),
        ({"retry-after": "soon"}, None),
        ({}, None),
        ({"retry-after-ms": "x", "retry-after": "2"}, 2.0),
    ],
)
def test_retry_after_headers(headers: dict[str, str], expected: float | None) -> None:
    assert retry_after_s(httpx.Headers(headers)) == expected


def test_retry_after_as_an_http_date() -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)

    waited = retry_after_s(httpx.Headers({"retry-after": when}))

    assert waited is not None
    assert 25 < waited <= 30


def _policy(**settings: float) -> RetryPolicy:
    return RetryPolicy(ModelProxySettings(retry_initial_backoff_s=0.01, **settings))


async def _failing(errors: list[Exception], calls: list[float]) -> str:
    calls.append(asyncio.get_running_loop().time())
    if errors:
        raise errors.pop(0)
    return "ok"


async def test_retryable_failures_are_retried_until_success() -> None:
    calls: list[float] = []
    errors: list[Exception] = [RetryableUpstreamError("busy"), RetryableUpstreamError("busy")]
    deadline = asyncio.get_running_loop().time() + 10

    result = await _policy().run(lambda: _failing(errors, calls), max_retries=2, deadline=deadline)

    assert result == "ok"
    assert len(calls) == 3


async def test_other_failures_are_not_retried() -> None:
    calls: list[float] = []
    deadline = asyncio.get_running_loop().time() + 10

    with pytest.raises(UpstreamRejected):
        await _policy().run(
            lambda: _failing([UpstreamRejected("no")], calls), max_retries=5, deadline=deadline
        )

    assert len(calls) == 1


async def test_the_servers_retry_after_is_honoured() -> None:
    calls: list[float] = []
    errors: list[Exception] = [RetryableUpstreamError("busy", retry_after_s=0.3)]
    deadline = asyncio.get_running_loop().time() + 10

    await _policy().run(lambda: _failing(errors, calls), max_retries=1, deadline=deadline)

    assert calls[1] - calls[0] >= 0.3


async def test_no_wait_beyond_the_budget_or_the_deadline() -> None:
    calls: list[float] = []
    loop = asyncio.get_running_loop()

    with pytest.raises(RetryableUpstreamError) as over_budget:
        await _policy(retry_max_wait_s=1).run(
            lambda: _failing([RetryableUpstreamError("busy", retry_after_s=5)], calls),
            max_retries=3,
            deadline=loop.time() + 60,
        )
    with pytest.raises(RetryableUpstreamError) as past_deadline:
        await _policy().run(
            lambda: _failing([RetryableUpstreamError("busy", retry_after_s=2)], calls),
            max_retries=3,
            deadline=loop.time() + 1,
        )

    assert len(calls) == 2
    assert "asked to retry after 5 s" in over_budget.value.message
    assert "asked to retry after 2 s" in past_deadline.value.message


async def test_giving_up_says_how_many_attempts_were_made() -> None:
    calls: list[float] = []
    errors: list[Exception] = [RetryableUpstreamError("busy") for _ in range(5)]
    deadline = asyncio.get_running_loop().time() + 10

    with pytest.raises(RetryableUpstreamError) as caught:
        await _policy().run(lambda: _failing(errors, calls), max_retries=2, deadline=deadline)

    assert len(calls) == 3
    assert caught.value.message == "busy (gave up after 3 attempts)"
    assert caught.value.metadata["attempts"] == "3"
