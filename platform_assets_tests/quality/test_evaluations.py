"""The one reader of check evaluations: what a run logged, from the instance, in order."""

from __future__ import annotations

import dagster as dg

from platform_assets.quality.evaluations import check_evaluations


@dg.asset(
    check_specs=[
        dg.AssetCheckSpec("first_passes", asset="table"),
        dg.AssetCheckSpec("then_warns", asset="table"),
    ]
)
def table() -> dg.MaterializeResult:
    return dg.MaterializeResult(
        check_results=[
            dg.AssetCheckResult(check_name="first_passes", passed=True),
            dg.AssetCheckResult(
                check_name="then_warns",
                passed=False,
                severity=dg.AssetCheckSeverity.WARN,
                description="too few rows",
            ),
        ]
    )


@dg.asset
def unchecked() -> None:
    return None


def test_reads_every_evaluation_of_the_run_in_order() -> None:
    with dg.DagsterInstance.ephemeral() as instance:
        first = dg.materialize([table], instance=instance)
        second = dg.materialize([unchecked], instance=instance)
        found = check_evaluations(instance, first.run_id)
        assert [(e.check_name, e.passed) for e in found] == [
            ("first_passes", True),
            ("then_warns", False),
        ]
        assert found[1].severity == dg.AssetCheckSeverity.WARN
        assert found[1].description == "too few rows"
        assert {e.asset_key for e in found} == {dg.AssetKey("table")}
        assert check_evaluations(instance, second.run_id) == []
