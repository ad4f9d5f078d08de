"""Quality report at scale: ``python -m bench.report`` (part of ``make bench``).

Renders the report for ``--tables`` tables x ``--partitions`` daily partitions from
synthetic facts (gathering bypassed: this measures the renderer, its templates and charts,
not the warehouse), and records build time, files and bytes in ``bench/results/report.json``.
``render_s`` is wall time (a busy machine inflates it); ``build_cpu_s`` is this process's
CPU time for facts and rendering. The synthetic tables are the demo contracts renamed, every
check of every partition has a result (1% of them failing), and raw tables quarantine a few
rows a day under four reasons.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import tempfile
import time
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from bench.args import positive
from platform_assets.contracts import contracts
from platform_assets.report.facts import (
    NO_PARTITION,
    CheckFact,
    QuarantineFacts,
    ReportFacts,
    TableFacts,
)
from platform_assets.report.render import render

RESULTS = Path(__file__).parent / "results" / "report.json"
LAST_DAY = date(2026, 11, 30)
REASONS = (
    "amount_cents: greater_than_or_equal_to",
    "status: isin",
    "order_ts: type",
    "email: str_matches",
)


def synthetic_table(index: int, partitions: int, rng: random.Random) -> TableFacts:
    base = list(contracts().values())[index % len(contracts())]
    contract = replace(base, table=f"{base.table}_{index:02d}")
    keys = [(LAST_DAY - timedelta(days=d)).isoformat() for d in range(partitions)][::-1]
    if not contract.is_partitioned:
        keys = [NO_PARTITION]
    at = datetime(2026, 12, 1, tzinfo=UTC).timestamp()
    rows = {k: 1000 + rng.randint(-80, 80) for k in keys}
    checks = [
        CheckFact(contract.table, name, k, rng.random() > 0.01, contract.severity(name),
                  "synthetic result", f"run-{index}-{k}", at, "the rule", {"rows": rows[k]})
        for k in keys for name in contract.check_names
    ]  # fmt: skip
    quarantine = QuarantineFacts()
    if contract.layer == "raw":
        counts = {k: {r: rng.randint(0, 5) for r in REASONS} for k in keys}
        quarantine = QuarantineFacts(
            counts=counts,
            rows={k: sum(c.values()) for k, c in counts.items()},
            samples=[{"partition": keys[-1], "record": {"id": 1}, "reasons": []}] * 10,
        )
    return TableFacts(
        contract=contract,
        rows=rows,
        materialized=dict.fromkeys(keys, at),
        runs={k: f"run-{index}-{k}" for k in keys},
        checks=checks,
        quarantine=quarantine,
        freshness="fresh",
        lag_s=3600.0,
        upstream=(),
        downstream=(),
    )


def measure(tables: int, partitions: int, out: Path) -> dict[str, object]:
    rng = random.Random(7)
    cpu = time.process_time()
    started = time.perf_counter()
    facts = ReportFacts(
        generated_at=datetime.now(UTC),
        tables=[synthetic_table(i, partitions, rng) for i in range(tables)],
        days=partitions,
    )
    made = time.perf_counter()
    written = render(facts, out)
    done = time.perf_counter()
    render_cpu = time.process_time() - cpu
    largest = max(p.stat().st_size for p in out.rglob("*.html"))
    return {
        "tables": tables,
        "partitions": partitions,
        "check_results": sum(len(t.checks) for t in facts.tables),
        "facts_s": round(made - started, 2),
        "render_s": round(done - made, 2),
        "build_cpu_s": round(render_cpu, 2),  # facts + render, CPU of this process
        "pages": written.pages,
        "bytes": written.bytes,
        "mb": round(written.bytes / 1e6, 2),
        "largest_page_kb": round(largest / 1e3, 1),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench.report", description=__doc__)
    parser.add_argument("--tables", type=positive, default=30)
    parser.add_argument("--partitions", type=positive, default=365)
    parser.add_argument("--out", type=Path, help="keep the report here (default: a temp dir)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        result = measure(args.tables, args.partitions, args.out or Path(tmp) / "report")
    result |= {
        "load_avg_1m": round(os.getloadavg()[0], 1),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
