"""The benchmarks import what they measure: a refactor that moves it breaks this, not
`make bench` weeks later."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
PROFILES = ["postgres", "embedded"]
MODES = ["inprocess", "multiprocess", "celery_run_processes", "celery"]


@pytest.mark.parametrize(
    "module", sorted(p.stem for p in BENCH.glob("*.py") if p.stem != "__init__")
)
def test_benchmark_module_imports(module: str) -> None:
    importlib.import_module(f"bench.{module}")


def test_materialize_benchmark_says_how_to_run_it() -> None:
    """``make bench`` runs bench/materialize.py first: its arguments parse without a run."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.materialize", "--help"],
        cwd=BENCH.parent,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "--rows" in done.stdout and "--repeats" in done.stdout


@pytest.mark.parametrize(
    ("module", "argument", "error"),
    [
        ("materialize", "--rows=abc", "expected counts like 100000,1000000, got 'abc'"),
        ("materialize", "--rows=0,100000", "every count must be at least 1, got '0,100000'"),
        ("materialize", "--repeats=0", "must be a positive integer, got '0'"),
        ("load", "--rss-rows=1e6", "expected counts like 100000,1000000, got '1e6'"),
        ("load", "--chunk=-5", "must be a positive integer, got '-5'"),
        ("queue", "--events=", "expected counts like 100000,1000000, got ''"),
        ("queue", "--kill-trials=0", "must be a positive integer, got '0'"),
        ("queue", "--landed-only=orders", "expected QUEUE:COUNT like orders:100000, got 'orders'"),
        ("report", "--partitions=x", "must be a positive integer, got 'x'"),
        ("materialize", "--profiles=oracle", "unknown ['oracle']; known: " + str(PROFILES)),
        ("materialize", "--profiles=", "expected one or more of " + str(PROFILES) + ", got ''"),
        ("scale", "--modes=celery,k8s", "unknown ['k8s']; known: " + str(MODES)),
        ("scale", "--workers=0", "must be a positive integer, got '0'"),
        ("scale", "--latency-ms=nan", "must be a finite number >= 0, got 'nan'"),
        ("scale", "--rate-limit=-1", "must be a finite number >= 0, got '-1'"),
    ],
)  # fmt: skip
def test_a_benchmark_refuses_a_bad_value(
    module: str, argument: str, error: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad value is named before minutes of setup, and no results file is overwritten:
    ``main`` parses its arguments with ``parse_args`` before anything else."""
    benchmark = importlib.import_module(f"bench.{module}")
    with pytest.raises(SystemExit) as exited:
        benchmark.parse_args([argument])
    assert exited.value.code == 2
    option = argument.split("=")[0]
    assert capsys.readouterr().err.strip().endswith(f"error: argument {option}: {error}")
