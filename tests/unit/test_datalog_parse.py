"""The Datalog dialect's parser: grammar/datalog.lark + grammar/datalog.py."""

from __future__ import annotations

import doctest
import random

import pytest

from iamlogic.grammar import datalog
from iamlogic.grammar.datalog import (
    Atom,
    Comparison,
    Const,
    Negation,
    Program,
    Query,
    Rule,
    Var,
    parse_program,
    parse_query,
    quote,
)
from iamlogic.grammar.diagnostics import InvalidInput, Span


def test_doctests():
    assert doctest.testmod(datalog).failed == 0


def test_rule_with_every_kind_of_literal():
    (rule,) = parse_program('head(X, "lit", 3) :- body(X, Y), not other(Y), X != Y.').rules
    assert rule == Rule(
        Atom("head", (Var("X"), Const("lit"), Const(3))),
        (
            Atom("body", (Var("X"), Var("Y"))),
            Negation(Atom("other", (Var("Y"),))),
            Comparison("!=", Var("X"), Var("Y")),
        ),
    )
    assert not rule.is_fact
    assert rule.variables == ("X", "Y")


def test_facts_comments_and_zero_arity():
    text = """
    % a comment with "quotes" and :- and .
    edge("a", "b").   # another comment
    edge("b", -12).
    done :- edge(_, _).
    ready() :- done().
    """
    program = parse_program(text, "f.dl")
    assert [str(r) for r in program.rules] == [
        'edge("a", "b").',
        'edge("b", -12).',
        "done :- edge(_, _).",
        "ready :- done.",
    ]
    assert program.rules[0].is_fact
    assert program.rules[3].head == Atom("ready", ())
    assert program.file == "f.dl" and program.text == text


def test_empty_program():
    assert parse_program("  % nothing here\n").rules == ()


@pytest.mark.parametrize("op", ["=", "!=", "<", "<=", ">", ">="])
def test_comparison_operators(op):
    (rule,) = parse_program(f"p(X) :- q(X, Y), X {op} 3.").rules
    assert rule.body[1] == Comparison(op, Var("X"), Const(3))


def test_keyword_not_does_not_swallow_relation_names():
    (rule,) = parse_program("p(X) :- nothing(X), not note(X), notable(X).").rules
    assert [str(lit) for lit in rule.body] == ["nothing(X)", "not note(X)", "notable(X)"]


def test_variables_anonymous_and_underscore_names():
    q = parse_query("?- p(_, X, _Y, X, _, Z).")
    assert q.variables == ("X", "_Y", "Z")
    args = q.body[0].args
    assert args[0].is_anonymous and args[4].is_anonymous and not args[2].is_anonymous


def test_string_escapes():
    (rule,) = parse_program(r'p("q\"uote", "back\\slash", "nl\n", "tab\t", "cr\r", "\u00e9\u0041").').rules
    assert [a.value for a in rule.head.args] == ['q"uote', "back\\slash", "nl\n", "tab\t", "cr\r", "éA"]


@pytest.mark.parametrize(
    "value",
    ['plain', 'with "quotes"', "back\\slash\\", "multi\nline\r\n", "x'); __import__('os')#", "\x00\x1f\x7f", "é ☃ 😀", ""],
)
def test_quote_round_trips(value):
    (rule,) = parse_program(f"p({quote(value)}).").rules
    assert rule.head.args[0].value == value


def test_print_parse_round_trip():
    text = '''
    a(X, "s\\"q", -3) :- b(X, _), not c(X, "x"), X != "y", X = Z, d(Z).
    e("f", 1).
    g :- e(_, N), N >= 1.
    '''
    program = parse_program(text)
    again = parse_program(str(program))
    assert again.rules == program.rules
    q = parse_query('anc("a", X), not blocked(X), X < 3')
    assert parse_query(str(q)) == q


def test_spans():
    text = 'p(X) :-\n    q(X, "v"),\n    not r(X).'
    (rule,) = parse_program(text, "s.dl").rules
    assert rule.head.span == Span("s.dl", 1, 1, 1, 5)
    q = rule.body[0]
    assert (q.span.line, q.span.col) == (2, 5)
    assert q.args[1].span == Span("s.dl", 2, 10, 2, 13)
    neg = rule.body[1]
    assert (neg.span.line, neg.span.col) == (3, 5)
    assert (neg.atom.span.line, neg.atom.span.col) == (3, 9)


def test_spans_do_not_take_part_in_equality():
    assert parse_program("p(X) :- q(X).").rules == parse_program("p( X )\n :-   q(X) .").rules


@pytest.mark.parametrize("text", ['?- p(X), X = "a".', 'p(X), X = "a".', '?- p(X), X = "a"', 'p(X), X = "a"'])
def test_query_forms(text):
    q = parse_query(text)
    assert isinstance(q, Query)
    assert str(q) == '?- p(X), X = "a".'


@pytest.mark.parametrize(
    "text, code, line, col",
    [
        ("p(X) :- q(X),.", "E401", 1, 14),
        ("X(a).", "E401", 1, 1),
        ("p(X) :- q(X) r(X).", "E401", 1, 14),
        ("p(X) :- not X.", "E401", 1, 13),
        ("p(X) :- q(X) @ r(X).", "E402", 1, 14),
        ("p(X) :- q(X).\np(3.5).", "E401", 2, 4),
        ("p(X) :- q(X) & r(X).", "E402", 1, 14),
        ('p("abc).', "E403", 1, 3),
        ('p("multi\nline").', "E403", 1, 3),
        ("p(X) :- q(X)", "E404", 1, 13),
        ("p(X) :-\n  q(X),\n  r(X)   % trailing comment\n", "E404", 3, 7),
        (r'p("a\qb").', "E405", 1, 5),
        ("p(X) :- q(alice).", "E406", 1, 11),
        ("p(X) :- q(X), X = bob.", "E406", 1, 19),
    ],
)
def test_syntax_errors(text, code, line, col):
    with pytest.raises(InvalidInput) as info:
        parse_program(text, "bad.dl")
    (diag,) = info.value.diagnostics
    assert (diag.code, diag.span.file, diag.span.line, diag.span.col) == (code, "bad.dl", line, col)
    rendered = info.value.render()
    assert rendered.startswith(f"bad.dl:{line}:{col}: {code}: ")
    assert "^" in rendered  # the caret line, from the source kept in the exception


def test_syntax_error_help_lists_expected_tokens():
    with pytest.raises(InvalidInput) as info:
        parse_program("p(X) :- q(X) r(X).")
    assert info.value.diagnostics[0].help == "expected one of: ',', '.'"


def test_every_unquoted_word_and_bad_escape_is_reported():
    with pytest.raises(InvalidInput) as info:
        parse_program('p(X) :- q(alice, X), r(bob, "\\z").', "w.dl")
    diags = info.value.diagnostics
    assert [(d.code, d.span.col) for d in diags] == [("E406", 11), ("E406", 24), ("E405", 30)]
    assert diags[0].help.startswith('write "alice"')


def test_empty_query_is_an_error():
    with pytest.raises(InvalidInput) as info:
        parse_query("   ")
    assert info.value.diagnostics[0].code == "E404"


def test_rejects_non_text():
    with pytest.raises(TypeError):
        parse_program(b"p(1).")


def test_no_lark_exception_escapes_on_garbage():
    rng = random.Random(4711)
    alphabet = 'pqXY_(),.:-?!=<>"\\%#\n 0123notabc\t\u00e9'
    for _ in range(400):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        for parse in (parse_program, parse_query):
            try:
                result = parse(text)
            except InvalidInput as exc:
                assert exc.diagnostics and all(d.code.startswith("E40") for d in exc.diagnostics)
            else:
                assert isinstance(result, (Program, Query))
