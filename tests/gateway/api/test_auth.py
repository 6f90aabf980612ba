"""Client and admin keys: bearer tokens compared in constant time; errors in OpenAI's shape."""

from __future__ import annotations

import pytest

from gateway.api.admin import redacted
from gateway.api.auth import Authenticator
from gateway.serving.errors import ClientError


def test_keys_from_the_environment() -> None:
    auth = Authenticator.from_environ({"DISTILLGATE_API_KEYS": " k1 , ,k2 ", "X": "y"})
    assert auth.enabled
    auth.check_client("Bearer k1")
    auth.check_client("bearer k2")  # the scheme is case-insensitive
    assert not Authenticator.from_environ({}).enabled


@pytest.mark.parametrize(
    "header", [None, "", "Bearer", "Bearer wrong", "Basic k1", "k1", "Bearer k1x", "Bearer k"]
)
def test_a_client_without_a_valid_key_gets_401(header: str | None) -> None:
    auth = Authenticator(("k1",), None)
    with pytest.raises(ClientError) as info:
        auth.check_client(header)
    assert info.value.status == 401 and info.value.code == "invalid_api_key"
    assert info.value.headers == {"www-authenticate": "Bearer"}


def test_no_client_keys_means_an_open_gateway() -> None:
    Authenticator((), "admin").check_client(None)


def test_admin_endpoints_need_their_own_key() -> None:
    auth = Authenticator(("k1",), "admin-key")
    auth.check_admin("Bearer admin-key")
    for header in ("Bearer k1", None, "Bearer admin-keyy"):
        with pytest.raises(ClientError) as info:
            auth.check_admin(header)
        assert info.value.status == 401
    with pytest.raises(ClientError) as info:
        Authenticator(("k1",), None).check_admin("Bearer anything")
    assert "DISTILLGATE_ADMIN_KEY is not set" in info.value.message


@pytest.mark.parametrize(
    ("url", "want"),
    [
        ("redis://:p@ss@redis:6379/0", "redis://***@redis:6379/0"),
        ("rediss://user:pw@redis.internal/1", "rediss://***@redis.internal/1"),
        ("postgres://db/x?user=me&password=hunter2&sslmode=require",
         "postgres://db/x?user=me&password=***&sslmode=require"),
        ("https://teacher/v1?api_key=sk-123&x=1", "https://teacher/v1?api_key=***&x=1"),
        ("http://student:8000/v1", "http://student:8000/v1"),
        ("not a url", "not a url"),
    ],
)  # fmt: skip
def test_admin_config_redacts_credentials_in_urls(url: str, want: str) -> None:
    assert redacted({"a": [url]}) == {"a": [want]}
