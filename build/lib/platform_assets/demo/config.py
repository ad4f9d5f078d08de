"""Configuration of the demo source system.

Every knob lives in one frozen dataclass so that the API process, the SQL seeder and the CSV
drops all see the same company: the parent process hands its config to child processes via
environment variables (``to_env``/``from_env``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields

CUSTOMER_LOOKBACK_DAYS = 7
"""Orders on day D reference customers who signed up on days D-7..D-1."""

CHANNELS: tuple[str, ...] = ("search", "social", "video", "email", "affiliate")
"""Paid marketing channels; customers may also arrive via ``organic``."""

MAX_ORDERS_PER_DAY = 49_999_999
"""Volume cap implied by the ID scheme (see ``generator``): order ids use 8 digits per day and
payment ids are order ids shifted by 50,000,000, so both must stay below that offset."""

MAX_CUSTOMERS_PER_DAY = 9_999
"""Customer ids reserve 4 digits per day (yyyymmdd * 10,000 + i)."""

_ENV_VARS = {
    "seed": "PLATFORM_DEMO_SEED",
    "orders_per_day": "PLATFORM_DEMO_ORDERS_PER_DAY",
    "customers_per_day": "PLATFORM_DEMO_CUSTOMERS_PER_DAY",
    "defect_rate": "PLATFORM_DEMO_DEFECT_RATE",
}

_LIMITS: dict[str, tuple[float, float]] = {
    "seed": (0, 2**63 - 1),
    "orders_per_day": (0, MAX_ORDERS_PER_DAY),
    "customers_per_day": (1, MAX_CUSTOMERS_PER_DAY),
    "defect_rate": (0.0, 1.0),
}


def _check_range(label: str, field_name: str, value: float) -> None:
    """Reject out-of-range values early, naming what the user actually set."""
    low, high = _LIMITS[field_name]
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{label} must be a finite number, got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{label} must be between {low} and {high}, got {value!r}")


def _parse(var: str, raw: str, kind: type) -> int | float:
    """Parse one environment value; the error names the variable so misconfigs are obvious."""
    try:
        return kind(raw.strip())
    except ValueError as exc:
        raise ValueError(
            f"{var} must be {'an integer' if kind is int else 'a number'}, got {raw!r}"
        ) from exc


@dataclass(frozen=True)
class DemoConfig:
    """Knobs of the seeded demo company; hashable so it can key caches."""

    seed: int = 7
    orders_per_day: int = 200
    customers_per_day: int = 10
    defect_rate: float = 0.0

    def __post_init__(self) -> None:
        for f in fields(self):
            _check_range(f.name, f.name, getattr(self, f.name))

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> DemoConfig:
        """Build from ``PLATFORM_DEMO_*`` variables; unset ones keep their defaults."""
        kwargs: dict[str, int | float] = {}
        for f in fields(cls):
            var = _ENV_VARS[f.name]
            raw = env.get(var)
            if raw is None or raw.strip() == "":
                continue
            value = _parse(var, raw, float if f.name == "defect_rate" else int)
            _check_range(var, f.name, value)
            kwargs[f.name] = value
        return cls(**kwargs)

    def to_env(self) -> dict[str, str]:
        """Inverse of ``from_env``: the variables a child process needs to rebuild this config."""
        return {_ENV_VARS[f.name]: repr(getattr(self, f.name)) for f in fields(self)}


def demo_source_db_url(env: Mapping[str, str] = os.environ) -> str:
    """The storefront database: PLATFORM_SOURCE_DB_URL, else SQLite under the platform home.
    defs/storefront_db/defs.yaml reads the same variable with the same default."""
    from platform_assets.home import platform_home

    default = f"sqlite:///{platform_home(env) / 'demo' / 'storefront.db'}"
    return env.get("PLATFORM_SOURCE_DB_URL", default)


def demo_landing_dir(env: Mapping[str, str] = os.environ) -> str:
    """Where the agency drops land (defs/agency_drops/defs.yaml reads the same variable)."""
    from platform_assets.home import platform_home

    return env.get("PLATFORM_LANDING_DIR", str(platform_home(env) / "landing"))
