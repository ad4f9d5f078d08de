"""``make report`` / ``platform-report``: rebuild the quality report now, from what the
instance and the warehouse hold (after ``make run``, or beside ``make dev``).

It runs the report asset in-process, so the command and the daily job build the same
report by the same code, and the build is recorded in the instance like any other.
Reads the same DAGSTER_HOME/PLATFORM_HOME defaults as ``make run``.
"""

from __future__ import annotations

import argparse
import os
import sys


def main(argv: list[str] | None = None) -> int:
    from platform_assets.automation.instance import open_instance
    from platform_assets.definitions import build_definitions
    from platform_assets.home import prepare_environment
    from platform_assets.report.asset import DEFAULT_DAYS, REPORT_ASSET, REPORT_JOB, report_folder

    parser = argparse.ArgumentParser(prog="platform-report", description=__doc__)
    parser.add_argument("--out", help="folder to write (default: PLATFORM_REPORT_DIR, else "
                        "report/ under PLATFORM_HOME)")  # fmt: skip
    parser.add_argument("--days", type=int, default=DEFAULT_DAYS, help="partitions per table")
    args = parser.parse_args(argv)
    prepare_environment(os.environ)  # type: ignore[arg-type]
    folder = args.out or str(report_folder())
    config = {"ops": {REPORT_ASSET: {"config": {"folder": folder, "days": args.days}}}}
    job = build_definitions().resolve_job_def(REPORT_JOB)
    with open_instance() as instance:
        result = job.execute_in_process(run_config=config, instance=instance, raise_on_error=False)
    if not result.success:
        print(f"platform-report: run {result.run_id} failed; see its events", file=sys.stderr)
        return 1
    print(f"quality report: {os.path.join(os.path.abspath(folder), 'index.html')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
