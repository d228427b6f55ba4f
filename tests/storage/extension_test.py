"""vdsm/storage/spm/extension.py: the mailbox wiring of thin volume extension.

Unit tests with stand-in domains; the real path (two hosts, a block
domain, the SPM's lvextend) is in the block storage end-to-end tests.
"""

from __future__ import annotations

import types

import pytest

from vdsm.storage.errors import StoragePoolUnknown, UnsupportedOperation
from vdsm.storage.spm import mailbox_format as fmt
from vdsm.storage.spm.extension import Extensions
from vdsm.storage.spm.mailbox import ExtendResult

SD, IMG, VOL = ("11111111-1111-1111-1111-111111111111",
                "22222222-2222-2222-2222-222222222222",
                "33333333-3333-3333-3333-333333333333")
MiB = 1024 * 1024


class Domain:
    def __init__(self, *, block: bool, refresh_error: Exception | None = None) -> None:
        self.requires_mailbox = block
        self.inbox_path, self.outbox_path, self.ops = "/inbox", "/outbox", object()
        self.refresh_error = refresh_error
        self.extended: list[tuple[str, int]] = []
        self.refreshed: list[tuple[str, str]] = []

    def extend_volume_lv(self, vol_uuid: str, size: int) -> int:
        self.extended.append((vol_uuid, size))
        return size + MiB       # rounded up to the extent

    def refresh_volume(self, img_uuid: str, vol_uuid: str) -> None:
        if self.refresh_error:
            raise self.refresh_error
        self.refreshed.append((img_uuid, vol_uuid))


def extensions(dom: Domain) -> Extensions:
    ctx = types.SimpleNamespace(setting=lambda key: 0.5)
    cache = types.SimpleNamespace(produce=lambda sd_uuid: dom)
    return Extensions(ctx, cache)


def test_file_masters_run_no_mailbox_block_masters_do():
    assert extensions(Domain(block=False)).host_mailbox(Domain(block=False), 1) is None
    assert extensions(Domain(block=False)).spm_mailbox(Domain(block=False)) is None
    box = extensions(Domain(block=True)).host_mailbox(Domain(block=True), 3)
    assert box is not None and box.host_id == 3 and box.poll_interval == 0.5


def test_the_spm_grows_the_lv_to_the_absolute_size_asked():
    dom = Domain(block=True)
    size = extensions(dom).handle(2, fmt.ExtendMessage(SD, VOL, 512))
    assert dom.extended == [(VOL, 512 * MiB)] and size == 513 * MiB


def test_a_request_without_a_pool_mailbox_is_refused():
    with pytest.raises(StoragePoolUnknown):
        extensions(Domain(block=True)).request(None, SD, IMG, VOL, MiB, print)


class Pool:
    def __init__(self) -> None:
        self.mailbox = self
        self.asked: list = []

    def request_extend(self, sd, img, vol, size, callback) -> None:
        self.asked.append((sd, img, vol, size))
        callback(ExtendResult(sd, img, vol, size, size=size))


def test_the_caller_hears_only_after_this_host_refreshed_the_lv():
    dom, pool, heard = Domain(block=True), Pool(), []
    extensions(dom).request(pool, SD, IMG, VOL, 8 * MiB,
                            lambda r: heard.append((r, list(dom.refreshed))))
    assert pool.asked == [(SD, IMG, VOL, 8 * MiB)]
    result, refreshed_before = heard[0]
    assert result.ok and result.size == 8 * MiB and refreshed_before == [(IMG, VOL)]


def test_a_failed_refresh_is_a_failed_extension():
    dom, heard = Domain(block=True, refresh_error=OSError("gone")), []
    extensions(dom).request(Pool(), SD, IMG, VOL, MiB, heard.append)
    assert not heard[0].ok and "refresh failed" in heard[0].error


def test_file_domains_have_no_lv_to_extend(tmp_path):
    from vdsm.storage.domains.domain import StorageDomain
    with pytest.raises(UnsupportedOperation):
        StorageDomain.extend_volume_lv(types.SimpleNamespace(sd_uuid=SD), VOL, MiB)
