"""The billing rules on generated organizations, prices and usage: the payer's bill is the tiered
price of the pooled usage (a Python reading of the tiers), each account alone is its own, the
shares add up to the bill but for rounding, and pyDatalog and the bottom-up evaluation agree."""

from __future__ import annotations

import os
from collections import defaultdict

from hypothesis import given, settings
from hypothesis import strategies as st

from iamlogic import World
from iamlogic.compiled import _strata, materialize
from iamlogic.evaluate import BUILTIN_SPECS, rules
from iamlogic.grammar.ast import Account, AccountRef, Organization, OrgNode, Price, Resource, Usage, WorldModel
from iamlogic.world import usd_to_pico

TYPES = (("AmazonS3", "GB"), ("AWSDataTransfer", "GB-Out"))


@st.composite
def priced_worlds(draw):
    prices = []
    for svc, typ in TYPES:
        starts = [0] + sorted(draw(st.sets(st.integers(1, 500), max_size=2)))
        usd = [draw(st.sampled_from(["0.023", "0.02", "0.5", "1", "0.0000166667", "0"])) for _ in starts]
        prices.append(Price(svc, typ, tuple(zip(starts, usd))))
    n = draw(st.integers(2, 4))
    ids = [f"{111111111111 * (i + 1)}" for i in range(n)]
    usage = st.builds(Usage, st.just("AmazonS3"), st.just("GB"), st.integers(1, 400)) | st.builds(
        Usage, st.just("AWSDataTransfer"), st.just("GB-Out"), st.integers(1, 400))
    accounts = []
    for i, acct in enumerate(ids):
        resources = tuple(Resource(f"arn:aws:s3:::b{i}-{j}", tags=(("team", draw(st.sampled_from("xy"))),),
                                   usage=tuple(draw(st.lists(usage, max_size=2)))) for j in range(draw(st.integers(0, 2))))
        accounts.append(Account(acct, f"a{i}", resources=resources, usage=tuple(draw(st.lists(usage, max_size=3)))))
    outside = draw(st.booleans())  # the last account outside the organization
    members = ids[1:-1] if outside else ids[1:]
    org = Organization("o-billing123", ids[0], OrgNode("root", "Root", None, (), tuple(AccountRef(a) for a in members)))
    return WorldModel((org,), tuple(accounts), prices=tuple(prices)), ids[-1] if outside else None


def _tiered(total: int, tiers) -> int:
    """The cost of ``total`` units: each tier's price for the units from its start to the next's."""
    cost, starts = 0, sorted(tiers)
    for k, (start, usd) in enumerate(starts):
        end = starts[k + 1][0] if k + 1 < len(starts) else None
        units = max(0, (total if end is None else min(total, end)) - start)
        cost += units * usd_to_pico(usd)
    return cost


@settings(max_examples=300 if os.environ.get("IAMLOGIC_HYPOTHESIS_PROFILE") == "deep" else 30, deadline=None)
@given(priced_worlds())
def test_the_bill_is_the_tiered_price_of_the_pooled_usage(case):
    model, outside = case
    world = World(model)
    assert not [d for d in world.diagnostics() if d.is_error]
    prices = {(p.service, p.usage_type): p.tiers for p in model.prices}
    lines = [(a.id, u) for a in model.accounts for u in (*a.usage, *(u for r in a.resources for u in r.usage))]
    pool = {a.id: (a.id if a.id == outside else "o-billing123") for a in model.accounts}
    pooled, alone = defaultdict(int), defaultdict(int)
    for acct, u in lines:
        pooled[(pool[acct], u.service, u.usage_type)] += u.quantity
        alone[(acct, u.service, u.usage_type)] += u.quantity
    expected_pool, expected_alone = defaultdict(int), defaultdict(int)
    for (p, svc, typ), q in pooled.items():
        expected_pool[p] += _tiered(q, prices[(svc, typ)])
    for (a, svc, typ), q in alone.items():
        expected_alone[a] += _tiered(q, prices[(svc, typ)])

    ev = world.evaluator()
    assert dict(ev.query("?- pool_bill(P, C).")) == {p: c for p, c in expected_pool.items() if p in pool.values()}
    assert dict(ev.query("?- account_bill_alone(A, C).")) == dict(expected_alone)
    shares = dict(ev.query("?- account_bill(A, C)."))
    for p, total in expected_pool.items():
        mine = [shares.get(a, 0) for a in pool if pool[a] == p]
        assert total - len(TYPES) * len(mine) <= sum(mine) <= total  # each share rounded down

    # the bottom-up evaluation (guardrails, the compiled path's tables) agrees with pyDatalog
    by_head = defaultdict(list)
    for rule in rules().rules:
        by_head[rule.head.relation].append(rule)
    wanted = {"pool_bill", "account_bill", "account_bill_alone", "cost_by_tag", "cost_untagged"}
    builtins = {name: getattr(ev, f"_b_{name}") for name in ("add", "subtract", "multiply", "divide")}
    rows = materialize(_strata(wanted, by_head), by_head, BUILTIN_SPECS, lambda rel: ev.index.rows.get(rel, ()), builtins)
    for rel in wanted:
        assert rows[rel] == set(ev.engine.materialize(rel)), rel
