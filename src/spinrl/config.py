"""Config dataclasses from untrusted input: command-line text, JSON, keyword arguments.

Values are parsed with ``ast.literal_eval`` (literals only: numbers, strings, lists, tuples,
booleans, None; never code), then checked and converted against the field's annotation.
A mistake raises ConfigError naming the field and what was expected.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import types
import typing
from typing import Any

from spinrl.errors import ConfigError


def parse_literal(text: str) -> Any:
    """'3' -> 3, '1e-3' -> 0.001, '[64,64]' -> [64, 64], 'true' -> True, 'tanh' -> 'tanh'."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        if text.strip()[:1] in "[(":
            raise ConfigError(f"malformed value {text!r}") from None
        return text


def field_types(config_cls) -> dict[str, Any]:
    hints = typing.get_type_hints(config_cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(config_cls)}


def _describe(tp) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def coerce(name: str, value: Any, tp) -> Any:
    """Check ``value`` against the annotation ``tp`` and convert it where that is lossless."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(tp)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return coerce(name, value, option)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if errors else f"{name}: bad value {value!r}")
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    elif origin is tuple:
        (item,) = typing.get_args(tp)[:1]
        if isinstance(value, int) and not isinstance(value, bool):
            value = [value]
        if isinstance(value, list | tuple):
            return tuple(coerce(name, v, item) for v in value)
    raise ConfigError(f"{name} must be {_describe(tp)}, got {value!r}")


def unknown_field_message(name: str, config_cls) -> str:
    names = [f.name for f in dataclasses.fields(config_cls)]
    close = difflib.get_close_matches(name, names, n=1)
    hint = f"; did you mean {close[0]}?" if close else ""
    return f"unknown field {name!r} for {config_cls.__module__.split('.')[-1]}{hint}"


def build_config(config_cls, values: dict[str, Any]):
    """``config_cls(**values)`` with every value checked; ConfigError on the first problem."""
    types_ = field_types(config_cls)
    kwargs = {}
    for name, value in values.items():
        if name not in types_:
            raise ConfigError(unknown_field_message(name, config_cls))
        kwargs[name] = coerce(name, value, types_[name])
    return config_cls(**kwargs)


def field_docs(config_cls) -> dict[str, str]:
    """The 'name: text' lines of a Config's docstring and of the classes it extends (the
    shared fields are documented once, in spinrl.run.RunConfig), as {name: text}."""
    docs: dict[str, str] = {}
    names = set(field_types(config_cls))
    for klass in reversed(config_cls.__mro__):
        current = None
        for line in (klass.__doc__ or "").splitlines():
            stripped = line.strip()
            head, sep, rest = stripped.partition(":")
            if sep and head in names:
                current = head
                docs[head] = rest.strip()
            elif current and stripped:
                docs[current] += " " + stripped
            else:
                current = None
    return docs
