"""Generate the API reference page from the schema.

    python3 -m vdsm.api.docs > docs/api.md

A test checks that the committed page matches the schema.
"""

from __future__ import annotations

import sys
from itertools import groupby

from vdsm.api import schema


def render(api: schema.Schema) -> str:
    out = ["# vdsm API reference", "",
           "Generated from `vdsm/api/schema/*.yaml` by `python3 -m vdsm.api.docs`;",
           "do not edit by hand.", "",
           "Every verb answers a struct `{'status': {'code': 0, 'message': "
           "'Done'}, <payload key>: value}`;",
           "on error only `status`, with the code of the error "
           "(see `vdsm/api/codes.py`).", ""]
    verbs = sorted(api.verbs, key=lambda v: v.name)
    for namespace, group in groupby(verbs, key=lambda v: v.namespace):
        out += [f"## {namespace}", ""]
        for verb in group:
            classic = f" (classic `{verb.classic}`)" if verb.classic else ""
            out += [f"### `{verb.name}`{classic}", "", verb.description, ""]
            if verb.params:
                out += ["| parameter | type | required | description |",
                        "|---|---|---|---|"]
                for p in verb.params:
                    kind = p.type + (f" of {p.items}" if p.items else "")
                    if p.enum:
                        kind += " (" + ", ".join(map(str, p.enum[:5]))
                        kind += ", ...)" if len(p.enum) > 5 else ")"
                    need = "no" if p.optional else "yes"
                    out.append(f"| `{p.name}` | {kind} | {need} | "
                               f"{p.description} |")
                out.append("")
                if verb.classic and verb.classic_params != tuple(
                        p.name for p in verb.params):
                    out += ["Classic positional order: "
                            + ", ".join(f"`{n}`" for n in verb.classic_params),
                            ""]
            if verb.payload == "*":
                returns = f" ({verb.returns})" if verb.returns else ""
                out += [f"Answer: the payload's keys beside `status`{returns}", ""]
            elif verb.payload:
                returns = f" ({verb.returns})" if verb.returns else ""
                out += [f"Answer payload key: `{verb.payload}`{returns}", ""]
            else:
                out += ["Answer: status only.", ""]
    return "\n".join(out).rstrip() + "\n"


def main() -> int:
    sys.stdout.write(render(schema.load()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
