"""Data contracts: one YAML file per table, the single source of truth."""

from platform_assets.contracts.loader import (
    ContractError,
    catalog,
    contracts,
    load_contracts,
    use_defs_dir,
)
from platform_assets.contracts.model import Column, Contract, Freshness

__all__ = [
    "Column",
    "Contract",
    "ContractError",
    "Freshness",
    "catalog",
    "contracts",
    "load_contracts",
    "use_defs_dir",
]
