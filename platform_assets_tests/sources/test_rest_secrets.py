"""Credentials come from EnvVars and go nowhere else: not to logs, errors, metadata or events."""

from __future__ import annotations

import logging

import dagster as dg
import pytest

from platform_assets.demo.faults import Faults
from platform_assets.demo.generator import orders_for_day
from platform_assets.demo.process import DemoApi
from platform_assets.sources.rest import Endpoint, OffsetPagination, PermanentApiError, RestApi
from platform_assets_tests.sources.conftest import CFG, DAY, TOKEN, Recorder, client, collect
from platform_assets_tests.sources.test_rest_pagination import ENDPOINTS, PARAMS

WRONG = "wrong-secret-5d1c7e0a9f"
CREDENTIALS = {
    "bearer": {"auth": "bearer", "token": dg.EnvVar("SRC_TEST_SECRET")},
    "api_key": {"auth": "api_key", "token": dg.EnvVar("SRC_TEST_SECRET")},
    "basic": {"auth": "basic", "username": "demo", "password": dg.EnvVar("SRC_TEST_SECRET")},
}


def _resolved(api: DemoApi, kind: str) -> dg.ResourceDefinition:
    resource = RestApi(base_url=api.url, page_size=100, backoff_base_s=0.001, **CREDENTIALS[kind])
    return dg.build_resources({"api": resource})


@pytest.mark.parametrize("kind", list(CREDENTIALS))
def test_each_auth_scheme_reads_its_secret_from_the_environment(
    api: DemoApi, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SRC_TEST_SECRET", TOKEN)
    with _resolved(api, kind) as resources:
        got = collect(resources.api.pages(ENDPOINTS["offset"], PARAMS))
    assert len(got) == len(orders_for_day(DAY, CFG))


@pytest.mark.parametrize("kind", list(CREDENTIALS))
def test_a_refused_secret_is_not_repeated_even_when_the_api_echoes_it(
    api: DemoApi, kind: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    api.set_faults(Faults(echo_credentials=True))
    monkeypatch.setenv("SRC_TEST_SECRET", WRONG)
    caplog.set_level(logging.DEBUG)  # urllib3 and requests included
    log = Recorder()
    with _resolved(api, kind) as resources, pytest.raises(PermanentApiError) as failure:
        collect(resources.api.pages(ENDPOINTS["offset"], PARAMS, log=log))
    assert "HTTP 401" in str(failure.value) and "invalid credentials: '***'" in str(failure.value)
    for text in (str(failure.value), repr(failure.value), caplog.text, log.text()):
        assert WRONG not in text


def test_retries_log_no_secret(api: DemoApi, caplog: pytest.LogCaptureFixture) -> None:
    api.set_faults(Faults(seed=1, error_rate=0.2, truncate_rate=0.1, garble_rate=0.1))
    caplog.set_level(logging.DEBUG)
    log = Recorder()
    collect(client(api).pages(ENDPOINTS["offset"], PARAMS, log=log))
    assert any(level == "warning" for level, _ in log.lines)
    assert TOKEN not in caplog.text and TOKEN not in log.text()


def test_the_resource_repr_hides_secrets() -> None:
    rest = RestApi(base_url="http://x", auth="basic", username="u", password=WRONG, token=WRONG)
    assert WRONG not in repr(rest) and WRONG not in str(rest)
    assert "password='***'" in repr(rest)


def test_a_failed_run_leaves_no_secret_in_the_event_log(make_platform, monkeypatch) -> None:
    platform = make_platform(
        extra_env={"PLATFORM_API_PAGE_SIZE": "50", "PLATFORM_API_BACKOFF_BASE_S": "0.001"}
    )
    token = platform.env["PLATFORM_API_TOKEN"]
    platform.api.set_faults(Faults(seed=1, error_rate=0.3, echo_credentials=True))
    job = platform.definitions().resolve_job_def("daily_job")
    selection = [dg.AssetKey("customers"), dg.AssetKey("orders")]  # orders' checks need customers
    with dg.DagsterInstance.ephemeral() as instance:
        ok = job.execute_in_process(
            partition_key=platform.day.isoformat(), instance=instance, asset_selection=selection
        )
        monkeypatch.setenv("PLATFORM_API_TOKEN", WRONG)
        failed = job.execute_in_process(
            partition_key=platform.day.isoformat(), instance=instance, raise_on_error=False,
            asset_selection=selection,
        )  # fmt: skip
        assert ok.success and not failed.success
        events = [dg.serialize_value(e) for r in (ok, failed) for e in instance.all_logs(r.run_id)]
    everything = "\n".join(events)
    assert "invalid credentials: '***'" in everything  # the refusal is there, redacted
    assert "retry 1/" in everything  # so are the retries of the first run
    assert token not in everything and WRONG not in everything
    step_failures = [e for e in failed.all_events if e.is_step_failure]
    assert len(step_failures) == 1  # a permanent error bypasses the step's RetryPolicy


def test_errors_name_the_url_requested_with_the_base_urls_own_path(api: DemoApi) -> None:
    """A base URL with a path (``.../v1``) and a table path (``/orders``): the message shows
    ``/v1/orders`` on its host, the URL that really answered, not ``/orders``."""
    rest = client(api, base_url=f"{api.url}/v1")
    with pytest.raises(PermanentApiError) as failure:
        collect(rest.pages(Endpoint("/orders", OffsetPagination()), {"date": "10/03/2026"}))
    assert str(failure.value).startswith(
        f"GET {api.url}/v1/orders?date=10%2F03%2F2026&offset=0&limit=100 -> HTTP 400"
    )


def test_the_url_in_a_message_hides_the_userinfo_password(api: DemoApi) -> None:
    """``http://demo:<token>@host/v1``: requests sends the userinfo as Basic auth (the demo
    API accepts it); the message keeps the user and host and hides the password."""
    host = api.url.removeprefix("http://")
    rest = client(api, base_url=f"http://demo:{TOKEN}@{host}/v1", auth="none")
    log = Recorder()
    with pytest.raises(PermanentApiError) as failure:
        collect(rest.pages(Endpoint("/orders", OffsetPagination()), {"date": "x"}, log=log))
    message = str(failure.value)
    assert message.startswith(f"GET http://demo:***@{host}/v1/orders?date=x&offset=0&limit=100")
    assert "HTTP 400" in message  # authenticated by the userinfo; refused for the date
    assert TOKEN not in message and TOKEN not in log.text()


def test_the_url_in_a_message_hides_an_api_key_parameter(api: DemoApi) -> None:
    """The key travels as ``?key=...`` (the demo API wants a header, so it answers 401):
    the message shows the parameter that was sent, its value hidden."""
    rest = client(api, auth="api_key", api_key_param="key")
    with pytest.raises(PermanentApiError) as failure:
        collect(rest.pages(ENDPOINTS["offset"], PARAMS))
    message = str(failure.value)
    want = f"GET {api.url}/v1/orders?date=2026-03-10&offset=0&limit=100&key=*** -> HTTP 401"
    assert message.startswith(want)
    assert TOKEN not in message


def test_credentials_in_a_netrc_file_are_used_and_never_shown(
    api: DemoApi, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ``auth: none``, a netrc entry for the API's host is sent as Basic auth (as curl
    and requests do); its password appears in no message. Without the file: 401, permanent.
    A configured token is never replaced by a netrc entry (requests let it be)."""
    host = api.url.removeprefix("http://").split(":")[0]
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine {host} login demo password {TOKEN}\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    got = collect(client(api, auth="none").pages(ENDPOINTS["offset"], PARAMS))
    assert len(got) == len(orders_for_day(DAY, CFG))

    netrc.write_text(f"machine {host} login demo password {WRONG}\n")
    got = collect(client(api).pages(ENDPOINTS["offset"], PARAMS))  # bearer TOKEN, kept
    assert len(got) == len(orders_for_day(DAY, CFG))

    monkeypatch.setenv("NETRC", str(tmp_path / "missing"))
    log = Recorder()
    with pytest.raises(PermanentApiError) as failure:
        collect(client(api, auth="none").pages(ENDPOINTS["offset"], PARAMS, log=log))
    assert "HTTP 401" in str(failure.value)
    assert TOKEN not in str(failure.value) and TOKEN not in log.text()
