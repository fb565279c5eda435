"""The REPL's input (logic/repl.py): lines continued over several lines, condition-key completion,
and the picture of a decision's proof (``:graph why`` and ``why ... --graph``)."""

from __future__ import annotations

import io
import json
import re

import pytest

import iamlogic
from iamlogic.catalog import Catalog
from iamlogic.grammar.query import Graph, Why, help_text, parse_line
from iamlogic.repl import Session, completion_word, join_continuations, needs_more, run_repl

from ..conftest import EXAMPLES
from .test_graph import _dot_labels, _fake_dot

CROSS = str(EXAMPLES / "cross-account" / "world.iaml")
PUT = "dana s3:PutObject arn:aws:s3:::b-reports/x"


@pytest.fixture(scope="module")
def world():
    return iamlogic.load([CROSS])


@pytest.fixture
def s(world):
    return Session(world=world)


def caret(out: str, source_line: str) -> str:
    """The caret line under ``source_line`` in a rendered diagnostic."""
    lines = out.splitlines()
    i = lines.index("    " + source_line)
    return lines[i + 1]


# -- multi-line input --------------------------------------------------------------------------


@pytest.mark.parametrize("text, more", [
    ("can dana s3:PutObject \\", True),
    ("can dana s3:PutObject \\   ", True),  # blanks after the backslash
    ("can dana s3:PutObject\\\n  arn:aws:s3:::b/x \\", True),
    ("can dana s3:PutObject\\\n  arn:aws:s3:::b/x", False),
    ("can dana \\\n", False),  # an empty line ends any input
    ("can dana s3:PutObject *", False),
    (":help", False),
    ("?-", True),
    ("?- account(A, _)", False),  # a one-line query needs no '.'
    ("?- account(A, _).", False),
    ("?- principal(P, _, A),", True),
    ("?- principal(P,", True),
    ("?- principal(P, _, A), not", True),
    ("?- principal(P, _, A), nothing(P)", False),
    ("?- principal(P, _, A),\n  not group_member(P, _)", True),  # several lines: until the '.'
    ("?- principal(P, _, A),\n  not group_member(P, _).", False),
    ("?- principal(P, _, A),\n  not group_member(P, _)\n", False),
    ('?- statement_sid(S, "a.(")', False),  # a '.' or '(' in a string is not code
    ('?- statement_sid(S, "x"),\n  statement(S, _, _, _) % the end.', True),  # nor one in a comment
    ('?- statement_sid(S, "x"),\n  statement(S, _, _, _). % the end', False),
    ('?- statement_sid(S, "\\"("),\n  S != "y".', False),
])
def test_needs_more(text, more):
    assert needs_more(text) is more
    assert Session().needs_more(text) is more


def test_join_continuations_keeps_every_column():
    text = "can dana \\\n  s3:PutObject \\  \n *"
    joined = join_continuations(text)
    assert joined == "can dana  \n  s3:PutObject    \n *" and len(joined) == len(text)
    assert join_continuations('can dana "a\\\\" *') == 'can dana "a\\\\" *'  # not at a line's end


def test_continued_query_is_answered_as_one(s):
    out = s.handle("can dana \\\n  s3:PutObject \\\n  arn:aws:s3:::b-reports/x")
    assert out.startswith("Allow: arn:aws:iam::222222222222:user/dana s3:PutObject arn:aws:s3:::b-reports/x")
    out = s.handle('?- principal(P, "user", A),\n   not group_member(P, _).')
    assert out.splitlines()[0] == "2 answer(s)"


def test_errors_in_continued_input_point_at_the_line_typed(s):
    out = s.handle("can dana s3:PutObject \\\n    arn:aws:s3")
    assert out.startswith("<input>:2:5: E611: malformed resource 'arn:aws:s3'")
    assert caret(out, "    arn:aws:s3") == "    " + " " * 4 + "^" * 10
    out = s.handle('?- principal(P, "user", A),\n   not group_membr(P, _).')
    assert out.startswith("<input>:2:8: E410: unknown relation 'group_membr'")
    assert caret(out, "   not group_membr(P, _).") == "    " + " " * 7 + "^" * len("group_membr(P, _)")
    out = s.handle("can dana \\\n  s3:PutObject * with = 3")  # a syntax error on line 2
    assert out.startswith("<input>:2:23: E601: unexpected '='")
    assert caret(out, "  s3:PutObject * with = 3") == "    " + " " * 22 + "^"
    out = s.handle("why dana \\\n  s3:PutObject")  # incomplete: the caret after the last word
    assert out.startswith("<input>:2:15: E604")
    assert caret(out, "  s3:PutObject") == "    " + " " * 14 + "^"
    assert s.status == 3


def test_run_repl_reads_continued_lines(tmp_path, monkeypatch):
    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput

    monkeypatch.setenv("IAMLOGIC_HISTORY", str(tmp_path / "hist"))
    out = io.StringIO()
    with create_pipe_input() as pipe:
        pipe.send_text("can dana \\\r")
        pipe.send_text("s3:Put\x03")  # Ctrl-C drops the continued input as a whole
        pipe.send_text("arn:aws:s3:::b-reports/x\r")  # a new input: not a query
        pipe.send_text("can dana \\\r  s3:PutObject \\\r  arn:aws:s3:::b-reports/x\r")
        pipe.send_text('?- principal(P, "user", A),\r  not group_member(P, _)\r.\r')
        pipe.send_text("\x04")
        assert run_repl([CROSS], input=pipe, output=DummyOutput(), stdout=out) == 0
    text = out.getvalue()
    assert "E608: 'arn:aws:s3:::b-reports/x' does not start a query" in text
    assert text.count("Allow: arn:aws:iam::222222222222:user/dana s3:PutObject") == 1
    assert "2 answer(s)" in text and "E4" not in text


# -- condition keys after `with` ---------------------------------------------------------------


def test_completion_offers_the_actions_keys_then_global_ones(s):
    keys = s.complete("can dana s3:PutObject arn:aws:s3:::b-reports/x with ")
    info = Catalog.default().action("s3:PutObject")
    assert "s3:x-amz-acl" in info.condition_keys
    own = [re.split(r"\$\{|<", k)[0] for k in info.condition_keys]
    assert keys[:len(own)] == list(dict.fromkeys(own))  # the action's own keys first, templates cut
    assert {"s3:x-amz-acl", "aws:SourceIp", "aws:SecureTransport", "s3:prefix"} <= set(keys)
    assert "aws:PrincipalTag/" in keys and not any("${" in k or "<" in k for k in keys)
    assert not any(k.startswith("ec2:Instance") for k in keys)  # another service's own keys: no
    assert s.complete("can dana s3:PutObject * with s3:x-amz-a") == ["s3:x-amz-acl"]
    assert s.complete("can dana s3:PutObject * with aws:secure") == ["aws:SecureTransport"]


def test_completion_of_keys_in_every_form(s):
    assert "aws:SourceIp" in s.complete("who can s3:GetObject * with aws:Source")
    assert "s3:ExistingObjectTag/" in s.complete("who can s3:GetObject * with s3:Ex")
    assert "aws:PrincipalTag/" in s.complete("what can dana do on * with aws:Princ")
    assert "s3:x-amz-acl" in s.complete("why not dana s3:PutObject * with s3:x")
    assert "s3:x-amz-acl" in s.complete("why dana s3:PutObject * with s3:x")
    assert "s3:x-amz-acl" in s.complete(":graph why dana s3:PutObject * with s3:x")
    assert "iam:PassedToService" in s.complete("can dana iam:PassRole * with iam:Pass")
    assert "s3:prefix" in s.complete("can dana s3:List* * with s3:pre")  # a wildcard: its service's keys
    # the next key of a clause, after a comma with or without a blank
    assert s.complete("can dana s3:PutObject * with aws:SourceIp=10.0.0.1, aws:SecureT") == ["aws:SecureTransport"]
    assert s.complete("can dana s3:PutObject * with aws:SourceIp=10.0.0.1,aws:SecureT") == ["aws:SecureTransport"]
    assert completion_word("can dana s3:PutObject * with a=1,aws:Sec") == "aws:Sec"
    assert completion_word("can dana s3:Put") == "s3:Put" and completion_word("?- account(A, acc") == "acc"
    # a continued line completes as one input
    assert s.complete("can dana s3:PutObject \\\n  * with aws:SecureT") == ["aws:SecureTransport"]


def test_completion_keeps_the_worlds_keys(tmp_path):
    world = tmp_path / "w.iaml"
    world.write_text('account 111122223333 "a" {\n  user u { policy P { allow s3:GetObject on * '
                     'when StringEquals aws:PrincipalTag/team "x" } }\n}\n')
    s = Session([str(world)])
    assert "aws:PrincipalTag/team" in s.complete("can u s3:GetObject * with aws:PrincipalT")


def test_completion_of_graph(s):
    assert s.complete(":graph ") == ["org", "reach", "why"]
    assert s.complete(":graph why da") == ["dana"]
    assert s.complete(":graph why dana s3:PutObject * ") == ["with"]
    assert s.complete("why dana s3:PutObject * ") == ["with", "--graph"]
    assert s.complete("can dana s3:PutObject * ") == ["with"]


# -- the proof as a picture --------------------------------------------------------------------


def test_graph_why_parses_with_context_and_file():
    g = parse_line(":graph why dana s3:PutObject arn:aws:s3:::b/x with aws:SourceIp=10.0.0.1, k=[a, b] p.svg")
    assert isinstance(g, Graph) and g.picture == "why" and g.file == "p.svg"
    assert isinstance(g.why, Why) and g.why.principal.value == "dana"
    assert g.why.context_dict() == {"aws:SourceIp": "10.0.0.1", "k": ["a", "b"]}
    g2 = parse_line("why dana s3:PutObject arn:aws:s3:::b/x with aws:SourceIp=10.0.0.1, k=[a, b] --graph p.svg")
    assert g2 == g
    assert parse_line(":GRAPH  Why dana s3:PutObject *").file is None
    assert parse_line("why dana s3:PutObject * --graph").file is None
    assert isinstance(parse_line("why dana s3:PutObject *"), Why)
    assert parse_line(":load why").paths[0].value == "why"  # only ":graph why" is a form
    assert parse_line(":help why").topic == "why"


def _no_req(text: str) -> str:
    return re.sub(r"req\d+", "reqN", text)


def test_graph_why_draws_the_proof(s):
    out = s.handle(f":graph why {PUT}")
    assert out.startswith("digraph proof {") and s.status == 0
    d = s.world.check("dana", "s3:PutObject", "arn:aws:s3:::b-reports/x")
    labels = _dot_labels(out + "\n")
    assert _no_req(labels[0][0]) == _no_req(d.proof().judgement)
    assert any("'AllowDanaPut'" in line for label in labels for line in label)
    assert _no_req(s.handle(f"why {PUT} --graph")) == _no_req(out)
    assert _no_req(s.handle(f"why {PUT} with aws:SourceIp=10.0.0.1 --graph")) == _no_req(out)
    denied = s.handle(":graph why noperm s3:PutObject arn:aws:s3:::b-reports/x")
    assert 'decision(\\"req' in denied and '\\"ImplicitDeny\\")' in denied


def test_graph_why_writes_dot_mermaid_and_svg(s, tmp_path, monkeypatch):
    dot, mmd, svg = tmp_path / "p.dot", tmp_path / "p.mmd", tmp_path / "p.svg"
    assert s.handle(f":graph why {PUT} {dot}") == f"wrote {dot}"
    assert dot.read_text().startswith("digraph proof {")
    assert s.handle(f"why {PUT} --graph '{mmd}'") == f"wrote {mmd}"
    assert mmd.read_text().startswith("graph TD\n") and "#quot;" in mmd.read_text()
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))  # no Graphviz: fail closed, nothing written
    out = s.handle(f":graph why {PUT} {svg}")
    assert out.startswith(f"error: {svg} was not written: SVG needs Graphviz's dot program") and s.status == 3
    assert not svg.exists()
    _fake_dot(tmp_path, monkeypatch)
    assert s.handle(f":graph why {PUT} {svg}") == f"wrote {svg}"
    assert svg.read_text().startswith("<svg>digraph proof {")
    assert s.handle(f":graph org {tmp_path / 'org.mmd'}") == f"wrote {tmp_path / 'org.mmd'}"
    assert (tmp_path / "org.mmd").read_text().startswith("graph TD")
    out = s.handle(f":graph why {PUT} {tmp_path / 'no' / 'such' / 'dir.dot'}")
    assert out.startswith("error: cannot write") and s.status == 3


def test_graph_why_errors(s):
    line = ":graph why danna s3:PutObject *"
    out = s.handle(line)
    assert out.startswith("<input>:1:12: E504") and caret(out, line) == "    " + " " * 11 + "^" * 5
    out = s.handle(":graph why dana s3:PutObject bucket")
    assert "E611: malformed resource 'bucket'" in out and s.status == 3
    out = s.handle(":graph why not dana s3:PutObject *")
    assert "E606: :graph why draws the proof of an answer" in out and s.status == 3
    out = s.handle(":graph why dana s3:PutObject")
    assert "E604" in out and "usage: :graph org|reach|why" in out
    out = s.handle(f"why {PUT} --graph a.dot b.dot")
    assert "E601: unexpected 'b.dot'" in out
    out = s.handle(":graph why dana s3:PutObjekt *")
    assert "W613" in out and "digraph proof {" in out
    assert "E610" in Session().handle(f":graph why {PUT}")


def test_graph_why_json(s):
    s.handle(":format json")
    data = json.loads(s.handle(f":graph why {PUT}"))
    assert data["graph"].startswith("digraph proof {")
    data = json.loads(s.handle(":graph why dana s3:PutObjekt *"))
    assert data["diagnostics"][0]["code"] == "W613" and "graph" in data


def test_help_names_the_new_syntax():
    text = help_text()
    assert ":graph org|reach|why [P A R [with ...]] [FILE]" in text
    assert "[--graph [FILE]]" in text and "continues on the next" in text
    assert help_text(":graph").startswith(":graph org|reach|why")
