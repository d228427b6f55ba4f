"""Finding the schema verb a command line names.

A verb is named by its classic flat name or its namespaced name, both
straight from the schema. The table below only keeps the names the 2011
vdsClient accepted that differ from the classic wire name, so old scripts
keep working.
"""

from __future__ import annotations

import difflib

from vdsm.api.schema import Schema, Verb
from vdsm_cli.errors import UsageError

# old vdsClient name -> classic wire name (or namespaced name)
ALIASES: dict[str, str] = {
    "getVdsCaps": "getVdsCapabilities",
    "continue": "cont",
    "sendHcCmd": "sendHcCmdToDesktop",
}


def resolve(schema: Schema, name: str) -> Verb:
    """The verb called ``name``; UsageError with close matches if none."""
    verb = schema.get(name)
    if verb is None and name in ALIASES:
        verb = schema.get(ALIASES[name])
    if verb is not None:
        return verb
    known = schema.names() + [a for a, target in ALIASES.items()
                              if schema.get(target) is not None]
    close = difflib.get_close_matches(name, known, n=5, cutoff=0.6)
    lowered = [k for k in known if k.lower() == name.lower()]
    matches = list(dict.fromkeys(lowered + close))
    hint = f"; did you mean: {', '.join(matches)}?" if matches else ""
    raise UsageError(f"unknown verb {name!r}{hint} "
                     "(vdsClient --help lists every verb)")


def aliases_of(verb: Verb) -> list[str]:
    """The old names that lead to ``verb``."""
    return sorted(alias for alias, target in ALIASES.items()
                  if target in (verb.name, verb.classic))


def call_name(verb: Verb) -> str:
    """The name sent on the wire: the classic one where there is one."""
    return verb.classic or verb.name
