"""The classic ids: user ``vdsm`` uid 36, group ``kvm`` gid 36.

oVirt's NFS exports are set up with ``anonuid=36,anongid=36`` and image
files are owned 36:36, so a host whose vdsm/kvm have other ids cannot use
such storage without changes. The ids are asked for only when 36 is free;
an existing account is never renumbered (files already belong to it), and
a taken 36 is not stolen: bootstrap then warns, naming who holds it.

Pure functions over /etc/passwd and /etc/group text, so the decision is
testable on any machine.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

CLASSIC_ID = 36
USER, GROUP = "user", "group"
_DB = {USER: "etc/passwd", GROUP: "etc/group"}
_ID_NAME = {USER: "uid", GROUP: "gid"}


@dataclass(frozen=True)
class IdChoice:
    """What to do about one account's id."""

    kind: str                # USER or GROUP
    name: str
    request: int | None      # the id to create it with; None: the system's
    existing: int | None     # its id when it exists already
    holder: str | None       # who else holds the classic id, if anyone

    @property
    def warning(self) -> str | None:
        """The bootstrap warning, or None when the classic id is (or will
        be) this account's."""
        what = _ID_NAME[self.kind]
        if self.existing == CLASSIC_ID or self.request == CLASSIC_ID:
            return None
        held = (f"{what} {CLASSIC_ID} is held by {self.kind} {self.holder!r}"
                if self.holder else f"{what} {CLASSIC_ID} is free")
        if self.existing is not None:
            now = f"{self.kind} {self.name} exists with {what} {self.existing}"
            kept = "kept (files may already belong to it)"
        else:
            now = f"{self.kind} {self.name} gets a system-chosen {what}"
            kept = "since it is taken"
        return (f"{now}, not the classic {what} {CLASSIC_ID} ({held}); {kept}. "
                f"NFS exports set up for oVirt (anon{what}={CLASSIC_ID}) and "
                f"storage owned {CLASSIC_ID}:{CLASSIC_ID} need this host's "
                f"{what} instead")


def parse_ids(text: str) -> dict[str, int]:
    """name -> id of an /etc/passwd or /etc/group text (field 3)."""
    ids = {}
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) >= 3 and fields[0] and not line.startswith("#"):
            try:
                ids[fields[0]] = int(fields[2])
            except ValueError:
                continue
    return ids


def choose(kind: str, name: str, db_text: str) -> IdChoice:
    """The id ``name`` should be created with, given the passwd (USER) or
    group (GROUP) database text."""
    ids = parse_ids(db_text)
    holders = sorted(n for n, i in ids.items() if i == CLASSIC_ID and n != name)
    holder = holders[0] if holders else None
    if name in ids:
        return IdChoice(kind, name, None, ids[name], holder)
    return IdChoice(kind, name, CLASSIC_ID if holder is None else None, None,
                    holder)


def choose_on(root: str, kind: str, name: str) -> IdChoice:
    """:func:`choose` with the database under ``root`` (``/`` for the host)."""
    with open(os.path.join(root, _DB[kind])) as f:
        return choose(kind, name, f.read())
