"""Facts into a folder of static pages: an overview, a page per table, a page per failed
check. Self-contained: styles and charts are inside each page, links are relative, so the
folder opens from disk, can be zipped and attached, or served by any static web server.

The folder is built beside the target and swapped in whole, so a reader (or a web server)
never sees half a report.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2

from platform_assets.alerts.freshness import human
from platform_assets.alerts.routing import Links, report_page
from platform_assets.report import view
from platform_assets.report.facts import NO_PARTITION, CheckFact, ReportFacts, TableFacts


@dataclass(frozen=True)
class Written:
    folder: Path
    pages: int
    bytes: int


def check_page(check: CheckFact) -> str:
    partition = "none" if check.partition == NO_PARTITION else check.partition
    name = f"{check.table}.{check.check}.{partition}.html"
    return f"checks/{quote(name, safe='')}"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("platform_assets.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters |= {
        "pct": lambda v: "-" if v is None else f"{100 * v:.2f}%",
        "num": lambda v: "-" if v is None else f"{v:,}",
        "when": lambda ts: datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "ago": lambda s: "-" if s is None else human(timedelta(seconds=s)) + " ago",
        "duration": lambda d: human(d),
        "tojson_pretty": lambda v: json.dumps(v, indent=2, sort_keys=True, default=str),
    }
    env.globals |= {
        "view": view,
        "table_page": report_page,
        "check_page": check_page,
        "NO_PARTITION": NO_PARTITION,
    }
    return env


def _scalars(metadata: dict[str, Any]) -> list[tuple[str, Any]]:
    return [(k, v) for k, v in metadata.items() if not isinstance(v, dict | list)]


def _structured(metadata: dict[str, Any]) -> list[tuple[str, Any]]:
    return [(k, v) for k, v in metadata.items() if isinstance(v, dict | list) and v]


def _reasons(table: TableFacts) -> list[str]:
    """Every reason seen, the most frequent first."""
    totals: dict[str, int] = {}
    for per_reason in table.quarantine.counts.values():
        for reason, n in per_reason.items():
            totals[reason] = totals.get(reason, 0) + n
    return sorted(totals, key=lambda r: (-totals[r], r))


def _table_context(table: TableFacts, facts: ReportFacts) -> dict[str, Any]:
    # matplotlib is imported by the report step only, not by every process that loads the
    # code location (the report asset lives in it).
    from platform_assets.report.plots import quarantine_chart, volume_chart

    grid = view.grid(table, facts.days)
    dated = [p for p in grid.partitions if p != NO_PARTITION]
    shown_rows = {
        k: v for k, v in table.rows.items() if k != NO_PARTITION and (not dated or k >= dated[0])
    }
    failed_volume = [
        c.partition for c in table.checks if c.check == "volume_anomaly" and not c.passed
    ]
    band = {k: v for k, v in view.volume_band(table).items() if k in shown_rows}
    quarantined = [p for p in dated if p in table.quarantine.counts]
    return {
        "t": table,
        "grid": grid,
        "volume_svg": volume_chart(shown_rows, band, failed_volume, table.contract.volume.min_rows)
        if len(shown_rows) > 1
        else "",
        "quarantine_svg": quarantine_chart(table.quarantine.counts, dated)
        if quarantined and len(dated) > 1
        else "",
        "quarantine_partitions": sorted(table.quarantine.counts, reverse=True),
        "reasons": _reasons(table),
        "drift": view.drift_events(table),
        "not_passed": view.not_passed(table),
    }


def _pages(facts: ReportFacts, env: jinja2.Environment) -> dict[str, str]:
    links = Links(facts.ui_url) if facts.ui_url else None
    common = {"facts": facts, "generated": facts.generated_at.strftime("%Y-%m-%d %H:%M UTC")}
    pages = {
        "index.html": env.get_template("overview.html.j2").render(
            **common, root="", tables=view.problems_first(facts.tables)
        )
    }
    table_template = env.get_template("table.html.j2")
    check_template = env.get_template("check.html.j2")
    for table in facts.tables:
        pages[report_page(table.table)] = table_template.render(
            **common, root="../", **_table_context(table, facts)
        )
        for check in view.not_passed(table):
            pages[check_page(check)] = check_template.render(
                **common,
                root="../",
                t=table,
                c=check,
                scalars=_scalars(dict(check.metadata)),
                structured=_structured(dict(check.metadata)),
                run_link=links.run(check.run_id) if links and check.run_id else None,
            )
    return pages


def render(facts: ReportFacts, folder: Path) -> Written:
    """Write the report into ``folder``, replacing what was there."""
    pages = _pages(facts, _environment())
    folder = folder.resolve()
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    size = 0
    for relative, html in pages.items():
        path = staging / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        data = html.encode()
        path.write_bytes(data)
        size += len(data)
    staging.chmod(0o755)
    old = folder.with_name(f".{folder.name}.old")
    if old.exists():
        shutil.rmtree(old)  # left by a build that died between its two renames
    if folder.exists():
        folder.rename(old)
    staging.rename(folder)
    if old.exists():
        shutil.rmtree(old)
    return Written(folder, len(pages), size)
