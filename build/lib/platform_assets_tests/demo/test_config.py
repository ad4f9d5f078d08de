from __future__ import annotations

import pytest

from platform_assets.demo.config import DemoConfig


def test_from_env_defaults_when_unset() -> None:
    assert DemoConfig.from_env({}) == DemoConfig()


def test_to_env_round_trips() -> None:
    cfg = DemoConfig(seed=11, orders_per_day=1234, customers_per_day=3, defect_rate=0.1)
    assert DemoConfig.from_env(cfg.to_env()) == cfg


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("PLATFORM_DEMO_SEED", "seven"),
        ("PLATFORM_DEMO_SEED", "-1"),
        ("PLATFORM_DEMO_ORDERS_PER_DAY", "1.5"),
        ("PLATFORM_DEMO_ORDERS_PER_DAY", "50000000"),
        ("PLATFORM_DEMO_CUSTOMERS_PER_DAY", "0"),
        ("PLATFORM_DEMO_DEFECT_RATE", "1.5"),
        ("PLATFORM_DEMO_DEFECT_RATE", "nan"),
        ("PLATFORM_DEMO_DEFECT_RATE", "lots"),
    ],
)
def test_from_env_rejects_bad_values_naming_the_variable(var: str, value: str) -> None:
    with pytest.raises(ValueError, match=var):
        DemoConfig.from_env({var: value})


def test_constructor_validates() -> None:
    with pytest.raises(ValueError, match="defect_rate"):
        DemoConfig(defect_rate=-0.1)
