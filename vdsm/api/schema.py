"""The API schema: loading, lookup by either name, and argument validation.

Validation is always strict: a missing required parameter, an unknown one
or one of the wrong type is refused before any subsystem sees the call.
"""

from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from vdsm.common.errors import InvalidParameter, MissingParameter

SCHEMA_DIR = os.path.join(os.path.dirname(__file__), "schema")

TYPES = ("string", "int", "bool", "float", "object", "list", "any", "uuid")
_UUID_RE = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
    r"[0-9a-fA-F]{12}$")
_INT_RE = re.compile(r"^-?[0-9]+$")
_NO_DEFAULT = object()


class SchemaError(Exception):
    """The schema file itself is wrong (a programming error)."""


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    optional: bool = False
    default: Any = None
    secret: bool = False
    items: str | None = None
    enum: tuple[Any, ...] | None = None
    description: str = ""

    def validate(self, verb: str, value: Any) -> Any:
        """Return the value, normalized; raise InvalidParameter if wrong."""
        value = _check_type(self.type, value, f"{verb}: parameter {self.name!r}")
        if self.type == "list" and self.items:
            value = [_check_type(self.items, item,
                                 f"{verb}: item of parameter {self.name!r}")
                     for item in value]
        if self.enum is not None and value not in self.enum:
            raise InvalidParameter(
                f"Invalid parameter: {verb}: {self.name!r} must be one of "
                f"{', '.join(map(str, self.enum))}, got {value!r}")
        return value


@dataclass(frozen=True)
class Verb:
    name: str
    classic: str | None
    params: tuple[Param, ...]
    classic_params: tuple[str, ...]
    payload: str | None = None
    returns: str | None = None
    description: str = ""
    cli: str = "positional"
    inline: bool = False
    _by_name: dict[str, Param] = field(default_factory=dict, compare=False,
                                       repr=False)

    @property
    def namespace(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def method(self) -> str:
        return self.name.split(".", 1)[1]

    def param(self, name: str) -> Param | None:
        return self._by_name.get(name)

    def bind_positional(self, args: list[Any] | tuple[Any, ...]) -> dict[str, Any]:
        """Map classic positional arguments to parameter names."""
        order = self.classic_params
        if len(args) > len(order):
            raise InvalidParameter(
                f"Invalid parameter: {self.label} takes at most {len(order)} "
                f"argument(s) ({', '.join(order) or 'none'}), got {len(args)}")
        return dict(zip(order[:len(args)], args, strict=True))

    def validate(self, args: dict[str, Any]) -> dict[str, Any]:
        """Check named arguments; return them complete with defaults."""
        unknown = sorted(set(args) - set(self._by_name))
        if unknown:
            raise InvalidParameter(
                f"Invalid parameter: {self.label} has no parameter "
                f"{unknown[0]!r}")
        result: dict[str, Any] = {}
        for param in self.params:
            if param.name in args:
                result[param.name] = param.validate(self.label, args[param.name])
            elif param.optional:
                result[param.name] = param.default
            else:
                raise MissingParameter(
                    f"Missing required parameter: {self.label} needs "
                    f"{param.name!r}")
        return result

    @property
    def label(self) -> str:
        if self.classic:
            return f"{self.classic} ({self.name})"
        return self.name


def _check_type(kind: str, value: Any, where: str) -> Any:
    def wrong() -> InvalidParameter:
        return InvalidParameter(
            f"Invalid parameter: {where} must be {_article(kind)}, got "
            f"{type(value).__name__} {_short(value)}")

    if kind == "any":
        return value
    if kind == "string":
        if not isinstance(value, str):
            raise wrong()
    elif kind == "uuid":
        if not isinstance(value, str) or not _UUID_RE.match(value):
            raise wrong()
    elif kind == "int":
        if isinstance(value, bool):
            raise wrong()
        if isinstance(value, str) and _INT_RE.match(value.strip()):
            return int(value)
        if not isinstance(value, int):
            raise wrong()
    elif kind == "bool":
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if not isinstance(value, bool):
            raise wrong()
    elif kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            if isinstance(value, str):
                try:
                    return float(value)
                except ValueError:
                    raise wrong() from None
            raise wrong()
        return float(value)
    elif kind == "object":
        if not isinstance(value, dict):
            raise wrong()
    elif kind == "list":
        if not isinstance(value, (list, tuple)):
            raise wrong()
        return list(value)
    return value


def _article(kind: str) -> str:
    return {"int": "an integer", "object": "a struct", "list": "a list",
            "any": "anything", "uuid": "a UUID string"}.get(kind, f"a {kind}")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class Schema:
    """Every verb, looked up by namespaced or classic name."""

    def __init__(self, verbs: list[Verb]) -> None:
        self.verbs = verbs
        self._by_name: dict[str, Verb] = {}
        for verb in verbs:
            for key in (verb.name, verb.classic):
                if key is None:
                    continue
                if key in self._by_name:
                    raise SchemaError(f"duplicate verb name {key!r}")
                self._by_name[key] = verb

    def get(self, name: str) -> Verb | None:
        return self._by_name.get(name)

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def classic_names(self) -> list[str]:
        return sorted(v.classic for v in self.verbs if v.classic)


def _parse_param(verb: str, raw: dict[str, Any]) -> Param:
    kind = raw.get("type")
    if kind not in TYPES:
        raise SchemaError(f"{verb}: parameter {raw.get('name')!r} has bad type "
                          f"{kind!r}")
    items = raw.get("items")
    if items is not None and items not in TYPES:
        raise SchemaError(f"{verb}: bad item type {items!r}")
    enum = raw.get("enum")
    return Param(
        name=raw["name"], type=kind, optional=bool(raw.get("optional", False)),
        default=raw.get("default"), secret=bool(raw.get("secret", False)),
        items=items, enum=tuple(enum) if enum is not None else None,
        description=" ".join(str(raw.get("description", "")).split()))


def parse(data: dict[str, Any]) -> Schema:
    verbs = []
    for raw in data.get("verbs") or []:
        name = raw["name"]
        if name.count(".") != 1:
            raise SchemaError(f"verb name {name!r} is not Namespace.verb")
        params = tuple(_parse_param(name, p) for p in raw.get("params") or [])
        names = [p.name for p in params]
        listed = list(raw.get("classic_params") or [])
        if len(set(listed)) != len(listed) or not set(listed) <= set(names):
            raise SchemaError(f"{name}: classic_params must name params once")
        classic_params = tuple(listed + [n for n in names if n not in listed])
        verb = Verb(
            name=name, classic=raw.get("classic"), params=params,
            classic_params=classic_params, payload=raw.get("payload"),
            returns=raw.get("returns"),
            description=" ".join(str(raw.get("description", "")).split()),
            cli=raw.get("cli", "positional"),
            inline=bool(raw.get("inline", False)))
        verb._by_name.update({p.name: p for p in params})
        verbs.append(verb)
    return Schema(verbs)


_cache: dict[str, Schema] = {}


def load(path: str = SCHEMA_DIR) -> Schema:
    """Load (once per process) and check the schema: a file, or a directory
    whose ``*.yaml`` files are merged in name order."""
    if path not in _cache:
        if os.path.isdir(path):
            files = sorted(glob.glob(os.path.join(path, "*.yaml")))
        else:
            files = [path]
        verbs: list[dict[str, Any]] = []
        for name in files:
            with open(name) as f:
                verbs += (yaml.safe_load(f) or {}).get("verbs") or []
        _cache[path] = parse({"verbs": verbs})
    return _cache[path]
