"""Reserved Instances and Savings Plans shared across an organization (seed scenario 1): AWS's
documented examples worked by the rules, the order in which a Savings Plan covers usage, and
discount sharing turned off."""

from __future__ import annotations

import os
from decimal import Decimal

import pytest

import iamlogic
from iamlogic.billing import bill, usd
from iamlogic.cli import main
from iamlogic.grammar.printer import print_world

from ..conftest import EXAMPLES

DISCOUNTS = EXAMPLES / "discounts"
UPDATE = os.environ.get("IAMLOGIC_UPDATE_GOLDEN") == "1"
PICO = 10**12

EC2 = 'aws price "AmazonEC2" "Box:a" { from 0 "2.00" }\naws price "AmazonEC2" "Box:b" { from 0 "1.00" }\n'


def _world(text: str):
    return iamlogic.loads(text, "w.iaml")


def _spent(world) -> dict:
    ask = world.evaluator().query
    return {(a, t): usd(x) for _, _, t, a, x in ask('?- sp_spent("consolidated", P, _, S, T, A, X).')}


@pytest.fixture(scope="module")
def example():
    return iamlogic.load([str(DISCOUNTS / "world.iaml")])


def test_the_example_bill_is_as_recorded(capsys):
    assert main(["bill", str(DISCOUNTS / "world.iaml")]) == 0
    out = capsys.readouterr().out
    if UPDATE:
        (DISCOUNTS / "bill.txt").write_text(out, encoding="utf-8")
    assert out == (DISCOUNTS / "bill.txt").read_text(encoding="utf-8")


def test_aws_examples_worked_by_the_rules(example):
    org, = bill(example).pools
    share = {a.name: usd(a.share) for a in org.accounts}
    # Reserved Instances: 5 at $0.02 cover susan's 3 and 2 of bob's; bob's other 4 at $0.10; lab,
    # which shares nothing, pays its 2 on demand
    assert (share["susan"], share["bob"], share["lab"]) == (Decimal("0.10"), Decimal("0.40"), Decimal("0.20"))
    # the Savings Plan: $10.00 paid by the payer; Fargate GB-hours and c5.9xlarge (50 %) covered,
    # 3 of the 10 vCPU-hours (33 %), the Windows instance (20 %) on demand
    assert (share["payer"], share["containers"], share["batch"]) == (Decimal("10.00"), Decimal("10.50"),
                                                                      Decimal("10.00"))
    assert usd(org.total) == Decimal("31.20") == sum(share.values())
    assert _spent(example) == {("444444444444", "Fargate-GB-Hours"): Decimal("5.00"),
                               ("555555555555", "BoxUsage:c5.9xlarge"): Decimal("2.00"),
                               ("444444444444", "Fargate-vCPU-Hours"): Decimal("3.00"),
                               ("555555555555", "BoxUsage:c5.24xlarge-Windows"): Decimal("0.00")}
    alone = {a.name: usd(a.alone) for a in org.accounts}
    assert (alone["bob"], alone["containers"], alone["payer"]) == (Decimal("0.60"), Decimal("25.00"),
                                                                   Decimal("10.00"))
    lines = {u.usage_type: u for u in org.usage}
    assert lines["BoxUsage:m5.large"].reserved == 5 and usd(lines["BoxUsage:m5.large"].cost) == Decimal("0.60")


def test_equal_savings_go_to_the_lower_rate_first():
    # Box:a and Box:b both save 50 %; $0.50 of commitment covers Box:b (rate $0.50) before Box:a ($1.00)
    w = _world(EC2 + '''account 111111111111 "a" {
      savings_plan "0.50" { rate "AmazonEC2" "Box:a" "1.00"  rate "AmazonEC2" "Box:b" "0.50" }
      usage "AmazonEC2" "Box:a" 1
      usage "AmazonEC2" "Box:b" 1
    }''')
    assert _spent(w) == {("111111111111", "Box:b"): Decimal("0.50"), ("111111111111", "Box:a"): Decimal("0.00")}
    assert usd(bill(w).pools[0].total) == Decimal("2.50")  # the plan, and Box:a on demand


def test_a_plan_covers_its_owner_first_even_at_a_lower_saving():
    # the owner's Box:b saves 10 %, the member's Box:a 50 %: the owner's usage takes the commitment
    w = _world(EC2 + '''organization "o-aaaaaaaaaa" { management "owner"  root { account "member" } }
    account 111111111111 "owner" {
      savings_plan "0.90" { rate "AmazonEC2" "Box:a" "1.00"  rate "AmazonEC2" "Box:b" "0.90" }
      usage "AmazonEC2" "Box:b" 1
    }
    account 222222222222 "member" { usage "AmazonEC2" "Box:a" 1 }''')
    assert _spent(w) == {("111111111111", "Box:b"): Decimal("0.90"), ("222222222222", "Box:a"): Decimal("0.00")}
    org, = bill(w).pools
    assert {a.name: usd(a.share) for a in org.accounts} == {"owner": Decimal("0.90"), "member": Decimal("2.00")}


@pytest.mark.parametrize("off, member_pays", [("member", Decimal("4.00")), ("owner", Decimal("4.00")),
                                              (None, Decimal("0.00"))])
def test_discount_sharing_off_keeps_discounts_in_the_account(off, member_pays):
    owner_off = "discount_sharing off" if off == "owner" else ""
    member_off = "discount_sharing off" if off == "member" else ""
    w = _world(EC2 + f'''organization "o-aaaaaaaaaa" {{ management "owner"  root {{ account "member" }} }}
    account 111111111111 "owner" {{
      {owner_off}
      savings_plan "1.00" {{ rate "AmazonEC2" "Box:a" "1.00" }}
      reservation "AmazonEC2" "Box:b" 2 "0.25"
    }}
    account 222222222222 "member" {{ {member_off}
      usage "AmazonEC2" "Box:a" 1
      usage "AmazonEC2" "Box:b" 2
    }}''')
    org, = bill(w).pools
    shares = {a.name: usd(a.share) for a in org.accounts}
    # shared: the plan covers the member's Box:a and the reservations its Box:b; else it pays all on demand
    assert shares == {"owner": Decimal("1.50"), "member": member_pays}
    assert usd(org.total) == Decimal("1.50") + member_pays


def test_unused_reservations_are_paid_and_the_world_prints_back(example):
    w = _world('''account 111111111111 "a" { reservation "AmazonEC2" "Box:b" 3 "0.30" }
    aws price "AmazonEC2" "Box:b" { from 0 "1.00" }''')
    assert usd(bill(w).pools[0].total) == Decimal("0.90")
    model = example.model
    again = iamlogic.loads(print_world(model), "again.iaml").model
    assert [(a.reservations, a.savings_plans, a.discount_sharing) for a in again.accounts] == [
        (a.reservations, a.savings_plans, a.discount_sharing) for a in model.accounts]
