"""What the report derives from facts, without Dagster or a warehouse."""

from __future__ import annotations

from platform_assets.contracts import contracts
from platform_assets.quality.anomaly import accepted_range, judge_volume
from platform_assets.report.facts import NO_PARTITION, CheckFact, QuarantineFacts, TableFacts
from platform_assets.report.view import grid, problems_first, status, volume_band


def table(name: str, checks: list[CheckFact], rows: dict[str, int] | None = None) -> TableFacts:
    contract = contracts()[name]
    keys = {c.partition for c in checks} | set(rows or {})
    return TableFacts(contract, rows or {}, dict.fromkeys(keys, 1.0), {}, checks,
                      QuarantineFacts(), "fresh", 60.0)  # fmt: skip


def result(name: str, partition: str, passed: bool, severity: str = "ERROR") -> CheckFact:
    return CheckFact("orders", name, partition, passed, severity, "", "run", 1.0)


def test_results_without_a_partition_are_shown_under_no_partition() -> None:
    facts = table("orders", [result("volume_anomaly", NO_PARTITION, False),
                             result("volume_anomaly", "2026-03-01", True)])  # fmt: skip
    shown = grid(facts, days=30)
    assert shown.partitions == ["2026-03-01", NO_PARTITION]
    assert shown.cell("volume_anomaly", NO_PARTITION).outcome == "failed"


def test_grid_keeps_the_latest_days_and_problems_come_first() -> None:
    days = [f"2026-03-{d:02d}" for d in range(1, 11)]
    facts = table("orders", [result("schema_drift", d, d != "2026-03-10") for d in days])
    assert grid(facts, days=3).partitions == days[-3:]
    warned = table("payments", [result("schema_drift", "2026-03-10", False, "WARN")])
    ok = table("customers", [result("schema_drift", NO_PARTITION, True)])
    assert [status(t) for t in problems_first([ok, warned, facts])] == ["failed", "warned", "ok"]


def test_the_volume_band_is_what_the_volume_check_accepts() -> None:
    counts = [100, 104, 98, 101, 97, 103, 99, 100]
    rows = {f"2026-03-{d:02d}": n for d, n in enumerate(counts, start=1)}
    facts = table("orders", [], rows)
    band = volume_band(facts)
    volume = facts.contract.volume
    assert sorted(band) == sorted(rows)[volume.min_history :]  # judged once 5 days exist
    last = sorted(rows)[-1]
    history = tuple(rows[k] for k in sorted(rows, reverse=True)[1:])
    low, high = band[last]
    assert (low, high) == accepted_range(history, volume)
    assert judge_volume(int(high), history, volume).passed
    assert not judge_volume(int(high) + 1, history, volume).passed
    assert not judge_volume(int(low) - 1, history, volume).passed
