"""The benchmarks import what they measure: a refactor that moves it breaks this, not
`make bench` weeks later."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.mark.parametrize(
    "module", sorted(p.stem for p in BENCH.glob("*.py") if p.stem != "__init__")
)
def test_benchmark_module_imports(module: str) -> None:
    importlib.import_module(f"bench.{module}")
