"""The notifier and safe publishing."""

from __future__ import annotations

from tests.eventrec import Raising, Recorder
from vdsm.common.events import Notifier, event_id, publish_safely


def test_event_id():
    assert event_id("virt", "VM_status", "x") == "|virt|VM_status|x"
    assert event_id("net", "host_conn") == "|net|host_conn|no_id"


def test_notifier_fans_out_and_survives_a_broken_sink():
    notifier = Notifier()
    first, second = Recorder(), Recorder()
    notifier.subscribe(first)
    notifier.subscribe(lambda event, params: 1 / 0)
    unsubscribe = notifier.subscribe(second)
    notifier.publish("|a|b|c", {"k": 1})
    unsubscribe()
    notifier.publish("|a|b|d", {})
    assert [e for e, _ in first.events] == ["|a|b|c", "|a|b|d"]
    assert [e for e, _ in second.events] == ["|a|b|c"]
    assert first.events[0][1]["k"] == 1 and "notify_time" in first.events[0][1]


def test_publish_safely_never_raises():
    broken = Raising()
    publish_safely(broken, "|a|b|c", {})
    assert broken.calls == 1
