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
