"""What each part of the extraction path is worth: ``python -m bench.levers``.

The end-to-end load of ``bench.e2e`` (demo API -> RestApi -> validation -> PostgreSQL) with
one part switched off at a time, on the same rows; results in ``bench/results/levers.json``.
Wall-clock rates on a shared 2-core machine are noisy: the CPU seconds of the pipeline
process and of the demo API process are reported too, and move less.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from bench.data import orders_contract
from bench.load import bench_database, child, truncate
from platform_assets.warehouse.resource import Warehouse

RESULTS = Path(__file__).parent / "results" / "levers.json"
VARIANTS: dict[str, list[str]] = {
    "platform defaults (1 fetch worker)": [],
    "2 fetch workers (parallel offset slices)": ["--workers", "2"],
    "without read-ahead": ["--no-read-ahead"],
    "without fast decoding (stdlib JSON)": ["--generic-decode"],
    "without batching (validate per page)": ["--batch", "1"],
    "none of the three": ["--no-read-ahead", "--generic-decode", "--batch", "1"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--reps", type=int, default=1)
    args = parser.parse_args()
    started = time.perf_counter()
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in VARIANTS}
    with bench_database() as url:
        Warehouse(url=url).ensure_table(orders_contract())
        for _ in range(args.reps):  # interleaved, so a burst of load elsewhere hits all
            for name, flags in VARIANTS.items():
                print(f"{name}: {args.rows} rows")
                truncate(url)
                runs[name].append(child("bench.e2e", ["--rows", str(args.rows), *flags], url))
    results = {
        "rows": args.rows,
        "variants": {name: summary(name, r) for name, r in runs.items()},
        "bench_seconds": round(time.perf_counter() - started, 1),
    }
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\n{'variant':<44}{'rows/s':>10}{'cpu s':>8}{'api cpu s':>11}")
    for name, row in results["variants"].items():
        shown = "failed" if row["rows_s"] is None else f"{row['rows_s']:,}"
        print(f"{name:<44}{shown:>10}{row['cpu_s'] or '':>8}{row['api_cpu_s'] or '':>11}")
    print(f"\nwrote {RESULTS} in {results['bench_seconds']} s")


def summary(name: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The best of the repetitions (the least disturbed by other work), and every run."""
    ok = [r for r in runs if "error" not in r]
    best = max(ok, key=lambda r: r["rows"] / r["seconds"], default=None)
    return {
        "flags": VARIANTS[name],
        "rows_s": None if best is None else round(best["rows"] / best["seconds"]),
        "cpu_s": None if best is None else best["cpu_s"],
        "api_cpu_s": None if best is None else best["api_cpu_s"],
        "runs": runs,
    }


if __name__ == "__main__":
    main()
