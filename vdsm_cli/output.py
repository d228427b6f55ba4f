"""Printing answers: readable by default, JSON for scripts.

The default printer shows a payload as aligned ``key = value`` lines,
nested structs indented, lists of structs as blocks. A verb may register
its own formatter, and also named output modes picked by a leading word
on the command line (the classic ``list table``): ``register("VM.list",
print_table, mode="table")``. Formatters get the verb, the whole answer
(status included) and the stream to write to.
"""

from __future__ import annotations

import base64
import json
import xmlrpc.client
from typing import Any, Callable, TextIO

from vdsm.api.schema import Verb

Formatter = Callable[[Verb, dict[str, Any], TextIO], None]

_formatters: dict[tuple[str, str | None], Formatter] = {}
INDENT = 4


def register(verb_name: str, formatter: Formatter, *,
             mode: str | None = None) -> None:
    """Use ``formatter`` for the namespaced verb (for one ``mode``, or by default)."""
    _formatters[(verb_name, mode)] = formatter


def modes(verb: Verb) -> list[str]:
    """The named output modes registered for ``verb``."""
    return sorted(m for (name, m) in _formatters if name == verb.name and m)


def take_mode(verb: Verb, argv: list[str]) -> tuple[str | None, list[str]]:
    """Split a leading output-mode word off the verb's arguments."""
    if argv and argv[0] in modes(verb):
        return argv[0], argv[1:]
    return None, argv


def print_answer(verb: Verb, answer: dict[str, Any], out: TextIO, *,
                 mode: str | None = None) -> None:
    """Print a successful answer the way ``verb`` (and ``mode``) wants."""
    formatter = _formatters.get((verb.name, mode)) or default_formatter
    formatter(verb, answer, out)


def default_formatter(verb: Verb, answer: dict[str, Any], out: TextIO) -> None:
    """The payload readably, or the status message when there is none."""
    if verb.payload is None or verb.payload not in answer:
        out.write(f"{answer.get('status', {}).get('message', '')}\n")
        return
    for line in format_payload(answer[verb.payload]):
        out.write(line + "\n")


def print_json(answer: Any, out: TextIO) -> None:
    """The whole answer as JSON, values exactly as the agent sent them."""
    json.dump(answer, out, indent=2, sort_keys=True, default=_json_default)
    out.write("\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, xmlrpc.client.DateTime):
        return value.value
    raise TypeError(f"cannot show {type(value).__name__} as JSON")


def format_payload(value: Any) -> list[str]:
    """Lines for a payload: a struct, a list of structs, a list, a scalar."""
    if isinstance(value, dict):
        return format_struct(value)
    if isinstance(value, (list, tuple)):
        if any(isinstance(item, dict) for item in value):
            lines: list[str] = []
            for item in value:
                if lines:
                    lines.append("")
                lines += format_payload(item)
            return lines
        return [scalar(item) for item in value]
    return [scalar(value)]


def format_struct(struct: dict[str, Any], indent: int = 0) -> list[str]:
    """Sorted, aligned ``key = value`` lines; nested values indented."""
    pad = " " * indent
    keys = sorted(struct, key=str)
    flat = [k for k in keys if not _nested(struct[k])]
    width = max((len(str(k)) for k in flat), default=0)
    lines: list[str] = []
    for key in keys:
        value = struct[key]
        if not _nested(value):
            first, *more = scalar(value).split("\n")
            lines.append(f"{pad}{str(key):<{width}} = {first}")
            lines += [pad + " " * (width + 3) + line for line in more]
        elif isinstance(value, dict):
            lines.append(f"{pad}{key}:")
            lines += format_struct(value, indent + INDENT)
        else:
            lines.append(f"{pad}{key}:")
            lines += _format_items(value, indent + INDENT)
    return lines


def _format_items(items: list[Any], indent: int) -> list[str]:
    """A nested list with structs in it: each item a block marked ``-``."""
    lines: list[str] = []
    marker = " " * (indent - 2) + "- "
    for item in items:
        if isinstance(item, dict) and item:
            block = format_struct(item, indent)
        elif isinstance(item, (list, tuple)) and _nested(item):
            block = _format_items(list(item), indent + INDENT)
        else:
            block = [" " * indent + scalar(item)]
        block[0] = marker + block[0][indent:]
        lines += block
    return lines


def _nested(value: Any) -> bool:
    if isinstance(value, dict):
        return bool(value)
    if isinstance(value, (list, tuple)):
        return any(isinstance(v, (dict, list, tuple)) for v in value)
    return False


def scalar(value: Any) -> str:
    """A value on one line: lists of scalars comma-separated."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "None"
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, (list, tuple)):
        return ", ".join(scalar(v) for v in value) if value else "[]"
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    return str(value)
