"""Pages that do not add up to the announced total fail the extraction, permanently.

The demo API process announces a wrong total on purpose (``Faults.total_skew``) while its
pages serve the real rows: a truncated export (fewer rows than announced) and a padded one
(more) must both stop the step, in one attempt, naming both counts.
"""

from __future__ import annotations

import dagster as dg
import pytest

from platform_assets.demo.faults import Faults
from platform_assets.demo.process import DemoApi
from platform_assets.sources.rest import PermanentApiError, TotalMismatchError
from platform_assets_tests.sources.conftest import Recorder, client, collect
from platform_assets_tests.sources.test_rest_pagination import ENDPOINTS, PARAMS

ORDERS = 450  # the sources' demo day (conftest.CFG)


@pytest.mark.parametrize("workers", [1, 3])
@pytest.mark.parametrize("style", ["offset", "page_number"])
def test_fewer_rows_than_announced_fail_naming_both_counts(
    api: DemoApi, style: str, workers: int
) -> None:
    api.set_faults(Faults(total_skew=50))  # announces 500, serves 450
    log = Recorder()
    rest = client(api, max_workers=workers)
    with pytest.raises(TotalMismatchError) as failure:
        collect(rest.pages(ENDPOINTS[style], PARAMS, log=log))
    assert isinstance(failure.value, PermanentApiError)  # no step retries (fail_fast)
    assert (failure.value.expected, failure.value.received) == (ORDERS + 50, ORDERS)
    assert f"GET {api.url}{ENDPOINTS[style].path}?" in str(failure.value)
    assert "the API announced 500 rows, its pages held 450 (50 fewer)" in str(failure.value)
    assert rest.retry_budget_state().used == 0  # nothing was retried
    assert [msg for level, msg in log.lines if level == "warning"] == []


def test_more_rows_than_announced_fail_naming_both_counts(api: DemoApi) -> None:
    payments = len(collect(client(api).pages(ENDPOINTS["link_header"], PARAMS)))
    api.set_faults(Faults(total_skew=-7))
    with pytest.raises(TotalMismatchError) as failure:
        collect(client(api).pages(ENDPOINTS["link_header"], PARAMS))
    assert (failure.value.expected, failure.value.received) == (payments - 7, payments)
    assert f"announced {payments - 7} rows, its pages held {payments} (7 more)" in str(
        failure.value
    )


def test_an_exact_total_passes(api: DemoApi) -> None:
    api.set_faults(Faults(total_skew=0))
    assert len(collect(client(api).pages(ENDPOINTS["offset"], PARAMS))) == ORDERS


def test_the_knob_must_be_an_integer() -> None:
    with pytest.raises(ValueError, match="total_skew must be an integer"):
        Faults(total_skew=1.5)  # type: ignore[arg-type]


def test_a_truncated_extraction_fails_the_step_without_retries_or_rows(make_platform) -> None:
    """Through Dagster: the orders step fails once (its RetryPolicy is bypassed), names the
    counts, and leaves no row of the partition in the warehouse."""
    platform = make_platform(extra_env={"PLATFORM_API_PAGE_SIZE": "50"})
    platform.api.set_faults(Faults(total_skew=60))
    job = platform.definitions().resolve_job_def("daily_job")
    selection = [dg.AssetKey("customers"), dg.AssetKey("orders")]  # orders' checks need customers
    with dg.DagsterInstance.ephemeral() as instance:
        result = job.execute_in_process(
            partition_key=platform.day.isoformat(), instance=instance, raise_on_error=False,
            asset_selection=selection,
        )  # fmt: skip
    assert not result.success
    failures = result.get_step_failure_events()
    assert [e.step_key for e in failures] == ["orders"]
    [failure] = failures
    description = failure.step_failure_data.user_failure_data.description
    orders = platform.cfg.orders_per_day
    assert f"the API announced {orders + 60} rows, its pages held {orders} (60 fewer)" in (
        description
    )
    assert description.startswith(f"GET {platform.api.url}/v1/orders?")
    retry = dg.DagsterEventType.STEP_UP_FOR_RETRY
    assert [e for e in result.all_events if e.event_type == retry] == []
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    assert materialized == {dg.AssetKey("customers")}
    [(rows,)] = platform.warehouse.query('SELECT count(*) FROM "raw"."orders"')
    assert rows == 0
