"""A non-editable install (a worker image) loads the same tables as a checkout: the YAML and
SQL of defs/ are package data, and the definitions are found without pyproject.toml."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from platform_assets.contracts import contracts

REPO = Path(__file__).resolve().parents[1]

PROBE = """
import json, warnings
warnings.simplefilter("ignore")
import platform_assets
from platform_assets.definitions import build_definitions
keys = build_definitions().resolve_asset_graph().get_all_asset_keys()
print(json.dumps({"file": platform_assets.__file__, "assets": sorted(k.path[-1] for k in keys)}))
"""


def test_an_installed_wheel_loads_every_configured_table(tmp_path: Path) -> None:
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    source = tmp_path / "src"  # setuptools builds in the source tree: not in the checkout
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    shutil.copytree(REPO / "platform_assets", source / "platform_assets", ignore=ignore)
    shutil.copy(REPO / "pyproject.toml", source / "pyproject.toml")
    subprocess.run([*pip, "wheel", "--no-deps", "-w", str(tmp_path), str(source)], check=True)
    [wheel] = tmp_path.glob("platform_assets-*.whl")
    target = tmp_path / "site"
    subprocess.run([*pip, "install", "--no-deps", "--target", str(target), str(wheel)], check=True)
    env = {**os.environ, "PYTHONPATH": str(target), "PLATFORM_HOME": str(tmp_path / "home")}
    probe = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert probe.returncode == 0, probe.stderr[-3000:]
    loaded = json.loads(probe.stdout.strip().splitlines()[-1])
    assert loaded["file"].startswith(str(target))  # the wheel's copy, not this checkout
    assert loaded["assets"] == sorted([*contracts(), "quality_report"])  # + the report
