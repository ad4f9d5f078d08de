"""What every component type shares: finding its contracts, strict templates, env names.

A component is one folder of ``defs/``: its ``defs.yaml`` and the contracts beside it. The
contracts of the whole defs folder form the catalog (foreign keys and lineage cross folders).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from platform_assets.components.yaml_errors import ENV_NAME, ClearYamlErrors
from platform_assets.contracts import Contract, catalog
from platform_assets.home import platform_home


class ConfigError(ValueError):
    """A component's configuration is wrong; the message names the file and the field."""


class StrictEnv:
    """``{{ env.X }}`` and ``{{ env('X', 'default') }}`` in defs.yaml, resolved when the
    definitions load. Unlike Dagster's default scope, ``env.X`` of an unset variable is an
    error naming it, not a silent None. Secrets never go through here (``*_env`` fields)."""

    def __call__(self, name: str, default: Any = ...) -> Any:
        value = os.environ.get(name, default)
        if value is ...:
            raise ConfigError(f"environment variable {name} is not set (and no default given)")
        return value

    def __getattr__(self, name: str) -> str:
        if name.startswith(("jinja", "_")):  # jinja probes attributes of scope objects
            raise AttributeError(name)
        return self(name)


def template_scope() -> dict[str, Any]:
    """``env`` (strict) and ``home`` (the platform home: PLATFORM_HOME) for defs.yaml."""
    return {"env": StrictEnv(), "home": str(platform_home())}


def env_name(value: str | None, where: str) -> str | None:
    """A field naming an environment variable must hold a name, never the secret itself."""
    if value is not None and not ENV_NAME.match(value):
        raise ValueError(f"{where} must name an environment variable (e.g. MY_API_TOKEN)")
    return value


class Located:
    """Where a component lives, for contracts and messages."""

    def __init__(self, context: dg.ComponentLoadContext) -> None:
        self.folder = Path(context.path)
        self.defs_dir = Path(context.defs_module_path).resolve()
        self.catalog: Mapping[str, Contract] = catalog(self.defs_dir)
        self.file = self.folder / "defs.yaml"

    @property
    def name(self) -> str:
        """The folder's name: the source system, and the resource key of its connection."""
        return self.folder.name

    def where(self, field: str) -> str:
        return f"{self.relative(self.file)}: attributes.{field}"

    def relative(self, path: Path) -> str:
        return path.resolve().relative_to(self.defs_dir.parent).as_posix()

    def contract(self, file: str, field: str) -> Contract:
        """The contract in ``file`` (relative to this folder)."""
        path = (self.folder / file).resolve()
        name = path.relative_to(self.defs_dir).as_posix() if path.is_relative_to(
            self.defs_dir
        ) else file  # fmt: skip
        for contract in self.catalog.values():
            if contract.source_file == name:
                return contract
        here = sorted(c.source_file for c in self.catalog.values())
        raise ConfigError(
            f"{self.where(field)}: no contract file {file!r} in {self.relative(self.folder)}; "
            f"contracts found: {here}"
        )


class ContractTable(dg.Resolvable, dg.Model):
    """Fields every source table has."""

    contract: str = Field(
        description="The table's contract file, relative to this folder (e.g. tickets.yaml): "
        "columns, types, keys, rules, owner, freshness. Its `table` names the asset."
    )


class PlatformComponent(ClearYamlErrors, dg.Component, dg.Resolvable, dg.Model):
    """The base of this platform's component types: clear errors for their YAML, and the
    strict template scope (``env``, ``home``)."""

    @classmethod
    def get_additional_scope(cls) -> dict[str, Any]:
        return template_scope()
