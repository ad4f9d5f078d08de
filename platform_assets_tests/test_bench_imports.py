"""The benchmarks import what they measure: a refactor that moves it breaks this, not
`make bench` weeks later."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


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
    ("argument", "error"),
    [
        ("--rows=abc", "argument --rows: expected counts like 100000,1000000, got 'abc'"),
        ("--rows=0,100000", "argument --rows: every row count must be at least 1, got '0,100000'"),
        ("--repeats=0", "argument --repeats: must be a positive integer, got '0'"),
    ],
)
def test_materialize_benchmark_refuses_a_bad_value(argument: str, error: str) -> None:
    """A bad value is named before a minute of setup, and no results file is overwritten."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.materialize", argument, "--output", "/nonexistent/x.json"],
        cwd=BENCH.parent,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip().endswith(f"error: {error}")
