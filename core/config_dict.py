"""Strict dict -> dataclass conversion, the one loader of every config read from a file.

The training configs (YAML, ``training/config.py``) and the model configs stored in weight cards
(``inference/models``) are dataclasses; :func:`from_dict` builds one from parsed data, converting
each value to its field's annotated type (nested dataclasses, tuples, lists, dicts, unions) and
raising :class:`VideoMocapError` that names the key, its section and the file for an unknown key or
a value of the wrong type, so a typo never silently runs with a default. :func:`to_dict` is the way
back (JSON-ready: tuples as lists, paths as strings).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any

from .errors import VideoMocapError


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def _convert(value: Any, tp: Any, where: str, source: str) -> Any:
    """Convert a YAML value to the annotated type ``tp``; raise a clear error otherwise."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(value, arg, where, source)
            except VideoMocapError as exc:
                errors.append(str(exc))
        raise VideoMocapError(errors[0] if errors else f"{source}: '{where}' has an invalid value {value!r}.")
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise VideoMocapError(f"{source}: section '{where}' must be a mapping of keys, got {value!r}.")
        return from_dict(tp, value, where=where, source=source)
    if origin in (tuple,):
        if not isinstance(value, (list, tuple)):
            raise VideoMocapError(f"{source}: '{where}' must be a list, got {value!r}.")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(v, args[0], f"{where}[{i}]", source) for i, v in enumerate(value))
        if args and len(args) != len(value):
            raise VideoMocapError(f"{source}: '{where}' must have {len(args)} values, got {len(value)}.")
        return tuple(_convert(v, a, f"{where}[{i}]", source) for i, (v, a) in enumerate(zip(value, args or [Any] * len(value))))
    if origin in (list,) or tp is list:
        if not isinstance(value, (list, tuple)):
            raise VideoMocapError(f"{source}: '{where}' must be a list, got {value!r}.")
        inner = args[0] if args else Any
        return [_convert(v, inner, f"{where}[{i}]", source) for i, v in enumerate(value)]
    if origin in (dict,) or tp is dict:
        if not isinstance(value, dict):
            raise VideoMocapError(f"{source}: '{where}' must be a mapping, got {value!r}.")
        if len(args) == 2:
            return {
                _convert(k, args[0], f"{where}.{k}", source): _convert(v, args[1], f"{where}.{k}", source)
                for k, v in value.items()
            }
        return dict(value)
    if tp is bool:
        if not isinstance(value, bool):
            raise VideoMocapError(f"{source}: '{where}' must be true or false, got {value!r}.")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise VideoMocapError(f"{source}: '{where}' must be an integer, got {value!r}.")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise VideoMocapError(f"{source}: '{where}' must be a number, got {value!r}.")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise VideoMocapError(f"{source}: '{where}' must be a string, got {value!r}.")
        return value
    if isinstance(tp, type) and not isinstance(value, tp):
        raise VideoMocapError(f"{source}: '{where}' must be of type {_type_name(tp)}, got {value!r}.")
    return value


def from_dict(cls: type, data: dict, where: str = "", source: str = "config") -> Any:
    """Build dataclass ``cls`` from ``data``; unknown keys raise :class:`VideoMocapError`."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = [key for key in data if key not in names]
    if unknown:
        section = f"section '{where}'" if where else "the top level"
        raise VideoMocapError(
            f"{source}: unknown keys in {section}: {', '.join(repr(str(k)) for k in unknown)}. "
            f"Allowed keys: {', '.join(sorted(names))}."
        )
    kwargs = {}
    for key, value in data.items():
        kwargs[key] = _convert(value, hints[key], f"{where}.{key}" if where else key, source)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise VideoMocapError(f"{source}: invalid values in {where or 'the top level'}: {exc}") from None


def to_dict(config: Any) -> dict:
    """Dataclass -> plain dict (tuples as lists), e.g. for the model card and ``config.json``."""

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {str(k): plain(v) for k, v in value.items()}
        if isinstance(value, Path):
            return str(value)
        return value

    return plain(config)
