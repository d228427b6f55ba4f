"""The VMs this agent knows, by id. Thread-safe."""

from __future__ import annotations

import threading
import time

from vdsm.virt.errors import NoSuchVM, VMExists
from vdsm.virt.vm import Vm


class VmRegistry:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._vms: dict[str, Vm] = {}

    def add(self, vm: Vm) -> None:
        """Raises VMExists when the id is taken. Stamps ``vm.known_since``
        (time.monotonic()): libvirt events older than that are about an
        earlier VM of the same id."""
        with self._lock:
            if vm.id in self._vms:
                raise VMExists(f"Virtual machine already exists: {vm.id}")
            vm.known_since = time.monotonic()
            self._vms[vm.id] = vm

    def get(self, vm_id: str) -> Vm:
        with self._lock:
            vm = self._vms.get(vm_id)
        if vm is None:
            raise NoSuchVM(f"Virtual machine does not exist: {vm_id}")
        return vm

    def find(self, vm_id: str) -> Vm | None:
        with self._lock:
            return self._vms.get(vm_id)

    def remove(self, vm: Vm) -> None:
        with self._lock:
            if self._vms.get(vm.id) is vm:
                del self._vms[vm.id]

    def all(self) -> list[Vm]:
        with self._lock:
            return list(self._vms.values())

    def __len__(self) -> int:
        with self._lock:
            return len(self._vms)
