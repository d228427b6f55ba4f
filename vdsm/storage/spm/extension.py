"""Thin volume extension through the pool mailbox, as the service wires it.

A host that needs more room for a VM's thin block volume calls
:meth:`Extensions.request`: its :class:`~.mailbox.HostMailbox` carries the
request to the SPM; when the SPM's answer comes, this host refreshes the
LV (so its device shows the new size) and only then tells the caller. The
SPM's :class:`~.mailbox_spm.SpmMailbox` calls :meth:`Extensions.handle`,
which grows the LV. Sizes are absolute, never deltas, so a request the
mailbox delivers twice (an SPM that changed mid-request answers the
requests still waiting) is applied once: the second finds the LV already
that big.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Callable

from vdsm.storage.context import StorageContext
from vdsm.storage.domains.cache import DomainCache
from vdsm.storage.domains.domain import StorageDomain
from vdsm.storage.errors import StoragePoolUnknown
from vdsm.storage.spm import mailbox_format as fmt
from vdsm.storage.spm.mailbox import Callback, ExtendResult, HostMailbox
from vdsm.storage.spm.mailbox_spm import SpmMailbox
from vdsm.storage.spm.pool import StoragePool

log = logging.getLogger(__name__)


class Extensions:
    def __init__(self, ctx: StorageContext, cache: DomainCache) -> None:
        self.ctx = ctx
        self.cache = cache

    @property
    def poll_interval(self) -> float:
        return float(self.ctx.setting("mailbox_poll_interval"))

    @property
    def event_interval(self) -> float:
        return float(self.ctx.setting("mailbox_event_interval"))

    # --- factories the pool and the SPM role are given -----------------------
    def host_mailbox(self, master: StorageDomain, host_id: int) -> HostMailbox | None:
        if not master.requires_mailbox:
            return None
        return HostMailbox(host_id, master.inbox_path, master.outbox_path,
                           master.ops, poll_interval=self.poll_interval,
                           event_interval=self.event_interval)

    def spm_mailbox(self, master: StorageDomain) -> SpmMailbox | None:
        if not master.requires_mailbox:
            return None
        return SpmMailbox(master.inbox_path, master.outbox_path, master.ops,
                          self.handle, poll_interval=self.poll_interval,
                          event_interval=self.event_interval)

    # --- the SPM's side -------------------------------------------------------
    def handle(self, host_id: int, request: fmt.ExtendMessage) -> int:
        """Grow the LV to the size asked (or more); the size reached. The
        LV layer logs "extended" only when it did (a request delivered
        again finds the size reached and changes nothing)."""
        start = time.monotonic()
        dom = self.cache.produce(request.sd_uuid)
        size = dom.extend_volume_lv(request.vol_uuid, request.size)
        log.info("host %d asked %d bytes for %s/%s: the LV has %d (%.2f s)",
                 host_id, request.size, request.sd_uuid, request.vol_uuid, size,
                 time.monotonic() - start)
        return size

    # --- a host's side --------------------------------------------------------
    def request(self, pool: StoragePool | None, sd_uuid: str, img_uuid: str,
                vol_uuid: str, size: int, callback: Callback) -> None:
        """Ask the SPM for ``size`` bytes; ``callback`` runs once, after this
        host sees the new size (or with the reason it will not)."""
        if pool is None or pool.mailbox is None:
            raise StoragePoolUnknown(
                f"No connected pool with a mailbox to extend {vol_uuid}")
        pool.mailbox.request_extend(sd_uuid, img_uuid, vol_uuid, size,
                                    self._refreshing(callback))

    def _refreshing(self, callback: Callback) -> Callable[[ExtendResult], None]:
        def done(result: ExtendResult) -> None:
            if result.ok:
                try:
                    dom = self.cache.produce(result.sd_uuid)
                    dom.refresh_volume(result.img_uuid, result.vol_uuid)
                except Exception as e:  # the caller hears it and retries
                    log.error("refreshing %s after its extension failed: %s",
                              result.vol_uuid, e)
                    result = dataclasses.replace(result, size=0,
                                                 error=f"refresh failed: {e}")
            callback(result)
        return done
