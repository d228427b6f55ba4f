"""Pool and domain verbs around the edges, through the API on a real SPM:
an ISO domain and its file lists, refresh, descriptions, refusals with
their classic codes, and destroying the pool."""

from __future__ import annotations

import os

from tests.storage.helpers import (
    BLANK,
    code,
    create_pool,
    loop_ext4,
    merged,
    need_root,
    need_sanlock,
    new_uuid,
    ok,
)

pytestmark = [need_root, need_sanlock]
ISO_IMAGE = "11111111-1111-1111-1111-111111111111"


def test_pool_life_cycle_edges(host):
    p = host.proxy()
    with loop_ext4(256) as device:
        assert code(p.getSpmStatus(new_uuid())) == 309  # StoragePoolUnknown
        names = create_pool(p, device)
        sd, sp, con = names["sd"], names["sp"], names["con"]
        mnt = os.path.join(host.config.mount_root, "_dev_" + os.path.basename(device))

        # an ISO domain: attach, activate, list its files through the pool
        iso = new_uuid()
        ok(p.createStorageDomain(6, iso, "isos", device, 2))
        assert code(p.createStoragePool(0, new_uuid(), "x", iso, [iso], 1)) == 317
        ok(p.attachStorageDomain(iso, sp))
        assert code(p.attachStorageDomain(iso, sp)) == 354  # already attached
        ok(p.activateStorageDomain(iso, sp))
        iso_dir = os.path.join(mnt, iso, "images", ISO_IMAGE)
        for name in ("b.iso", "a.iso", "boot.vfd"):
            open(os.path.join(iso_dir, name), "w").close()
        assert ok(p.getIsoList(sp))["isolist"] == ["a.iso", "b.iso"]
        assert ok(p.getFloppyList(sp))["isolist"] == ["boot.vfd"]
        info = merged(p.getStoragePoolInfo(sp))
        assert info["info"]["isoprefix"].endswith(
            f"{sp}/{iso}/images/{ISO_IMAGE}")

        # refusals with their classic codes
        assert code(p.formatStorageDomain(iso)) == 391  # attached
        assert code(p.detachStorageDomain(sd, sp, sd, 1)) == 383  # the master
        assert code(p.detachStorageDomain(iso, sp, sd, 1)) == 356  # still active
        assert code(p.deactivateStorageDomain(sd, sp, sd, 1)) == 357
        assert code(p.refreshStoragePool(sp, sd, 2)) == 355  # wrong version
        assert code(p.connectStoragePool(new_uuid(), 1, "", sd, 1)) == 323
        assert code(p.getStorageDomainInfo(new_uuid())) == 358
        assert code(p.createVolume(sd, sp, new_uuid(), 0, 5, 2, "DATA", new_uuid(),
                                   "")) == 229  # createVolumeSizeError
        assert code(p.spmStop(BLANK)) == 309

        # descriptions, validate, refresh
        ok(p.setStoragePoolDescription(sp, "renamed pool"))
        ok(p.setStorageDomainDescription(iso, "renamed isos"))
        assert merged(p.getStoragePoolInfo(sp))["info"]["name"] == "renamed pool"
        assert ok(p.getStorageDomainInfo(iso))["info"]["name"] == "renamed isos"
        ok(p.validateStorageDomain(sd))
        ok(p.refreshStoragePool(sp, sd, 1))
        assert sorted(os.listdir(os.path.join(host.config.repository, sp))) == sorted(
            [sd, iso, "mastersd"])

        # destroy: every domain unattached, the master regular again
        ok(p.deactivateStorageDomain(iso, sp, sd, 1))
        ok(p.destroyStoragePool(sp, 1, ""))
        assert ok(p.getConnectedStoragePoolsList())["poollist"] == []
        for dom in (sd, iso):
            info = ok(p.getStorageDomainInfo(dom))["info"]
            assert info["pool"] == [] and info["role"] == "Regular"
        ok(p.formatStorageDomain(iso))
        assert iso not in ok(p.getStorageDomainsList())["domlist"]
        ok(p.disconnectStorageServer(6, BLANK, [con]))
