"""Turning command-line strings into verb arguments, driven by the schema.

Each parameter's schema type says how its text is read: ``int`` decimal,
``bool`` true/false, ``object`` and ``list`` JSON (a list of scalars also as
``a,b,c``), ``any`` JSON when it parses and the text itself otherwise.
Names, enums and UUID formats are left to the agent, which validates every
call strictly anyway.

Verbs marked ``cli: keyvalue`` take their struct the classic ``create``
way: a file of ``key=value`` lines (``/dev/null`` for none, ``-`` for
stdin), then ``key=value`` pairs that override the file. Verbs marked
``cli: pairs`` take only the pairs (the classic ``migrate`` syntax).
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any, Callable

from vdsm.api.schema import Param, Verb
from vdsm_cli.errors import UsageError

_INT_RE = re.compile(r"^[+-]?[0-9]+$")
_SCALARS = ("string", "uuid", "int", "bool", "float")

StructHook = Callable[[dict[str, Any]], dict[str, Any]]
_struct_hooks: dict[str, StructHook] = {}


def register_struct_hook(verb_name: str, hook: StructHook) -> None:
    """Let a keyvalue verb (by namespaced name) reshape its collected struct.

    For verb-specific conventions such as the classic ``drive=k:v,k:v``.
    """
    _struct_hooks[verb_name] = hook


def convert(param: Param, text: str) -> Any:
    """The value of ``param`` given as ``text``; UsageError if unreadable."""
    return _convert(param.type, text, param.name, items=param.items)


def _convert(kind: str, text: str, name: str, *, items: str | None = None) -> Any:
    if kind in ("string", "uuid"):
        return text
    if kind == "int":
        if not _INT_RE.match(text.strip()):
            raise UsageError(f"argument {name}: {text!r} is not a decimal integer")
        return int(text)
    if kind == "bool":
        lowered = text.strip().lower()
        if lowered not in ("true", "false"):
            raise UsageError(f"argument {name}: {text!r} is not true or false")
        return lowered == "true"
    if kind == "float":
        try:
            return float(text)
        except ValueError:
            raise UsageError(f"argument {name}: {text!r} is not a number") from None
    if kind == "object":
        return _json(text, name, dict, "a JSON object")
    if kind == "list":
        if text.lstrip().startswith("[") or (items or "any") not in _SCALARS:
            return _json(text, name, list, "a JSON list")
        parts = [p.strip() for p in text.split(",")] if text.strip() else []
        return [_convert(items or "string", p, name) for p in parts]
    # "any": JSON when it is JSON, else the text as given.
    try:
        return json.loads(text)
    except ValueError:
        return text


def _json(text: str, name: str, kind: type, what: str) -> Any:
    try:
        value = json.loads(text)
    except ValueError as e:
        raise UsageError(f"argument {name}: not valid JSON ({e})") from None
    if not isinstance(value, kind):
        raise UsageError(f"argument {name}: expected {what}, got "
                         f"{type(value).__name__}")
    return value


def build(verb: Verb, argv: list[str]) -> list[Any]:
    """The positional arguments (classic order) for a call of ``verb``."""
    if verb.cli in ("keyvalue", "pairs"):
        return _build_keyvalue(verb, argv)
    return _build_positional(verb, verb.classic_params, argv)


def _build_positional(verb: Verb, order: tuple[str, ...] | list[str],
                      argv: list[str]) -> list[Any]:
    if len(argv) > len(order):
        raise UsageError(
            f"{verb.label} takes at most {len(order)} argument(s) "
            f"({', '.join(order) or 'none'}), got {len(argv)}")
    missing = [n for n in order[len(argv):] if not _param(verb, n).optional]
    if missing:
        raise UsageError(f"{verb.label}: missing argument(s): "
                         f"{', '.join(missing)}")
    return [convert(_param(verb, n), text)
            for n, text in zip(order, argv, strict=False)]


def _build_keyvalue(verb: Verb, argv: list[str]) -> list[Any]:
    order = list(verb.classic_params)
    target = next((n for n in order if _param(verb, n).type == "object"), None)
    if target is None:
        raise UsageError(f"{verb.label}: keyvalue verb without a struct "
                         "parameter (schema error)")
    index = order.index(target)
    after = [n for n in order[index + 1:] if not _param(verb, n).optional]
    if after:
        raise UsageError(f"{verb.label}: parameters after {target} "
                         f"({', '.join(after)}) cannot be given here")
    before = order[:index]
    if verb.cli == "pairs":
        args = _build_positional(verb, before, argv[:len(before)])
        return args + [collect_pairs(argv[len(before):],
                                     where="command line")]
    if len(argv) <= len(before):
        raise UsageError(
            f"{verb.label} needs {' '.join(before + ['FILE'])} [key=value ...]"
            " (FILE holds key=value lines; /dev/null for none)")
    args = _build_positional(verb, before, argv[:len(before)])
    path, pairs = argv[len(before)], argv[len(before) + 1:]
    struct = read_keyvalue_file(path)
    struct.update(collect_pairs(pairs, where="command line"))
    hook = _struct_hooks.get(verb.name)
    if hook is not None:
        struct = hook(struct)
    return args + [struct]


def read_keyvalue_file(path: str) -> dict[str, Any]:
    """``key=value`` lines of a file (``-``: stdin); # comments are skipped."""
    try:
        if path == "-":
            text = sys.stdin.read()
        else:
            with open(path) as f:
                text = f.read()
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror}") from None
    pairs: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if "=" not in line:
            raise UsageError(f"{path}:{number}: expected key=value, got {line!r}")
        pairs.append(line)
    return collect_pairs(pairs, where=path)


def collect_pairs(pairs: list[str], *, where: str) -> dict[str, Any]:
    """``key=value`` strings as a struct.

    A value starting with ``{`` or ``[`` is JSON; anything else stays a
    string (the agent converts, as the classic one did). A key given more
    than once collects its values into a list.
    """
    struct: dict[str, Any] = {}
    repeated: set[str] = set()
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"{where}: expected key=value, got {pair!r}")
        value = _pair_value(key, text.strip())
        if key in struct:
            if key not in repeated:
                struct[key] = [struct[key]]
                repeated.add(key)
            struct[key].append(value)
        else:
            struct[key] = value
    return struct


def _pair_value(key: str, text: str) -> Any:
    if text.startswith(("{", "[")):
        try:
            return json.loads(text)
        except ValueError as e:
            raise UsageError(f"{key}: not valid JSON ({e})") from None
    return text


def _param(verb: Verb, name: str) -> Param:
    param = verb.param(name)
    if param is None:  # parse() guarantees classic_params lists params
        raise UsageError(f"{verb.label}: unknown parameter {name!r}")
    return param
