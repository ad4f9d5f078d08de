"""Importing the code location loads no library that only a running step or tick needs.

Every run process, step process, sensor daemon and CLI call imports
``platform_assets.definitions``; the data libraries (pandas, pandera, Arrow, the database
drivers, sqlglot, the OpenLineage client, HTTP) are imported where they are used. The check
is on behaviour (``sys.modules`` of a fresh interpreter), not on seconds: a module-level
``import pandas`` added anywhere on the way fails it, naming the chain that imported it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

HEAVY = (
    "adbc_driver_manager",
    "adbc_driver_postgresql",
    "celery",
    "duckdb",
    "numpy",
    "openlineage",
    "pandas",
    "pandera",
    "prometheus_client",
    "psycopg",
    "pyarrow",
    "requests",
    "sqlalchemy",
    "sqlglot",
)

# Records, for each heavy package, the platform_assets frames that imported it first.
PROBE = textwrap.dedent(
    """
    import importlib.abc, json, sys, traceback
    heavy, first = set(sys.argv[1].split(",")), {}

    class Watch(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            top = name.split(".")[0]
            if top in heavy and top not in first:
                first[top] = [
                    f"{f.filename.split('platform_assets/')[-1]}:{f.lineno}"
                    for f in traceback.extract_stack()
                    if "/platform_assets/" in f.filename
                ]
            return None

    sys.meta_path.insert(0, Watch())
    import platform_assets.definitions  # noqa: F401
    print(json.dumps({k: v for k, v in first.items() if k in sys.modules}))
    """
)


@pytest.fixture(scope="module")
def imported_heavy() -> dict[str, list[str]]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, ",".join(HEAVY)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_code_location_imports_no_heavy_library(imported_heavy: dict[str, list[str]]) -> None:
    chains = {name: " <- ".join(reversed(chain)) for name, chain in imported_heavy.items()}
    assert chains == {}, f"imported by platform_assets.definitions: {chains}"


def test_the_probe_sees_a_heavy_import() -> None:
    """The probe itself works: a module that imports pandas is reported with its chain."""
    probe = PROBE.replace(
        "import platform_assets.definitions", "import platform_assets.quality.validation"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, "pandas,pandera"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(found) == {"pandas", "pandera"}
    assert any("quality/validation.py" in frame for frame in found["pandas"])
