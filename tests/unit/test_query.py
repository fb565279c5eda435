"""The query language: grammar/query.lark + grammar/query.py."""

from __future__ import annotations

import random

import pytest

from iamlogic.grammar import datalog
from iamlogic.grammar.diagnostics import InvalidInput
from iamlogic.grammar.query import (
    CODES,
    COMMANDS,
    Can,
    ContextEntry,
    DatalogQuery,
    Help,
    Load,
    Quit,
    Reload,
    SetExplain,
    SetFormat,
    ShowRelations,
    ShowWorld,
    WhatCan,
    WhoCan,
    Why,
    WhyNot,
    Word,
    help_text,
    parse_line,
)


def error(text: str):
    with pytest.raises(InvalidInput) as info:
        parse_line(text)
    return info.value


# -- every form --------------------------------------------------------------------------------


def test_can_with_context():
    q = parse_line("can alice s3:GetObject arn:aws:s3:::b/k with aws:SourceIp=10.0.0.1, aws:SecureTransport=true")
    assert q == Can(Word("alice"), Word("s3:GetObject"), Word("arn:aws:s3:::b/k"),
                    (ContextEntry(Word("aws:SourceIp"), "10.0.0.1"), ContextEntry(Word("aws:SecureTransport"), "true")))
    assert q.context_dict() == {"aws:SourceIp": "10.0.0.1", "aws:SecureTransport": "true"}


def test_spans_point_into_the_line():
    q = parse_line("can alice s3:GetObject *")
    assert (q.principal.span.col, q.principal.span.end_col) == (5, 10)
    assert (q.action.span.col, q.resource.span.col) == (11, 24)
    assert q.span.col == 1 and q.span.end_col == 25


def test_why_and_why_not():
    assert parse_line("why bob redshift:CreateCluster *") == Why(Word("bob"), Word("redshift:CreateCluster"), Word("*"))
    assert parse_line("why not bob redshift:CreateCluster *") == WhyNot(Word("bob"), Word("redshift:CreateCluster"),
                                                                          Word("*"))
    # keywords are case-insensitive whole words: "nothing" is a principal, "not" the keyword
    assert parse_line("WHY NOT bob a:B *") == WhyNot(Word("bob"), Word("a:B"), Word("*"))
    assert parse_line("why nothing a:B *") == Why(Word("nothing"), Word("a:B"), Word("*"))
    assert parse_line('why "not" a:B *') == Why(Word("not"), Word("a:B"), Word("*"))


def test_who_can_and_what_can():
    q = parse_line('who can s3:GetObject "arn:aws:s3:::b/my key" with aws:PrincipalTag/team="red team"')
    assert q == WhoCan(Word("s3:GetObject"), Word("arn:aws:s3:::b/my key"),
                       (ContextEntry(Word("aws:PrincipalTag/team"), "red team"),))
    assert parse_line("what can alice do on *") == WhatCan(Word("alice"), Word("*"))
    assert parse_line("what can do do on on") == WhatCan(Word("do"), Word("on"))  # keywords only where expected
    assert parse_line("what can alice do on * with aws:SourceIp=1.2.3.4").context_dict() == {"aws:SourceIp": "1.2.3.4"}


def test_quoted_words_and_escapes():
    q = parse_line(r"""can 'arn:aws:iam::111122223333:user/a b' "s3:Get\"Object" '*'""")
    assert (q.principal.value, q.action.value, q.resource.value) == ("arn:aws:iam::111122223333:user/a b",
                                                                     's3:Get"Object', "*")


def test_multivalued_context():
    q = parse_line("can a s3:X * with aws:TagKeys=[a, 'b c'], k=1, k=2, e=[]")
    assert q.context_dict() == {"aws:TagKeys": ["a", "b c"], "k": ["1", "2"], "e": []}
    assert parse_line("can a s3:X * with k=a=b").context_dict() == {"k": "a=b"}


def test_datalog_query_is_parsed_by_the_datalog_grammar():
    q = parse_line('?- principal(P, "user", A), not group_member(P, _).')
    assert isinstance(q, DatalogQuery)
    assert q.query == datalog.parse_query('principal(P, "user", A), not group_member(P, _)')
    assert q.query.variables == ("P", "A")
    assert parse_line('  ?- account(A, N)').query.body[0].span.col == 6  # spans are columns of the line


def test_commands():
    assert parse_line(":load a.iaml 'b c.iaml'") == Load((Word("a.iaml"), Word("b c.iaml")))
    assert parse_line(":reload") == Reload()
    assert parse_line(":world") == ShowWorld()
    assert parse_line(":relations") == ShowRelations()
    assert parse_line(":explain blockers") == SetExplain("blockers")
    assert parse_line(":format JSON") == SetFormat("json")
    assert parse_line(":format table") == SetFormat("table")
    assert parse_line(":help") == Help()
    assert parse_line(":help can") == Help("can")
    assert parse_line(":help why NOT") == Help("why not")
    assert parse_line(":quit") == Quit() == parse_line(":q") == parse_line(":exit")


# -- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize("text, code, col, help_part", [
    ("can alice", "E604", 10, "usage: can PRINCIPAL ACTION RESOURCE"),
    ("can a b c with k", "E604", 17, "expected '='"),
    ("can a b c with k=v,", "E604", 20, "usage: can"),
    ("", "E604", 1, "a query starts with"),
    ("can a b c d", "E601", 11, "expected one of: 'with', end of input"),
    ("what can x do *", "E601", 15, "expected 'on'"),
    ("can a b c with =v", "E601", 16, "expected a condition key"),
    ("can \"abc", "E603", 5, "close the string"),
    ("cna alice a b", "E608", 1, "did you mean 'can'?"),
    ("alice s3:GetObject *", "E608", 1, "a query starts with"),
    ("!! x", "E608", 1, None),
    (":lod x", "E605", 1, "did you mean ':load'?"),
    (":format xml", "E606", 9, "usage: :format table|json"),
    (":explain ful", "E606", 10, "did you mean 'full'?"),
    (":explain", "E606", 1, "usage: :explain"),
    (":world extra", "E606", 8, "usage: :world"),
    (":load", "E606", 1, "usage: :load FILE..."),
    (r'can "a\q" b c', "E607", 7, "valid escapes"),
    ('can "" s3:X *', "E612", 5, None),
    ("?- p(X", "E404", 7, "expected one of"),
    ("?- p(alice)", "E406", 6, None),
])
def test_errors_have_codes_spans_and_help(text, code, col, help_part):
    exc = error(text)
    d = exc.diagnostics[0]
    assert d.code == code, exc.render()
    assert d.span.col == col, exc.render()
    if help_part:
        assert help_part in (d.help or ""), exc.render()
    rendered = exc.render()
    assert rendered.startswith(f"<input>:1:{col}: {code}: ")
    if text.strip():
        assert rendered.splitlines()[1] == "    " + text
        assert rendered.splitlines()[2] == "    " + " " * (col - 1) + "^" * max(1, rendered.splitlines()[2].count("^"))


def test_caret_width_covers_the_word():
    rendered = error("cna alice a b").render()
    assert rendered.splitlines()[2] == "    ^^^"


def test_every_escape_and_word_error_is_reported():
    exc = error(r'can "\q" "" "\z"')
    assert [d.code for d in exc.diagnostics] == ["E607", "E612", "E607"]


def test_no_lark_exception_escapes_on_garbage():
    rng = random.Random(4711)
    alphabet = "canwhyotdi :?-=,[]\"'\\*s3Gx()\n\tA_"
    for _ in range(500):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 25)))
        try:
            parse_line(text)
        except InvalidInput as exc:
            assert exc.diagnostics and all(d.code[0] == "E" and d.span is not None for d in exc.diagnostics)
            assert exc.render()
    with pytest.raises(TypeError):
        parse_line(b"can a b c")


def test_codes_and_help():
    assert all(c[:2] in ("E6", "W6") and m for c, m in CODES.items())
    text = help_text()
    for form in ("can PRINCIPAL", "why not", "who can", "what can", "?-"):
        assert form in text
    for command in COMMANDS:
        assert command in text
    assert help_text("can").startswith("can PRINCIPAL") and help_text(":load").startswith(":load FILE")
    assert help_text("why not").startswith("why not") and help_text("quit").startswith(":quit")
