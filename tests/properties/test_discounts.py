"""Reserved Instances and Savings Plans on generated organizations: the bill the rules derive is
the one a direct Python reading of the documented order gives (own reservations first, then the
discount group's spare ones account by account; then the Savings Plan, its owner's usage first,
best savings percentage first, lowest rate on a tie; volume tiers over what is left), for the
payer, each account's share and each account alone; and pyDatalog and the bottom-up evaluation
agree on them."""

from __future__ import annotations

import os
from collections import defaultdict
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from iamlogic import World
from iamlogic.compiled import _strata, materialize
from iamlogic.evaluate import BUILTIN_SPECS, rules
from iamlogic.grammar.ast import (Account, AccountRef, Organization, OrgNode, Price, Reservation, SavingsPlan, Usage,
                                  WorldModel)
from iamlogic.world import usd_to_pico

from .test_billing import _tiered

ORG = "o-discounts1"
TIERED = ("AmazonS3", "GB")  # volume tiers: no Savings Plan rate
FLAT = (("AmazonEC2", "Box:a"), ("AmazonEC2", "Box:b"), ("AmazonECS", "vCPU"))  # one price each
USD = ["0.02", "0.05", "0.1", "0.25", "1", "2"]
FRACTIONS = ["0.5", "0.25", "0.8", "1.2"]


@st.composite
def discounted_worlds(draw):
    prices = [Price(*TIERED, ((0, "0.03"), (draw(st.integers(1, 50)), "0.02")))]
    prices += [Price(svc, typ, ((0, draw(st.sampled_from(USD))),)) for svc, typ in FLAT]
    on_demand = {(p.service, p.usage_type): Decimal(p.tiers[0][1]) for p in prices}
    types = (TIERED, *FLAT)
    n = draw(st.integers(2, 5))
    ids = [f"{111111111111 * (i + 1)}" for i in range(n)]
    outside = ids[-1] if draw(st.booleans()) else None
    plan_owner = draw(st.sampled_from([None, *ids]))
    accounts = []
    for i, acct in enumerate(ids):
        def usage_of(svc_typ):
            return Usage(*svc_typ, draw(st.integers(1, 30)))
        usage = tuple(usage_of(t) for t in draw(st.lists(st.sampled_from(types), max_size=4)))
        ris = tuple(Reservation(*t, draw(st.integers(1, 20)), draw(st.sampled_from(USD)))
                    for t in draw(st.lists(st.sampled_from(types), max_size=2)))
        plans = ()
        if acct == plan_owner or (acct == outside and draw(st.booleans())):
            # rates a fraction of the on-demand price, so that savings percentages often tie
            rates = tuple((svc, typ, f"{on_demand[svc, typ] * Decimal(draw(st.sampled_from(FRACTIONS))):f}")
                          for svc, typ in draw(st.sets(st.sampled_from(FLAT), min_size=1)))
            plans = (SavingsPlan(draw(st.sampled_from(USD + ["5", "10"])), rates),)
        sharing = acct == outside or draw(st.integers(0, 3)) > 0
        accounts.append(Account(acct, f"a{i}", usage=usage, reservations=ris, savings_plans=plans,
                                discount_sharing=sharing))
    members = [a for a in ids[1:] if a != outside]
    org = Organization(ORG, ids[0], OrgNode("root", "Root", None, (), tuple(AccountRef(a) for a in members)))
    return WorldModel((org,), tuple(accounts), prices=tuple(prices)), outside


def _reading(model: WorldModel, outside: str | None, alone: bool):
    """The pools' bills and the accounts' charges, read directly from the documented order."""
    price = {(p.service, p.usage_type): p.tiers for p in model.prices}
    accts = sorted(model.accounts, key=lambda a: a.id)
    pool = {a.id: a.id if alone or a.id == outside else ORG for a in accts}
    group = {a.id: ORG if pool[a.id] == ORG and a.discount_sharing else a.id for a in accts}
    used, reserved = defaultdict(int), defaultdict(int)
    for a in accts:
        for u in a.usage:
            used[(a.id, u.service, u.usage_type)] += u.quantity
        for r in a.reservations:
            reserved[(a.id, r.service, r.usage_type)] += r.quantity
    keys = set(used) | set(reserved)
    left = {}  # (acct, svc, type) -> usage reservations left
    for g in set(group.values()):
        for t in {k[1:] for k in keys}:
            members = [a.id for a in accts if group[a.id] == g]
            spare = sum(max(0, reserved[(m, *t)] - used[(m, *t)]) for m in members)
            for m in members:  # in the order of ids
                excess = max(0, used[(m, *t)] - reserved[(m, *t)])
                take = min(excess, spare)
                spare -= take
                left[(m, *t)] = excess - take
    charges = defaultdict(int)  # acct -> its charges
    spent_on = {}  # (acct, svc, type) -> the part of the commitment its usage took
    on_demand = defaultdict(int)  # pool -> usage a Savings Plan's slots left, at the on-demand price
    slotted = set()
    for owner in accts:
        for plan in owner.savings_plans:
            commit = usd_to_pico(plan.commitment)
            rate = {(s, t): usd_to_pico(r) for s, t, r in plan.rates}
            od = {t: usd_to_pico(price[t][0][1]) for t in rate}
            # best savings percentage first, then the lowest rate, then the names
            order = sorted(rate, key=lambda t: (-(od[t] - rate[t]) / od[t], rate[t], t))
            sharers = [] if alone or group[owner.id] == owner.id else [
                a.id for a in accts if group[a.id] == group[owner.id] and a.id != owner.id]
            slots = [(owner.id, t) for t in order] + [(a, t) for t in order for a in sharers]
            for acct, t in slots:
                n = left.get((acct, *t), 0)
                if n <= 0:
                    continue
                cost = n * rate[t]
                spent = min(cost, commit)
                commit -= spent
                spent_on[(acct, *t)] = spent
                rest = (cost - spent) * od[t] // rate[t]
                charges[acct] += rest
                on_demand[pool[acct]] += rest
                slotted.add((acct, *t))
            charges[owner.id] += usd_to_pico(plan.commitment)
    for a in accts:
        for r in a.reservations:
            charges[a.id] += r.quantity * usd_to_pico(r.rate)
    tiered = defaultdict(int)
    for k, n in left.items():
        if k not in slotted:
            tiered[(pool[k[0]], *k[1:])] += n
    bills = defaultdict(int)
    for (p, *t), total in tiered.items():
        bills[p] += _tiered(total, price[tuple(t)])
    for k, n in left.items():
        total = tiered.get((pool[k[0]], *k[1:]), 0)
        if k not in slotted and total:
            charges[k[0]] += n * _tiered(total, price[k[1:]]) // total
    for p, c in on_demand.items():
        bills[p] += c
    for a in accts:
        bills[pool[a.id]] += sum(r.quantity * usd_to_pico(r.rate) for r in a.reservations)
        bills[pool[a.id]] += sum(usd_to_pico(sp.commitment) for sp in a.savings_plans)
    return dict(bills), dict(charges), spent_on


@settings(max_examples=300 if os.environ.get("IAMLOGIC_HYPOTHESIS_PROFILE") == "deep" else 30, deadline=None)
@given(discounted_worlds())
def test_discounts_are_applied_in_the_documented_order(case):
    model, outside = case
    world = World(model)
    assert not [d for d in world.diagnostics() if d.is_error], world.diagnostics()
    ev = world.evaluator()
    ids = [a.id for a in model.accounts]

    def every(rows, keys):  # no row: nothing to pay
        found = dict(rows)
        return {k: found.get(k, 0) for k in keys}

    bills, charges, spent = _reading(model, outside, alone=False)
    pools = {ORG, *ids}
    assert every(ev.query("?- pool_bill(P, C)."), pools) == every(bills.items(), pools)
    assert every(ev.query("?- account_bill(A, C)."), ids) == every(charges.items(), ids)
    assert {(a, s, t): x for _, s, t, a, x in ev.query('?- sp_spent("consolidated", P, _, S, T, A, X).')} == spent
    _, alone, _ = _reading(model, outside, alone=True)
    assert every(ev.query("?- account_bill_alone(A, C)."), ids) == every(alone.items(), ids)

    by_head = defaultdict(list)
    for rule in rules().rules:
        by_head[rule.head.relation].append(rule)
    wanted = {"pool_bill", "account_bill", "account_bill_alone", "after_ri", "sp_spent", "charge"}
    builtins = {name: getattr(ev, f"_b_{name}") for name in ("add", "subtract", "multiply", "divide")}
    rows = materialize(_strata(wanted, by_head), by_head, BUILTIN_SPECS, lambda rel: ev.index.rows.get(rel, ()), builtins)
    for rel in wanted:
        assert rows[rel] == set(ev.engine.materialize(rel)), rel
