"""Set a few keys in a libvirt configuration file, leaving the rest alone.

libvirt files (qemu.conf, libvirtd.conf) are ``key = value`` lines with
quoted strings and numbers, mostly commented-out defaults. We own only the
keys we set: an existing line for one of them is replaced in place, a
missing one is appended, every other line is kept byte for byte. The file
is rewritten only when something differs, so re-running changes nothing.
"""

from __future__ import annotations

import logging
import os
import re
from typing import Collection, Mapping

log = logging.getLogger(__name__)

HEADER = "# Keys below were set by vds_bootstrap.\n"


def render(value: str | int | bool) -> str:
    """A value as libvirt's config syntax writes it."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _setting(key: str) -> re.Pattern[str]:
    # An uncommented assignment: key = "quoted" or a bare token.
    return re.compile(rf'^\s*{re.escape(key)}\s*=\s*("(?:[^"\\]|\\.)*"|[^\s#]+)')


def apply(text: str, values: Mapping[str, str | int | bool], *,
          keep_existing: Collection[str] = ()) -> str:
    """The text with ``values`` set; keys in ``keep_existing`` are only
    added when the file has no setting for them at all."""
    lines = text.splitlines(keepends=True)
    missing = []
    for key, value in values.items():
        wanted = render(value)
        pattern = _setting(key)
        found = False
        for i, line in enumerate(lines):
            match = pattern.match(line)
            if not match:
                continue
            found = True
            if key not in keep_existing and match.group(1) != wanted:
                lines[i] = f"{key} = {wanted}\n"
        if not found:
            missing.append(f"{key} = {wanted}\n")
    if missing:
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
        if HEADER not in lines:
            lines.append(HEADER)
        lines.extend(missing)
    return "".join(lines)


def update(path: str, values: Mapping[str, str | int | bool], *,
           keep_existing: Collection[str] = ()) -> bool:
    """Set ``values`` in the file at ``path`` (created when missing).

    Returns True when the file was written. Raises OSError.
    """
    try:
        with open(path) as f:
            text = f.read()
        mode = os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        text, mode = "", 0o644
    new = apply(text, values, keep_existing=keep_existing)
    if new == text:
        return False
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(new)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, mode)
    os.replace(tmp, path)
    log.info("updated %s: %s", path, ", ".join(values))
    return True
