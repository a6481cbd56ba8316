from __future__ import annotations

import pytest

from aigw_common.errors import InvalidArgument
from config_svc import paging


@pytest.mark.parametrize(("requested", "used"), [(0, 100), (1, 1), (1000, 1000), (5000, 1000)])
def test_page_size_defaults_and_caps(requested: int, used: int) -> None:
    assert paging.page_size(requested) == used


def test_negative_page_size_is_refused() -> None:
    with pytest.raises(InvalidArgument) as error:
        paging.page_size(-1)
    assert error.value.field == "page_size"


def test_token_round_trips() -> None:
    assert paging.decode_token("models", paging.encode_token("models", "a.b-c_d")) == "a.b-c_d"
    assert paging.decode_token("models", "") == ""


@pytest.mark.parametrize(
    "token",
    ["not base64!", "bW9kZWxz", paging.encode_token("features", "duo_chat"), "é", "//8="],
)
def test_foreign_tokens_are_refused(token: str) -> None:
    with pytest.raises(InvalidArgument) as error:
        paging.decode_token("models", token)
    assert error.value.field == "page_token"
