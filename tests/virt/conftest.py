"""Fixtures of the virt tests: the test guest and one private libvirtd
(in its own network namespace, with a bridge for guest NICs) per session.

Everything started here is stopped by pid at the end; guests are
destroyed by the tests that create them (and by the agent fixture).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from typing import Any, Iterator

import pytest

from vdsm.common import commands

from .harness import BRIDGE, VirtAgent, build_guest, running_agent
from .privlibvirt import PrivateLibvirt
from .twohosts import TwoHosts


@pytest.fixture(scope="session")
def guest() -> dict[str, Any]:
    try:
        return build_guest()
    except (RuntimeError, OSError) as e:
        pytest.skip(f"cannot build the test guest: {e}")


@pytest.fixture(scope="session")
def netns() -> Iterator[str]:
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    with network_namespace() as name:
        yield name


@contextlib.contextmanager
def network_namespace() -> Iterator[str]:
    """A namespace with lo up and the test bridge, for a private libvirtd."""
    name = f"vdsmvirt-{uuid.uuid4().hex[:8]}"
    commands.run(["ip", "netns", "add", name], timeout=10)
    try:
        for argv in (["ip", "link", "set", "lo", "up"],
                     ["ip", "link", "add", BRIDGE, "type", "bridge"],
                     ["ip", "link", "set", BRIDGE, "up"]):
            commands.run(["ip", "netns", "exec", name] + argv, timeout=10)
        yield name
    finally:
        commands.run(["ip", "netns", "delete", name], timeout=10, check=False)


@pytest.fixture(scope="session")
def small_fs() -> Iterator[str]:
    """A 4 MiB tmpfs, mounted before libvirtd starts so that its private
    mount namespace sees it: images there run out of space (ENOSPC)."""
    path = tempfile.mkdtemp(prefix="vdsm-virt-small-", dir="/tmp")
    os.chmod(path, 0o755)
    res = commands.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", path],
                       timeout=10, check=False)
    if res.rc != 0:
        os.rmdir(path)
        pytest.skip(f"cannot mount a tmpfs: {res.err.strip()}")
    try:
        yield path
    finally:
        commands.run(["umount", "-l", path], timeout=10, check=False)
        os.rmdir(path)


@pytest.fixture(scope="session")
def libvirtd(netns: str, small_fs: str) -> Iterator[PrivateLibvirt]:
    yield from _private_libvirtd(netns)


@pytest.fixture(scope="module")
def own_libvirtd(netns: str) -> Iterator[PrivateLibvirt]:
    """A libvirtd of the module's own, for tests that restart or kill it
    (the session's one is shared); a module overrides ``libvirtd`` with it
    so that ``virt_agent`` talks to it too."""
    yield from _private_libvirtd(netns)


def _private_libvirtd(netns: str, **settings: Any) -> Iterator[PrivateLibvirt]:
    """``settings``: PrivateLibvirt's (e.g. ``qemu_conf``)."""
    instance = PrivateLibvirt(netns=netns, **settings)
    try:
        instance.start()
    except (RuntimeError, OSError, commands.CommandError) as e:
        instance.stop()
        instance.cleanup()
        pytest.skip(f"cannot start a private libvirtd: {e}")
    try:
        yield instance
    finally:
        instance.stop()
        instance.cleanup()


@pytest.fixture(scope="module")
def virt_agent(libvirtd: PrivateLibvirt, guest: dict[str, Any]) -> Iterator[VirtAgent]:
    yield from running_agent(libvirtd.uri)


@pytest.fixture(scope="module")
def two_hosts() -> Iterator[TwoHosts]:
    if os.geteuid() != 0:
        pytest.skip("network and mount namespaces need root")
    rig = TwoHosts()
    try:
        rig.start()
    except (RuntimeError, OSError) as e:
        rig.stop()
        pytest.skip(f"cannot bring up two hosts: {e}")
    try:
        yield rig
    finally:
        rig.stop()
