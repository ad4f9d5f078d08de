"""The shared redaction helpers: every form of a secret goes, short URL parts stay."""

from __future__ import annotations

from platform_assets import redaction
from platform_assets.redaction import (
    known_secrets,
    redact,
    redact_known,
    secrets_in,
    url_secrets,
    without_password,
)


def test_redact_removes_the_secret_in_plain_and_url_quoted_forms() -> None:
    secret = "s3cr3t/t0ken+x"
    text = f"plain {secret}, quoted s3cr3t%2Ft0ken%2Bx, path-quoted s3cr3t/t0ken%2Bx"
    assert redact(text, [secret, None, ""]) == "plain ***, quoted ***, path-quoted ***"


def test_redact_replaces_the_longest_secret_first() -> None:
    assert redact("abcdefgh-ijkl", ["abcdefgh", "abcdefgh-ijkl"]) == "***"


def test_url_secrets_keep_long_parts_only() -> None:
    url = "https://user:longpassword@hooks.example/services/T000/B000/XXXX?token=abcdefgh"
    assert url_secrets(url) == [url, "/services/T000/B000/XXXX", "token=abcdefgh", "longpassword"]
    assert url_secrets("https://hooks.example/hook") == ["https://hooks.example/hook"]


def test_without_password_keeps_user_host_and_path() -> None:
    url = "postgresql://etl:p%40ss:w@db.example:5432/warehouse?sslmode=require"
    assert without_password(url) == "postgresql://etl:***@db.example:5432/warehouse?sslmode=require"
    assert without_password("http://etl@host/v2") == "http://etl@host/v2"  # no password
    assert without_password("http://host/v2") == "http://host/v2"


def test_what_of_a_value_is_secret() -> None:
    assert secrets_in("tok-123") == ["tok-123"]  # a token: all of it
    assert secrets_in("postgresql://etl:p%40ssword@db/wh") == ["p%40ssword", "p@ssword"]
    assert secrets_in("postgresql://postgres@db/wh") == []  # no password: nothing to hide
    assert secrets_in("redis://:abc@host/0") == []  # too short to redact without garbling
    hook = "https://hooks.example/services/T000/B000/XXXX"
    assert secrets_in(hook) == [hook, "/services/T000/B000/XXXX"]
    assert secrets_in("") == []


def test_known_secrets_are_the_values_of_every_secret_variable(monkeypatch) -> None:
    """The platform's own variables, plus the ones the definitions declared (a source's)."""
    monkeypatch.setattr(redaction, "_DECLARED", {"SHOP_API_KEY"})
    env = {
        "PLATFORM_WAREHOUSE_URL": "postgresql://etl:wh-secret-1@db/wh",
        "SHOP_API_KEY": "shop-key-2",
        "PLATFORM_API_URL": "http://api.example/v2",  # not a secret variable: stays
    }
    assert sorted(known_secrets(env)) == ["shop-key-2", "wh-secret-1", "wh-secret-1"]
    text = "GET http://api.example/v2 with shop-key-2 on postgresql://etl:wh-secret-1@db/wh"
    assert (
        redact_known(text, env)
        == "GET http://api.example/v2 with *** on postgresql://etl:***@db/wh"
    )
