"""Host verbs that need no subsystem: setLogLevel's logger names."""

from __future__ import annotations

import logging

import pytest

from vdsm.api.host import HostVerbs
from vdsm.common.errors import InvalidParameter


@pytest.fixture
def verbs():
    return HostVerbs(host=None, tasks=[])  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["../../etc", "urllib3", "vdsmx", "vdsm.nope.x",
                                  "x" * 5000])
def test_foreign_or_unknown_logger_refused_and_not_created(verbs, name):
    before = set(logging.root.manager.loggerDict)
    with pytest.raises(InvalidParameter):
        verbs.set_log_level("DEBUG", name)
    assert set(logging.root.manager.loggerDict) == before


def test_own_logger_and_root_accepted(verbs):
    logging.getLogger("vdsm.api.host")
    target = logging.getLogger("vdsm.api")
    old = target.level
    try:
        verbs.set_log_level("DEBUG", "vdsm.api")
        assert target.level == logging.DEBUG
        verbs.set_log_level("20", "vdsm")
        assert logging.getLogger("vdsm").level == logging.INFO
    finally:
        target.setLevel(old)
        logging.getLogger("vdsm").setLevel(logging.NOTSET)
