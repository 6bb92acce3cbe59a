"""The result schema (``schemas/result.schema.json``) applied to posted JSON results.

jsonschema takes milliseconds per result, so a hand-compiled check of the same schema decides the
common case: it is used only when the schema file has exactly the shape it knows (checked on load,
with every limit read from the file), and it only ever says "valid". Anything it does not accept goes
to jsonschema, which has the last word; its error becomes one plain sentence naming the field, never
the value (results carry patient data).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any, TypeVar

import jsonschema
from jsonschema.exceptions import ValidationError, best_match

from relay.config import load_schema

log = logging.getLogger("relay.ingest")

__all__ = ["by_names", "field", "kind_of", "schema_problem", "short"]

_T = TypeVar("_T")


def by_names(fn: Callable[[tuple[str, ...]], _T]) -> Callable[[tuple[str, ...]], _T]:
    """Remember ``fn`` per set of field names: results from one system share them. Only modest
    name sets are remembered, so the memory held stays small whatever callers send."""
    cached = lru_cache(maxsize=256)(fn)

    def call(names: tuple[str, ...]) -> _T:
        if len(names) <= 300 and sum(map(len, names)) <= 8192:
            return cached(names)
        return fn(names)

    return call


@lru_cache(maxsize=None)
def _validator(flat: bool) -> jsonschema.Draft202012Validator:
    schema = load_schema("result.schema.json")
    if flat:
        schema = {**schema, "$ref": "#/$defs/flatResult"}
    return jsonschema.Draft202012Validator(schema)


class _FastCheck:
    """The schema compiled by hand (see the module's description)."""

    def __init__(self, defs: dict[str, Any]) -> None:
        name, text, obj, lst, result = defs["fieldName"], defs["text"], defs["object"], defs["list"], defs["result"]
        self.name_min, self.name_max = name["minLength"], name["maxLength"]
        self.name_pattern = re.compile(name["pattern"])
        self.text_max = text["maxLength"]
        self.object_max, self.list_max = obj["maxProperties"], lst["maxItems"]
        self.result_min, self.result_max = result["minProperties"], result["maxProperties"]
        if _schema_shape(self) != defs:
            raise ValueError("the result schema has a shape the fast check does not know")
        self._names_of = by_names(self._names_tuple)

    def _names_tuple(self, keys: tuple[str, ...]) -> bool:
        lo, hi, pattern = self.name_min, self.name_max, self.name_pattern
        return all(lo <= len(key) <= hi and pattern.search(key) for key in keys)

    def _names(self, obj: dict[str, Any]) -> bool:
        return bool(self._names_of(tuple(obj)))

    def _scalar(self, value: Any) -> bool:
        kind = type(value)
        if kind is str:
            return len(value) <= self.text_max
        return value is None or kind is bool or kind is int or kind is float

    def _value(self, value: Any) -> bool:
        if isinstance(value, dict):
            return len(value) <= self.object_max and self._names(value) and all(map(self._value, value.values()))
        if isinstance(value, list):
            return len(value) <= self.list_max and all(map(self._value, value))
        return self._scalar(value)

    def valid(self, obj: dict[str, Any], flat: bool, text_only: bool) -> bool:
        if not (self.result_min <= len(obj) <= self.result_max and self._names(obj)):
            return False
        if text_only:  # the common case, checked in C loops
            return max(map(len, obj.values())) <= self.text_max
        return all(map(self._scalar if flat else self._value, obj.values()))


def _schema_shape(c: _FastCheck) -> dict[str, Any]:
    """The schema's $defs as _FastCheck understands them, rebuilt from its limits."""
    names = {"$ref": "#/$defs/fieldName"}
    plain = {"type": ["number", "boolean", "null"]}
    return {
        "fieldName": {"type": "string", "minLength": c.name_min, "maxLength": c.name_max,
                      "pattern": c.name_pattern.pattern},
        "text": {"type": "string", "maxLength": c.text_max},
        "scalar": {"anyOf": [{"$ref": "#/$defs/text"}, plain]},
        "value": {"anyOf": [{"$ref": "#/$defs/text"}, plain, {"$ref": "#/$defs/object"}, {"$ref": "#/$defs/list"}]},
        "object": {"type": "object", "maxProperties": c.object_max, "propertyNames": names,
                   "additionalProperties": {"$ref": "#/$defs/value"}},
        "list": {"type": "array", "maxItems": c.list_max, "items": {"$ref": "#/$defs/value"}},
        "result": {"type": "object", "minProperties": c.result_min, "maxProperties": c.result_max,
                   "propertyNames": names, "additionalProperties": {"$ref": "#/$defs/value"}},
        "flatResult": {"type": "object", "minProperties": c.result_min, "maxProperties": c.result_max,
                       "propertyNames": names, "additionalProperties": {"$ref": "#/$defs/scalar"}},
    }


@lru_cache(maxsize=None)
def _fast_check() -> _FastCheck | None:
    schema = load_schema("result.schema.json")
    try:
        if schema.get("$ref") != "#/$defs/result":
            raise ValueError("the result schema does not start at #/$defs/result")
        return _FastCheck(schema["$defs"])
    except (KeyError, TypeError, ValueError):
        log.warning("the result schema's shape is not the one the fast check knows; every posted result is "
                    "checked by jsonschema alone, which is much slower")
        return None


def schema_problem(obj: dict[str, Any], label: str, flat: bool, text_only: bool) -> str | None:
    """None when ``obj`` fits the schema (``flat``: the CSV-intake form), else a sentence starting
    with ``label``. ``text_only``: every value is known to be a string (the fast path's common case)."""
    fast = _fast_check()
    if fast is not None and fast.valid(obj, flat, text_only):
        return None
    error = best_match(_validator(flat).iter_errors(obj))
    return None if error is None else _describe(error, label)


def kind_of(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "text"
    if isinstance(value, bool):
        return "true/false"
    if value is None:
        return "null"
    return "a number"


def _path(parts: Iterable[Any]) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part + 1}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def short(name: str, limit: int = 60) -> str:
    return name if len(name) <= limit else name[: limit - 3] + "..."


def field(path: list[Any]) -> str:
    return f"field '{short(_path(path), 120)}'"


def _leaf(error: ValidationError) -> ValidationError:
    """Inside "any of" branches, the branch whose type fits the value says what is wrong."""
    while error.validator == "anyOf" and error.context:
        fitting = [e for e in error.context if e.validator != "type"]
        if not fitting:
            break
        found = best_match(fitting)
        if found is None:
            break
        error = found
    return error


def _describe(error: ValidationError, label: str) -> str:
    error = _leaf(error)
    path = list(error.absolute_path)
    where = f"{label}: {field(path)}" if path else label
    keyword = error.validator
    if "propertyNames" in error.absolute_schema_path:
        inside = f" in {field(path)}" if path else ""
        if keyword == "maxLength":
            return f"{label}: a field name{inside} is longer than {error.validator_value:,} characters"
        return f"{label}: a field name{inside} is empty"
    if keyword == "minProperties":
        return f"{where} is an empty object; a result needs at least one field"
    if keyword == "maxProperties":
        count = len(error.instance)
        return f"{where} has {count:,} fields, more than the {error.validator_value:,} relay takes"
    if keyword == "maxLength":
        return f"{where} is longer than {error.validator_value:,} characters"
    if keyword == "maxItems":
        return f"{where} is a list of more than {error.validator_value:,} values"
    if keyword in ("anyOf", "type"):
        return f"{where} is {kind_of(error.instance)}, which a result cannot hold there"
    return f"{where} is not valid ({keyword})"
