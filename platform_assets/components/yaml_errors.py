"""Mistakes in a defs.yaml, said clearly: at the key's place, with what is allowed there.

Dagster validates a component's YAML against a schema in which every field also accepts a
template string; pydantic's errors then list that alternative, name internal model classes
and repeat the input (which may be a secret written where a variable name belongs). This
keeps the error that was meant, names the allowed keys (with a "did you mean"), and never
repeats a mapping or a value written into a ``*_env`` field.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from functools import cache
from typing import Any, get_args

from pydantic import BaseModel, ValidationError, create_model, model_validator

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


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
