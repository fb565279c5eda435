"""The Datalog checker: logic/dlcheck.py."""

from __future__ import annotations

import doctest

import pytest

from iamlogic import dlcheck
from iamlogic.dlcheck import CODES, BuiltinSpec, check_program, check_query, derived_relations
from iamlogic.grammar.datalog import parse_program, parse_query

DECLARED = {"parent": 2, "node": 1, "user": 1, "banned": 1, "tag": 3}
BUILTINS = {
    "wildcard_match": BuiltinSpec(inputs=(0, 1)),
    "split": BuiltinSpec(inputs=(0,), outputs=(1,)),
}


def check(text: str) -> list:
    return check_program(parse_program(text, "t.dl"), DECLARED, BUILTINS)


def codes(text: str) -> list[str]:
    return [d.code for d in check(text)]


def where(text: str) -> list[tuple[str, int, int]]:
    return [(d.code, d.span.line, d.span.col) for d in check(text)]


def test_doctests():
    assert doctest.testmod(dlcheck).failed == 0


def test_a_correct_program_has_no_diagnostics():
    text = """
    anc(X, Y) :- parent(X, Y).
    anc(X, Y) :- anc(X, Z), parent(Z, Y).
    ok(U) :- user(U), not banned(U).
    lonely(N) :- node(N), not parent(N, _), not parent(_, N).
    matches(U, P) :- user(U), tag(U, "pattern", P), wildcard_match(P, U).
    part(U, S) :- user(U), split(U, S), S != "x".
    kind(U, K) :- user(U), K = "user".
    kind(U, K) :- user(U), "admin" = K.
    unmatched(U) :- user(U), tag(U, "pattern", P), not wildcard_match(P, U).
    big(N) :- node(N), N > 3, N >= 4, N < 10, N <= 9.
    fact_like("a", 1).
    """
    assert check(text) == []


def test_unknown_relation_with_did_you_mean():
    (d,) = check("anc(X, Y) :- parnt(X, Y).")
    assert (d.code, d.span.line, d.span.col) == ("E410", 1, 14)
    assert d.message == "unknown relation 'parnt'"
    assert d.help == "did you mean 'parent'?"


def test_unknown_relation_in_negation_and_derived_names_are_suggested():
    diags = check("reach(X) :- node(X). r(X) :- node(X), not reech(X).")
    assert [(d.code, d.help) for d in diags] == [("E410", "did you mean 'reach'?")]


def test_arity_mismatch_in_body_and_between_heads():
    assert where("p(X) :- parent(X).") == [("E411", 1, 9)]
    assert where("p(X) :- node(X).\np(X, Y) :- parent(X, Y).") == [("E411", 2, 1)]
    assert where("p(X) :- node(X), wildcard_match(X).") == [("E411", 1, 18)]


def test_head_must_not_be_declared_or_builtin():
    assert codes('parent("a", "b").') == ["E412"]
    assert codes("node(X) :- user(X).") == ["E412"]
    assert codes('wildcard_match("a", "b").') == ["E412"]


def test_range_restriction():
    assert where("p(X, Y) :- node(X).") == [("E413", 1, 6)]
    assert where("p(X).") == [("E413", 1, 3)]
    assert where("p(_) :- node(_).") == [("E413", 1, 3)]
    # a negated literal does not bind
    assert codes("p(X) :- node(Y), not node(X).") == ["E413", "W401", "E414"]


def test_negated_literal_variables_must_be_bound_earlier():
    assert where("ok(U) :- not banned(U), user(U).") == [("E414", 1, 21)]
    # '_' in a negated literal means "any value" and is fine
    assert codes("ok(U) :- user(U), not tag(U, _, _).") == []


def test_comparison_arguments_must_be_bound_earlier():
    assert where("p(X) :- X != 3, node(X).") == [("E415", 1, 9)]
    assert where('p(X) :- node(X), X < Y, node(Y).') == [("E415", 1, 22)]
    # '_' is never bound, so it cannot be compared
    assert codes("p(X) :- node(X), X != _.") == ["E415"]
    assert codes("p(X) :- node(X), _ = X.") == ["E415"]


def test_equality_binds_one_unbound_variable():
    assert codes('p(X, Y) :- node(X), Y = X.') == []
    assert codes('p(Y) :- Y = "c".') == []
    assert where("p(X, Y) :- node(X), Y = Z.") == [("E413", 1, 6), ("E415", 1, 21), ("E415", 1, 25)]


def test_builtin_inputs_must_be_bound_earlier():
    assert where("m(P, U) :- wildcard_match(P, U), user(U), tag(U, _, P).") == [("E416", 1, 27), ("E416", 1, 30)]
    assert where("m(U) :- user(U), wildcard_match(_, U).") == [("E416", 1, 33)]
    # outputs may be unbound and become bound
    assert codes("m(U, S) :- user(U), split(U, S).") == []
    assert where("m(U, S) :- split(U, S), user(U).") == [("E416", 1, 18)]


def test_negated_builtin_needs_bound_inputs():
    assert where("m(U) :- user(U), not wildcard_match(P, U).") == [("E416", 1, 37)]
    assert codes("m(U) :- user(U), not split(U, _).") == []


def test_recursion_through_negation_reports_the_cycle():
    diags = check("p(X) :- node(X), not q(X).\nq(X) :- r(X), node(X).\nr(X) :- p(X), node(X).")
    assert [(d.code, d.span.line, d.span.col) for d in diags] == [("E417", 1, 18)]
    assert diags[0].message == "recursion through negation: p -> not q -> r -> p"
    (d,) = check("s(X) :- node(X), not s(X).")
    assert d.message == "recursion through negation: s -> not s"


def test_stratified_negation_is_fine():
    assert codes("p(X) :- node(X), not q(X).\nq(X) :- parent(X, _).\nr(X) :- node(X), not p(X).") == []


def test_right_recursion_is_rejected():
    (d,) = check("anc(X, Y) :- parent(X, Y).\nanc(X, Y) :- parent(X, Z), anc(Z, Y).")
    assert (d.code, d.span.line, d.span.col) == ("E418", 2, 28)
    assert "anc(X, Z), parent(Z, Y)" in d.help


def test_mutual_recursion_must_be_left_recursive_too():
    left = "t(X, Y) :- parent(X, Y).\nt(X, Y) :- u(X, Z), parent(Z, Y).\nu(X, Y) :- t(X, Y)."
    right = "t(X, Y) :- parent(X, Y).\nt(X, Y) :- parent(X, Z), u(Z, Y).\nu(X, Y) :- t(X, Y)."
    assert codes(left) == []
    assert where(right) == [("E418", 2, 26)]
    # non-linear recursion with the recursive literal first is accepted
    assert codes("t(X, Y) :- parent(X, Y).\nt(X, Y) :- t(X, Z), t(Z, Y).") == []


def test_singleton_variable_warning():
    diags = check("p(X) :- parent(X, Y).")
    assert [(d.code, d.severity, d.span.col) for d in diags] == [("W401", "warning", 19)]
    assert codes("p(X) :- parent(X, _Y).") == []
    assert codes("p(X) :- parent(X, _).") == []


def test_every_independent_error_is_reported_sorted():
    # an atom of an unknown relation still binds its variables: no cascade of E413
    diags = check("a(X) :- nod(X).\nb(X, Y) :- node(X).\nc(X) :- not node(X).")
    assert [(d.code, d.span.line) for d in diags] == [("E410", 1), ("E413", 2), ("E413", 3), ("E414", 3)]


def test_check_query():
    declared, builtins = DECLARED, BUILTINS
    derived = {"anc": 2}

    def q(text):
        return [d.code for d in check_query(parse_query(text), declared, builtins, derived)]

    assert q('?- anc("a", X), not banned(X), X != "b".') == []
    assert q("?- anc(X).") == ["E411"]
    assert q("?- ancc(X, Y).") == ["E410"]
    assert q("?- not banned(X).") == ["E414"]
    assert q('?- X = "a".') == []
    assert q("?- wildcard_match(P, \"x\").") == ["E416"]
    assert q('?- user(U), split(U, S).') == []


def test_derived_relations():
    program = parse_program("a(X) :- node(X). b :- a(_). a(X) :- user(X).")
    assert derived_relations(program) == {"a": 1, "b": 0}


def test_builtin_spec_validation():
    assert BuiltinSpec(inputs=(1,), outputs=(0,)).arity == 2
    assert BuiltinSpec(inputs=()).arity == 0
    assert BuiltinSpec(inputs=(0,), outputs=(1,), attribute="account").attribute == "account"
    for bad in [dict(inputs=(0, 0)), dict(inputs=(1,)), dict(inputs=(0,), outputs=(0,)), dict(inputs=(-1,)),
                dict(inputs=(0, 1), attribute="account"), dict(inputs=(0,), attribute="account"),
                dict(inputs=(0,), outputs=(1,), attribute="a.b")]:
        with pytest.raises(ValueError):
            BuiltinSpec(**bad)


def test_codes_table():
    emitted = {"E410", "E411", "E412", "E413", "E414", "E415", "E416", "E417", "E418", "E419", "W401"}
    assert emitted | {"E401", "E402", "E403", "E404", "E405", "E406", "E407"} == set(CODES)
