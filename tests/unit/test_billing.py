"""Consolidated billing (seed scenario 1): volume tiers over an organization's pooled usage, each
account's share, what each would pay alone, costs by tag; and the Datalog aggregates behind them."""

from __future__ import annotations

import os
from decimal import Decimal

import pytest

import iamlogic
from iamlogic import InvalidInput
from iamlogic import guardrails as g
from iamlogic.billing import bill, usd
from iamlogic.cli import main
from iamlogic.dlcheck import check_program
from iamlogic.engine import Engine, EngineError
from iamlogic.grammar.datalog import Atom, Const, parse_program
from iamlogic.grammar.printer import print_world

from ..conftest import EXAMPLES

BILLING = EXAMPLES / "billing"
UPDATE = os.environ.get("IAMLOGIC_UPDATE_GOLDEN") == "1"
PICO = 10**12


@pytest.fixture(scope="module")
def world():
    return iamlogic.load([str(BILLING / "world.iaml")])


def test_the_example_bill_is_as_recorded(capsys):
    assert main(["bill", str(BILLING / "world.iaml"), "--tag", "CostCenter"]) == 0
    out = capsys.readouterr().out
    if UPDATE:
        (BILLING / "bill.txt").write_text(out, encoding="utf-8")
    assert out == (BILLING / "bill.txt").read_text(encoding="utf-8")


def test_usage_is_pooled_across_the_organization_to_reach_a_tier(world):
    b = bill(world, "CostCenter")
    org, alone = b.pools
    # S3: 54,000 GB together: 51,200 at 0.023 and 2,800 at 0.022; data transfer: 12,000 GB, web alone
    s3 = 51200 * Decimal("0.023") + 2800 * Decimal("0.022")
    transfer = 10240 * Decimal("0.09") + 1760 * Decimal("0.085")
    assert usd(org.total) == s3 + transfer == Decimal("2310.40")
    shares = {a.name: a for a in org.accounts}
    assert usd(shares["analytics"].share) == (s3 * 45000 / 54000).quantize(Decimal("0.01"))
    assert usd(shares["analytics"].alone) == 45000 * Decimal("0.023")  # below the tier alone
    assert usd(shares["web"].alone) == 9000 * Decimal("0.023") + transfer
    assert org.total - len(org.accounts) * 2 <= sum(a.share for a in org.accounts) <= org.total  # rounded down
    assert (alone.pool, alone.payer, usd(alone.total)) == ("444444444444", "444444444444", Decimal("69.00"))
    assert dict(b.by_tag) == {"data": shares["analytics"].share - 1, "research": 69 * PICO,
                              "web": 206533333333333}  # (each line rounded down: the lake's and the scratch's)
    assert usd(b.untagged) == transfer


def test_the_relations_answer_queries_and_prove_their_sums(world):
    ev = world.evaluator()
    assert ev.query('?- pool_bill("o-billing123", C).') == [(2310400000000000,)]
    node = ev.prove(Atom("pool_bill", (Const("o-billing123"), Const(2310400000000000))), ev.engine,
                    ev._rules_by_head)
    assert node.rule.startswith("sum over 2 solution(s), rule ") and "70-billing.dl" in node.rule
    assert [c.rule for c in node.children] == ["a solution of the body"] * 2


def test_a_guardrail_reads_the_bill(world):
    rules = g.load_guardrails(str(BILLING / "budget.dl"))
    found = g.check_guardrails(world, rules)  # bottom-up, with the aggregates
    assert [(v.account, v.subject) for v in found.violations] == [("222222222222", "222222222222"),
                                                                  ("333333333333", "333333333333")]
    proofs = g.explain(world, rules, found.violations)  # by pyDatalog, the aggregates by the engine
    assert any("sum over" in c.rule for p in proofs for c in p.children)


def test_the_world_prints_back(world):
    assert iamlogic.loads(print_world(world.model), "again.iaml").model == world.model


@pytest.mark.parametrize("text,code", [
    ('account 111111111111 "a" { usage "S3" "GB" 10 }', "E347"),  # no price
    ('account 111111111111 "a" { usage "S3" "GB" 1.5 }\naws price "S3" "GB" { from 0 "1" }', "E346"),
    ('account 111111111111 "a" { usage "S3" "GB" 0 }\naws price "S3" "GB" { from 0 "1" }', "E346"),
    ('account 111111111111 "a"\naws price "S3" "GB" { from 10 "1" }', "E347"),  # no tier from 0
    ('account 111111111111 "a"\naws price "S3" "GB" { from 0 "1" from 0 "2" }', "E347"),
    ('account 111111111111 "a"\naws price "S3" "GB" { from 0 "$1" }', "E347"),
    ('account 111111111111 "a"\naws price "S3" "GB" { from 0 "1" }\naws price "S3" "GB" { from 0 "1" }', "E347"),
])
def test_billing_input_that_cannot_be_priced_is_refused(text, code):
    with pytest.raises(InvalidInput) as exc:
        iamlogic.loads(text, "w.iaml")
    assert [d.code for d in exc.value.diagnostics] == [code]


ENGINE_RULES = """
bill(A, sum(C)) :- line(_I, A, C).
lines(A, count(I)) :- line(I, A, _C).
cheapest(min(C)) :- line(_I, _A, C).
accounts(count(A)) :- bill(A, _).
over(A) :- bill(A, C), C > 8.
"""


def test_aggregates_in_the_engine_follow_the_facts():
    engine = Engine({"line": 3})
    engine.add_facts([("line", 1, "a", 5), ("line", 2, "a", 5), ("line", 3, "b", 7)])
    engine.add_program(parse_program(ENGINE_RULES, "r.dl"))
    assert engine.query("?- bill(A, C).") == [("a", 10), ("b", 7)]  # the two lines of a, each counted
    assert engine.query("?- lines(A, N).") == [("a", 2), ("b", 1)]
    assert engine.query("?- cheapest(C), accounts(N), over(A).") == [(5, 2, "a")]
    engine.add_facts([("line", 4, "c", 100)])  # the aggregates are computed again
    assert engine.query("?- bill(\"c\", C), accounts(N).") == [(100, 3)]


def test_an_aggregate_over_text_is_an_error_not_a_number():
    engine = Engine({"line": 3})
    engine.add_facts([("line", 1, "a", "five")])
    engine.add_program(parse_program("bill(A, sum(C)) :- line(_I, A, C).", "r.dl"))
    with pytest.raises(iamlogic.IamlogicError, match="not an integer"):
        engine.query("?- bill(A, C).")


@pytest.mark.parametrize("text,code", [
    ("t(A, sum(C), max(C)) :- line(_I, A, C).", "E419"),  # two aggregates
    ("t(A) :- line(sum(A), _, _).", "E419"),  # in a body
    ('t("a", sum(C)).', "E419"),  # in a fact
    ("t(A, sum(C)) :- t(A, C).", "E419"),  # recursive
    ("t(A, avg(C)) :- line(_I, A, C).", "E407"),  # unknown
])
def test_aggregates_where_they_cannot_be_computed_are_refused(text, code):
    try:
        diags = check_program(parse_program(text, "r.dl"), {"line": 3}, {})
    except InvalidInput as exc:
        diags = exc.diagnostics
    assert code in [d.code for d in diags]


def test_division_by_zero_is_an_error(world):
    ev = world.evaluator()
    with pytest.raises((iamlogic.IamlogicError, EngineError), match="division by zero"):
        ev.query("?- divide(4, 0, X).")
    assert ev.query("?- divide(7, 2, X), multiply(X, 3, Y), subtract(Y, 10, Z), add(Z, 1, W).") == [(3, 9, -1, 0)]


def test_amounts_of_any_size_are_rounded_to_the_cent():
    # 38 digits of usage at $0.023 (pico-USD 23,000,000,000 a unit): beyond Decimal's default 28 digits
    assert usd(99999999999999999999999999999999999999 * 23_000_000_000) == Decimal(
        "2299999999999999999999999999999999999.98")
    assert usd(5_000_000_000) == Decimal("0.01") and usd(4_999_999_999) == Decimal("0.00")
