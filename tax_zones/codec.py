"""JSON round trip of the frozen result types (quotes, reversals, resolutions).

Stored quotes must come back exactly as computed (their rates and amounts are
reused on commit and reversal, never re-rated), so decoding is driven by the
dataclasses' own type hints: ``Decimal`` stays ``Decimal``, enums stay enums.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from functools import cache
from typing import Any, TypeVar

import orjson

T = TypeVar("T")


@cache
def _field_names(cls: type) -> tuple[str, ...] | None:
    if not dataclasses.is_dataclass(cls):
        return None
    return tuple(f.name for f in dataclasses.fields(cls))


_SCALARS = (str, int, float, bool, type(None))


def to_jsonable(value: Any) -> Any:
    """Plain JSON types: Decimals and dates as strings, enums as their values."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, _SCALARS):
        return value
    names = _field_names(type(value))
    if names is not None:
        return {n: to_jsonable(getattr(value, n)) for n in names}
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [to_jsonable(v) for v in value]
    if isinstance(value, frozenset | set):
        return sorted(to_jsonable(v) for v in value)
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    return value


def _orjson_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, frozenset | set):
        return sorted(to_jsonable(v) for v in value)
    raise TypeError(f"cannot encode {type(value).__name__}")


_ORJSON_OPTIONS = orjson.OPT_NON_STR_KEYS


def dumps(value: Any) -> bytes:
    """``orjson.dumps(to_jsonable(value))`` without building the plain objects.

    orjson walks the dataclasses, enums, tuples and dates in C; only Decimals and
    sets come back to Python. Same bytes as the two-step form (a test compares
    them on real quotes), about 10x faster on a quote.
    """
    return orjson.dumps(value, default=_orjson_default, option=_ORJSON_OPTIONS)


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def from_jsonable(tp: Any, value: Any) -> Any:
    """Rebuild a value of type ``tp`` from :func:`to_jsonable`'s output."""
    if value is None:
        return None
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return from_jsonable(args[0], value) if len(args) == 1 else value
    if origin is tuple:
        args = typing.get_args(tp)
        item = args[0] if args else Any
        return tuple(from_jsonable(item, v) for v in value)
    if origin in (frozenset, set):
        (item,) = typing.get_args(tp) or (Any,)
        return frozenset(from_jsonable(item, v) for v in value)
    if origin is dict:
        _, vt = typing.get_args(tp)
        return {k: from_jsonable(vt, v) for k, v in value.items()}
    if isinstance(tp, type):
        if dataclasses.is_dataclass(tp):
            hints = _hints(tp)
            return tp(
                **{
                    f.name: from_jsonable(hints[f.name], value[f.name])
                    for f in dataclasses.fields(tp)
                    if f.name in value
                }
            )
        if issubclass(tp, Enum):
            return tp(value)
        if tp is Decimal:
            return Decimal(value)
        if tp is datetime:
            return datetime.fromisoformat(value)
        if tp is date:
            return date.fromisoformat(value)
    return value


def decode(cls: type[T], data: dict[str, Any]) -> T:
    """``from_jsonable`` for a top-level dataclass."""
    return typing.cast(T, from_jsonable(cls, data))
