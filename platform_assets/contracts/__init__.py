"""Data contracts: one YAML file per table, the single source of truth."""

from platform_assets.contracts.loader import ContractError, contracts, load_contracts
from platform_assets.contracts.model import Column, Contract, Freshness

__all__ = ["Column", "Contract", "ContractError", "Freshness", "contracts", "load_contracts"]
