"""BSTRAP lines must parse as XML whatever the message holds."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from vds_bootstrap import report


def test_bstrap_line_escapes_attributes() -> None:
    message = "can't <open> \"a&b\"\nnext line"
    line = report.bstrap_line(report.fail("PKI", message))
    assert line.startswith("<BSTRAP component='PKI' status='FAIL' message='")
    assert "\n" not in line
    assert ET.fromstring(line).attrib == {
        "component": "PKI", "status": "FAIL", "message": message}


def test_summary() -> None:
    steps = [report.ok("OS", "fine"), report.warn("CPU", "TCG fallback")]
    assert report.summary(steps) == report.ok("RELEASE", "already configured")
    steps.append(report.ok("PKI", "created", changed=True))
    assert report.summary(steps).message == "host configured"
    steps.append(report.fail("USER", "no"))
    assert report.summary(steps) == report.fail("RELEASE", "failed steps: USER")


def test_text_and_json() -> None:
    result = report.ok("UUID", "created", changed=True)
    assert report.text_line(result) == "[  OK] UUID: created (changed)"
    assert json.loads(report.to_json([result])) == [
        {"component": "UUID", "status": "OK", "message": "created",
         "changed": True}]
