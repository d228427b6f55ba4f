"""extendStorageDomain, resizePV and refreshVolume through a real vdsmd,
supervdsmd and sanlock, over XML-RPC (classic names) and JSON-RPC
(StorageDomain.extend, StorageDomain.resizePV, Volume.refresh): the
answers before any LVM work (no pool, not SPM, a domain outside the
pool, a file domain: extend and resizePV refused, refreshVolume has
nothing to do). The LVM work itself is tested on real VGs in
block_growth_test.py; end to end on a block domain comes with
createStorageDomain for block domains."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.storage.helpers import (
    BLANK,
    StorageHost,
    become_spm,
    code,
    create_pool,
    loop_ext4,
    need_root,
    need_sanlock,
    new_uuid,
    ok,
    wait_task,
)
from tests.supervdsm.helpers import ensure_vdsm_user
from vdsm.common import pki
from vdsm_cli.jsonrpc_client import JsonRpcError, StompClient

pytestmark = [need_root, need_sanlock]

NOT_SPM, POOL_UNKNOWN, NOT_IN_POOL = 654, 309, 353
NO_DOMAIN, NOT_BLOCK, NO_VOLUME = 358, 372, 201
RAW, SPARSE = 5, 2


@pytest.fixture(scope="module")
def host() -> Iterator[StorageHost]:
    ensure_vdsm_user()
    started = StorageHost({("irs", "list_loop_devices"): True}).start()
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="module")
def pool(host: StorageHost) -> Iterator[dict[str, Any]]:
    """A pool on a POSIX (file) domain, this host connected but not SPM."""
    p = host.proxy()
    with loop_ext4(256) as device:
        names = create_pool(p, device, start_spm=False)
        try:
            yield names
        finally:
            if ok(p.getSpmStatus(names["sp"]))["spm_st"]["spmStatus"] == "SPM":
                ok(p.spmStop(names["sp"]))
            ok(p.disconnectStoragePool(names["sp"], 1, ""))
            ok(p.disconnectStorageServer(6, BLANK, [names["con"]]))


def json_code(host: StorageHost, verb: str, params: dict[str, Any]) -> int:
    root = host.root
    ctx = pki.client_context(root.pki.ca_cert, root.pki.client_cert("engine"),
                             root.pki.client_key("engine"))
    with StompClient("127.0.0.1", root.port, ssl_context=ctx, timeout=60) as client:
        with pytest.raises(JsonRpcError) as e:
            client.call(verb, params)
    return e.value.code


def test_without_the_pool(host):
    p = host.proxy()
    sd, sp, img, vol = new_uuid(), new_uuid(), new_uuid(), new_uuid()
    assert code(p.extendStorageDomain(sd, sp, ["loop0"], False)) == POOL_UNKNOWN
    assert code(p.resizePV(sd, sp, "loop0")) == POOL_UNKNOWN
    assert code(p.refreshVolume(sd, BLANK, img, vol)) == NO_DOMAIN
    assert json_code(host, "Volume.refresh", {
        "storagedomainID": sd, "storagepoolID": BLANK, "imageID": img,
        "volumeID": vol}) == NO_DOMAIN
    assert code(p.extendStorageDomain("not-a-uuid", sp, [], False)) == 91


def test_spm_verbs_on_a_host_that_is_not_spm(host, pool):
    p = host.proxy()
    sd, sp = pool["sd"], pool["sp"]
    assert ok(p.getSpmStatus(sp))["spm_st"]["spmStatus"] != "SPM"
    assert code(p.extendStorageDomain(sd, sp, ["loop0"], True)) == NOT_SPM
    assert code(p.resizePV(sd, sp, "loop0")) == NOT_SPM
    assert json_code(host, "StorageDomain.extend", {
        "storagedomainID": sd, "storagepoolID": sp, "devlist": ["loop0"]}) == NOT_SPM
    assert json_code(host, "StorageDomain.resizePV", {
        "storagedomainID": sd, "storagepoolID": sp, "guid": "loop0"}) == NOT_SPM
    # refreshVolume is for any host; the volume must exist (classic)
    assert code(p.refreshVolume(sd, sp, new_uuid(), new_uuid())) == NO_VOLUME


def test_spm_verbs_on_a_domain_that_is_not_block_or_not_in_the_pool(host, pool):
    p = host.proxy()
    sd, sp = pool["sd"], pool["sp"]
    become_spm(p, sp)
    assert code(p.extendStorageDomain(sd, sp, ["loop0"], False)) == NOT_BLOCK
    assert code(p.resizePV(sd, sp, "loop0")) == NOT_BLOCK
    other = new_uuid()
    assert code(p.extendStorageDomain(other, sp, ["loop0"], False)) == NOT_IN_POOL
    assert json_code(host, "StorageDomain.resizePV", {
        "storagedomainID": other, "storagepoolID": sp, "guid": "loop0"}) == NOT_IN_POOL
    # a file volume: every host sees the same file, nothing to refresh
    img, vol = new_uuid(), new_uuid()
    status = wait_task(p, ok(p.createVolume(sd, sp, img, 16 * 2**20, RAW, SPARSE,
                                            "DATA", vol, "v"))["uuid"])
    assert status["taskResult"] == "success", status
    ok(p.refreshVolume(sd, sp, img, vol))
