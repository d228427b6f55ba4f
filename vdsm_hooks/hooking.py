"""Helpers for writing vdsm hook scripts in Python.

A hook script is any executable the agent runs at a hook point (see
vdsm_hooks/README). For Python hooks::

    #!/usr/bin/python3
    from vdsm_hooks import hooking      # plain "import hooking" works too

    domxml = hooking.read_domxml()      # an xml.dom.minidom Document
    ...edit it...
    hooking.write_domxml(domxml)

The agent puts this module on PYTHONPATH for its hooks. It uses only the
standard library, so it works with any Python 3 interpreter. The domain
XML is handed over as an :mod:`xml.dom.minidom` Document, as the classic
agent did, so existing hooks keep working and no third-party XML library
is needed.

Exit codes (see the EXIT_* constants): 0 success; 1 failed, the next
scripts still run; 2 failed, the next scripts are skipped. The agent
treats any other code like 1; do not rely on that. The agent kills a
script that runs past its timeout and treats it like 2.

Outside the agent (when trying a hook by hand) set ``_hook_domxml`` or
``_hook_json`` to a file holding the data; without it the read/write
functions raise :class:`NotRunByVdsm` with a message saying so.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, NoReturn
from xml.dom import minidom

EXIT_OK = 0
EXIT_FAIL = 1  # failed; the remaining scripts of the point still run
EXIT_STOP = 2  # failed; the remaining scripts of the point are skipped

DOMXML_ENV = "_hook_domxml"
JSON_ENV = "_hook_json"

_TRUE = frozenset(("1", "true", "yes", "on"))
_FALSE = frozenset(("0", "false", "no", "off", ""))


class NotRunByVdsm(RuntimeError):
    """The data file the agent passes to a hook is not available."""


def data_path(variable: str) -> str:
    """The file named by ``variable``; raises NotRunByVdsm if unset."""
    path = os.environ.get(variable)
    if not path:
        kind = "domain XML" if variable == DOMXML_ENV else "JSON"
        raise NotRunByVdsm(
            f"environment variable {variable} is not set: this script expects "
            f"to be run by vdsm at a hook point that passes {kind}. To try it "
            f"by hand, set {variable}=<file holding the {kind}>.")
    return path


def read_domxml() -> minidom.Document:
    """The domain (or device) XML of this hook point, parsed."""
    with open(data_path(DOMXML_ENV), "rb") as f:
        return minidom.parseString(f.read())


def write_domxml(doc: minidom.Document) -> None:
    """Hand the edited XML back to the agent."""
    with open(data_path(DOMXML_ENV), "wb") as f:
        f.write(doc.toxml(encoding="utf-8"))


def read_json() -> Any:
    """The JSON document of this hook point, decoded."""
    with open(data_path(JSON_ENV), encoding="utf-8") as f:
        return json.load(f)


def write_json(data: Any) -> None:
    """Hand the edited JSON document back to the agent."""
    with open(data_path(JSON_ENV), "w", encoding="utf-8") as f:
        json.dump(data, f)


def log(message: str) -> None:
    """Write a line to stderr, which the agent copies into its log."""
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def exit_hook(message: str, return_code: int = EXIT_STOP) -> NoReturn:
    """Log ``message`` and exit; by default stopping the remaining scripts."""
    log(message)
    sys.exit(return_code)


def tobool(value: object) -> bool:
    """A custom property's truth: true/yes/on/1 or false/no/off/0/empty.

    Raises ValueError for anything else, so a typo is not silently false.
    """
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"not a boolean value: {value!r}")
