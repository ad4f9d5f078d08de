"""The shared redaction helpers: every form of a secret goes, short URL parts stay."""

from __future__ import annotations

from platform_assets.redaction import redact, url_secrets, without_password


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
