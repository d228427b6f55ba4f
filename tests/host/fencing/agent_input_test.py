"""The fence-agents stdin text, its masking, and what is refused."""

from __future__ import annotations

import pytest

from vdsm.common.errors import InvalidParameter
from vdsm.host.fencing import agent_input
from vdsm.host.fencing.agent_input import FenceRequest


def request(**kw):
    values = dict(addr="10.0.0.9", port=623, agent="apc", username="admin",
                  password="s3cret", action="off")
    values.update(kw)
    return FenceRequest(**values)


def test_every_parameter_on_stdin():
    given = agent_input.build(request(secure=True, options="power_wait=3\nverbose"))
    assert given.text == ("ipaddr=10.0.0.9\nlogin=admin\naction=off\n"
                          "passwd=s3cret\nipport=623\nsecure=1\n"
                          "power_wait=3\nverbose\n")
    assert given.env == {}


def test_ipmilan_gets_its_password_from_the_environment():
    given = agent_input.build(request(agent="ipmilan", secure=True, port=""),
                              ipmilan=True)
    assert "s3cret" not in given.text
    assert f"ipmitool_path={agent_input.IPMITOOL_ENV}" in given.text
    assert "lanplus=1" in given.text and "ipport" not in given.text
    assert given.env == {"IPMI_PASSWORD": "s3cret"}


def test_masked_hides_both_spellings():
    text = "login=a\npasswd=x1\npassword=x2\naction=on"
    assert agent_input.masked(text) == "login=a\npasswd=****\npassword=****\naction=on"


@pytest.mark.parametrize("kw", [
    {"action": "destroy"},
    {"password": "a\nipaddr=evil"},
    {"username": "u\r"},
    {"port": "623;rm"},
    {"options": "passwd_script=/bin/sh"},
    {"options": "ipmitool_path=/tmp/x"},
    {"options": "Bad=1"},
])
def test_refused(kw):
    with pytest.raises(InvalidParameter):
        agent_input.build(request(**kw))


@pytest.mark.parametrize("name", ["../sh", "a/b", "", "X"])
def test_agent_name_must_be_plain(name):
    with pytest.raises(InvalidParameter):
        agent_input.agent_name(name)


def test_agent_name_accepts_the_prefix():
    assert agent_input.agent_name("fence_ipmilan") == "ipmilan"
