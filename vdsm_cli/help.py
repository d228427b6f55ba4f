"""Help text, generated from the schema (nothing about verbs is written here)."""

from __future__ import annotations

import textwrap

from vdsm.api.schema import Param, Schema, Verb
from vdsm_cli import output, verbs

USAGE = """\
usage: vdsClient [-s] [options] HOST[:PORT] VERB [ARGS...]
       vdsClient --help [VERB]

HOST is a name or address of the agent, 0 for this host. The port
defaults to the configured management port.

options:
  -s, --ssl          talk TLS (mutual: we present a certificate too)
  --config FILE      agent configuration that names the trust store
                     (default: $VDSM_CONF or /etc/vdsm/vdsm.conf)
  --cert FILE        client certificate (default: the host certificate)
  --key FILE         its private key (default: the host key)
  --cacert FILE      CA that signed the agent (default: the trust store CA)
  --timeout SECONDS  give up on an answer after this long (default: {timeout:g};
                     0 waits for ever)
  --json             print the whole answer as JSON
  --jsonrpc          talk JSON-RPC over STOMP (as the engine and vdsm-client
                     do) instead of XML-RPC; same verbs, arguments, output
                     and exit status (with --json, integers beyond 32 bits
                     show as numbers, not strings)
  -v, --verbose      log the call to stderr
  -h, --help [VERB]  this text, or one verb in detail

exit status: 0 done, 1 the agent answered an error, 2 bad command line,
3 the agent could not be reached.
"""


def full(schema: Schema, *, timeout: float) -> str:
    """Usage, then every verb grouped by namespace."""
    lines = [USAGE.format(timeout=timeout).rstrip(), "",
             "verbs (classic name, namespaced name, arguments):"]
    by_namespace: dict[str, list[Verb]] = {}
    for verb in schema.verbs:
        by_namespace.setdefault(verb.namespace, []).append(verb)
    for namespace in sorted(by_namespace):
        lines += ["", f"{namespace}:"]
        for verb in sorted(by_namespace[namespace],
                           key=lambda v: v.classic or v.name):
            names = f"{verb.classic}  {verb.name}" if verb.classic else verb.name
            aliases = verbs.aliases_of(verb)
            if aliases:
                names += f" (also {', '.join(aliases)})"
            lines.append(f"  {names}  {synopsis(verb)}".rstrip())
            lines.append(f"      {summary(verb.description)}")
    lines += ["", "vdsClient --help VERB shows a verb's arguments in detail."]
    return "\n".join(lines) + "\n"


def verb_detail(verb: Verb) -> str:
    """Everything the schema says about one verb."""
    name = verb.classic or verb.name
    lines = [f"usage: vdsClient [-s] HOST[:PORT] {name} {synopsis(verb)}".rstrip(),
             "", f"namespaced name: {verb.name}"]
    if verb.classic:
        lines.append(f"classic name:    {verb.classic}")
    aliases = verbs.aliases_of(verb)
    if aliases:
        lines.append(f"also called:     {', '.join(aliases)}")
    lines += [""] + textwrap.wrap(verb.description or "(no description)", 72)
    if verb.params:
        lines += ["", "arguments:"]
        for param_name in verb.classic_params:
            param = verb.param(param_name)
            if param is not None:
                lines += _param_lines(param)
    if verb.cli == "keyvalue":
        lines += ["", "The struct argument is FILE (key=value lines; /dev/null "
                  "for none, - for", "stdin), then key=value pairs that "
                  "override it. Values starting with", "{ or [ are JSON; a "
                  "key given twice makes a list."]
    if verb.cli == "pairs":
        lines += ["", "The struct argument is key=value pairs. Values starting "
                  "with { or [ are", "JSON; a key given twice makes a list."]
    lines += ["", f"answer: {_answer(verb)}"]
    modes = output.modes(verb)
    if modes:
        lines.append(f"output modes (first argument): {', '.join(modes)}")
    return "\n".join(lines) + "\n"


def synopsis(verb: Verb) -> str:
    """The arguments of ``verb`` on one line: <required> [<optional>]."""
    words = []
    for param_name in verb.classic_params:
        param = verb.param(param_name)
        if param is None:
            continue
        if verb.cli == "keyvalue" and param.type == "object":
            words.append(f"<{param.name}:FILE> [key=value ...]")
            break
        if verb.cli == "pairs" and param.type == "object":
            words.append("key=value [key=value ...]")
            break
        words.append(f"[<{param.name}>]" if param.optional else f"<{param.name}>")
    return " ".join(words)


def summary(description: str, width: int = 72) -> str:
    """The first sentence of a description, shortened to fit one line."""
    if not description:
        return "(no description)"
    first = description.split(". ", 1)[0].rstrip(".") + "."
    return textwrap.shorten(first, width, placeholder="...")


def _param_lines(param: Param) -> list[str]:
    kind = param.type
    if param.type == "list" and param.items:
        kind = f"list of {param.items}"
    notes = [kind]
    if param.optional:
        notes.append(f"optional, default {param.default!r}")
    if param.secret:
        notes.append("secret")
    lines = [f"  {param.name} ({', '.join(notes)})"]
    text = param.description or "(no description)"
    if param.enum is not None:
        text += f" One of: {', '.join(map(str, param.enum))}."
    lines += textwrap.wrap(text, 72, initial_indent="      ",
                           subsequent_indent="      ")
    return lines


def _answer(verb: Verb) -> str:
    if not verb.payload:
        return "status only"
    kind = f" ({verb.returns})" if verb.returns else ""
    return f"payload under {verb.payload!r}{kind}"
