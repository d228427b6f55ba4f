"""The policy language: parsing and interpreting, pure (no host access)."""

from __future__ import annotations

import pytest

from vdsm.host.policy import entities, lang, rules
from vdsm.host.policy.interp import Interpreter, PolicyRuntimeError
from vdsm.host.policy.lang import Call, PolicySyntaxError, Symbol


def run(text: str, **values):
    return Interpreter(lang.parse(text)).run(values).vars


@pytest.mark.parametrize("text,name,expected", [
    ("(defvar x (+ 1 2 3))", "x", 6),
    ("(defvar x (- 10 4))", "x", 6),
    ("(defvar x (- 5))", "x", -5),
    ("(defvar x (* 2 3.5))", "x", 7.0),
    ("(defvar x (/ 7 2))", "x", 3.5),
    ("(defvar x (< 1 2))", "x", 1),
    ("(defvar x (>= 1 2))", "x", 0),
    ("(defvar x (== 2 2.0))", "x", 1),
    ("(defvar x (!= 2 3))", "x", 1),
    ("(defvar x (and 1 2 3))", "x", 3),
    ("(defvar x (and 1 0 (/ 1 0)))", "x", 0),     # short-circuit
    ("(defvar x (or 0 0 7))", "x", 7),
    ("(defvar x (not 0))", "x", 1),
    ("(defvar x (max 1 5 3))", "x", 5),
    ("(defvar x (min 4 -2))", "x", -2),
    ("(defvar x (abs -3))", "x", 3),
    ("(defvar x (if (> 2 1) 10 20))", "x", 10),
    ("(defvar x (if 0 10))", "x", 0),
    ("(defvar x 1) (set x (+ x 1))", "x", 2),
    ("(defvar x { (defvar y 2) (* y 4) })", "x", 8),
    ("(def sq (n) (* n n)) (defvar x (sq 7))", "x", 49),
    ("(def f (a b) { (defvar t (+ a b)) (* t 2) }) (defvar x (f 1 2))", "x", 6),
    ("(defvar x (valid 1 2))", "x", 1),
    ("(defvar x \"a \\\"q\\\"\")", "x", 'a "q"'),
    ("(defvar x 1e3)", "x", 1000.0),
    ("# comment\n(defvar x .5) # trailing", "x", 0.5),
])
def test_evaluates(text, name, expected):
    assert run(text)[name] == expected


def test_defparam_default_unless_given():
    assert run("(defparam p 3)")["p"] == 3
    assert run("(defparam p 3)", p=9)["p"] == 9


def test_with_iterates_and_functions_see_globals():
    text = """
        (defvar total 0)
        (def add (n) (set total (+ total n)))
        (with Items i (add i))
    """
    assert run(text, Items=[1, 2, 3])["total"] == 6


def test_entities_attributes_stats_and_controls():
    host = entities.host({"mem_free": 10, "mem_available": 100})
    guest = entities.guest({"id": "g", "balloon_cur": 50, "mem_unused": None})
    run("""(Host.Control "ksm_run" (< (/ Host.mem_free Host.mem_available) 0.2))
           (with Guests g (if (valid (g.Stat "mem_unused")) 0
                              (g.Control "balloon_target" (- g.balloon_cur 5))))""",
        Host=host, Guests=[guest])
    assert host.controls == {"ksm_run": 1}
    assert guest.controls == {"balloon_target": 45}


@pytest.mark.parametrize("text,line,reason", [
    ("(defvar x 1", 1, "never closed"),
    ("(defvar x 1))", 1, "unmatched"),
    ("\n\n(defvar x {1)", 3, "closes"),
    ("(defvar x 1)\n()", 2, "empty expression"),
    ("\n(foo 1)", 2, "unknown function 'foo'"),
    ("(defvar x 1)\n\n(if 1)", 3, "if takes 2..3 arguments"),
    ("(set 1 2)", 1, "plain name"),
    ("(defvar a.b 2)", 1, "plain name"),
    ("(def f x 1)", 1, "parameter list"),
    ("(defvar x 'a')", 1, "bad name"),
    ("(defvar x [1])", 1, "bad name"),
    ("(defvar x 1a$)", 1, "bad name"),
    ("(1 2)", 1, "must start with a name"),
    ("\n\n\n(defvar x \"open)", 4, "string not closed"),
])
def test_malformed_refused_with_line_and_reason(text, line, reason):
    with pytest.raises(PolicySyntaxError) as info:
        Interpreter(lang.parse(text))
    assert info.value.line == line
    assert reason in info.value.reason
    assert str(info.value).startswith(f"line {line}: ")


def test_too_deep_and_too_long_refused():
    with pytest.raises(PolicySyntaxError, match="nested deeper"):
        lang.parse("(+ " * (lang.MAX_DEPTH + 1))
    with pytest.raises(PolicySyntaxError, match="longer than"):
        lang.parse(" " * (lang.MAX_TEXT + 1))


@pytest.mark.parametrize("text,line,reason", [
    ("(defvar x 1)\n(defvar y (/ x 0))", 2, "division by zero"),
    ("\n(set nope 1)", 2, "undefined 'nope'"),
    ("(defvar x missing)", 1, "undefined variable 'missing'"),
    ("(def f (a) a)\n(f 1 2)", 2, "takes 1 arguments, got 2"),
    ("(def f (a) (f a))\n(f 1)", 1, "nested too deep"),
    ("(Host.Control \"rm_rf\" 1)", 1, "Control takes a name"),
    ("(defvar x Host.nothing)", 1, "no figure 'nothing'"),
    ("(defvar x (+ 1 \"a\"))", 1, "(+ ...)"),
    ("(with 3 g 0)", 1, "collection"),
])
def test_runtime_errors_name_the_line(text, line, reason):
    with pytest.raises(PolicyRuntimeError) as info:
        run(text, Host=entities.host({}))
    assert info.value.line == line
    assert reason in info.value.reason


def test_parse_gives_nodes_with_lines():
    [node] = lang.parse("\n(if x\n  1 2)")
    assert node == Call((Symbol("if", 2), Symbol("x", 2), 1, 2), 2)


def test_no_python_evaluation():
    """Names are looked up in the policy's own scopes only."""
    with pytest.raises(PolicyRuntimeError, match="undefined variable"):
        run("(defvar x __import__)")
    with pytest.raises(PolicySyntaxError, match="unknown function"):
        lang.parse("(__import__ \"os\")") and Interpreter(
            lang.parse("(__import__ \"os\")"))


def test_default_policy_decisions():
    """Memory short: KSM runs, an idle guest shrinks, not below its floor;
    plenty: KSM stops and a ballooned guest grows back to its maximum."""
    program = Interpreter(lang.parse(rules.DEFAULT_POLICY))

    def cycle(free, cur, **params):
        host = entities.host({"mem_available": 1000_000, "mem_free": free,
                              "ksm_pages_to_scan": 100, "ksm_pages_shared": 0,
                              "io_pressure": 50.0})
        guest = entities.guest({"id": "g", "balloon_cur": cur,
                                "balloon_max": 98304, "balloon_min": 81920,
                                "mem_used": 20000, "io_policy": 1})
        program.run({"Host": host, "Guests": [guest], **params})
        return host.controls, guest.controls

    host, guest = cycle(50_000, 98304)
    assert host["ksm_run"] == 1 and host["ksm_pages_to_scan"] == 400
    assert 81920 <= guest["balloon_target"] < 98304
    assert guest["io_tune"] == "guaranteed"
    _, guest = cycle(50_000, 98304, max_balloon_change_percent=0.9)
    assert guest["balloon_target"] == 81920     # the guaranteed floor
    host, guest = cycle(900_000, 81920, io_pressure_threshold=60)
    assert host["ksm_run"] == 0
    assert guest["balloon_target"] > 81920
    assert guest["io_tune"] == "maximum"
    _, guest = cycle(900_000, 97000)
    assert guest["balloon_target"] == 98304
    host, guest = cycle(50_000, 98304, ksmEnabled=0, balloonEnabled=0)
    assert host["ksm_run"] == 0 and "balloon_target" not in guest
