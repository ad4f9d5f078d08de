"""What every component type shares: finding its contracts, strict templates, env names.

A component is one folder of ``defs/``: its ``defs.yaml`` and the contracts beside it. The
contracts of the whole defs folder form the catalog (foreign keys and lineage cross folders).
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any, get_args

import dagster as dg
from pydantic import BaseModel, Field, ValidationError, create_model, model_validator

from platform_assets.contracts import Contract, catalog
from platform_assets.home import platform_home

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


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


NOT_SHOWN = "(not shown)"


class ClearYamlErrors:
    """First base of a component type: a mistake in its defs.yaml is reported at the key's
    path (Dagster adds file:line) with what is allowed there, and a value written where a
    variable *name* belongs (``*_env``) is refused without being repeated in the message."""

    @classmethod
    def get_model_cls(cls) -> type[BaseModel] | None:
        model = super().get_model_cls()  # type: ignore[misc]
        return _explained(model) if model is not None else None


@cache
def _explained(model: type[BaseModel]) -> type[BaseModel]:
    """``model`` (Dagster's schema of the YAML) with its validation errors made clear."""

    def explain(cls: type[BaseModel], data: Any, handler: Any) -> Any:
        secrets = list(_literal_secrets(model, data, ()))
        try:
            value = handler(data)
        except ValidationError as exc:
            errors = [e for e in (_clear(model, data, error) for error in exc.errors()) if e]
            raise ValidationError.from_exception_data(exc.title, secrets + errors) from None
        if secrets:
            raise ValidationError.from_exception_data(model.__name__, secrets)
        return value

    validator = model_validator(mode="wrap")(explain)  # type: ignore[arg-type]
    return create_model(model.__name__, __base__=model, __validators__={"_explain": validator})


def _clear(model: type[BaseModel], data: Any, error: Any) -> dict[str, Any] | None:
    """The error at the key's place in the file, without the union tags Dagster's schema adds
    (every field also accepts a template string: that alternative's errors are dropped)."""
    loc: list[str | int] = []
    here = data
    for index, item in enumerate(error["loc"]):
        if isinstance(here, dict) and item in here:
            here = here[item]
        elif isinstance(here, list | tuple) and isinstance(item, int) and item < len(here):
            here = here[item]
        elif item == "str":
            return None  # the template-string alternative: not what was meant
        elif not (error["type"] == "missing" and index == len(error["loc"]) - 1):
            continue  # a union member's tag (e.g. ConnectionModel), not a key of the file
        loc.append(item)
    hidden = error["type"] in ("missing", "extra_forbidden") or isinstance(
        error["input"], dict | list
    )  # a mapping may hold a secret written where it does not belong
    cleared = {**error, "loc": tuple(loc), "input": NOT_SHOWN if hidden else error["input"]}
    if error["type"] == "extra_forbidden":
        allowed = _fields_at(model, loc[:-1])
        near = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        message = f"unknown field {loc[-1]!r}{hint}; allowed here: {', '.join(allowed)}"
        cleared.update(_message(message))
    return cleared


def _message(text: str) -> dict[str, Any]:
    """An error of ours, as a type Dagster can re-raise (it rebuilds errors by type name)."""
    return {"type": "value_error", "ctx": {"error": ValueError(text)}}


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return next(filter(None, (_model_in(arg) for arg in get_args(annotation))), None)


def _fields_at(model: type[BaseModel], loc: list[str | int]) -> list[str]:
    current: type[BaseModel] | None = model
    for item in loc:
        if isinstance(item, str) and current is not None:
            field = current.model_fields.get(item)
            current = _model_in(field.annotation) if field else None
    return sorted(current.model_fields) if current is not None else []


def _literal_secrets(model: type[BaseModel], data: Any, loc: tuple) -> Iterator[dict[str, Any]]:
    """``*_env`` fields holding something that is not a variable name (a secret, a URL)."""
    if not isinstance(data, dict):
        return
    for name, value in data.items():
        field = model.model_fields.get(name)
        if field is None:
            continue
        if (
            name.endswith("_env")
            and isinstance(value, str)
            and "{{" not in value
            and not ENV_NAME.match(value)
        ):
            yield {
                **_message(
                    "must name an environment variable (e.g. MY_API_TOKEN) that holds the "
                    "value, not the value itself (it is not repeated here)"
                ),
                "loc": (*loc, name),
                "input": NOT_SHOWN,
            }
        nested = _model_in(field.annotation)
        if nested is not None and isinstance(value, list):
            for index, item in enumerate(value):
                yield from _literal_secrets(nested, item, (*loc, name, index))
        elif nested is not None:
            yield from _literal_secrets(nested, value, (*loc, name))


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
