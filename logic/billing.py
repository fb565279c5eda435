"""The consolidated bill of a world: what each organization's payer pays, each account's share of
it, what each account would pay alone, and costs by tag.

Every figure is the answer of a query over the relations of ``rules/70-billing.dl`` (aggregates
of the world's ``usage`` at the volume tiers of its ``aws price`` declarations). Amounts are whole
pico-USD (10⁻¹² USD) in the relations and in JSON, and are shown rounded to the cent.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from .world import World

__all__ = ["AccountCharge", "Bill", "PoolBill", "bill", "render_bill", "usd"]


@dataclass(frozen=True)
class AccountCharge:
    account: str
    name: str
    share: int  # its share of the pool's consolidated cost
    alone: int  # what it would pay outside the pool, at the same prices


@dataclass(frozen=True)
class PoolBill:
    """One payer's bill: an organization's (paid by its management account), or an account's
    outside any organization."""

    pool: str  # organization id, or account id
    payer: str
    total: int
    alone: int  # the sum of what each account would pay alone
    accounts: tuple[AccountCharge, ...]
    usage: tuple[tuple[str, str, int, int], ...]  # (service, usage type, quantity, cost)


@dataclass(frozen=True)
class Bill:
    pools: tuple[PoolBill, ...]
    tag: str | None = None
    by_tag: tuple[tuple[str, int], ...] = ()  # (tag value, cost)
    untagged: int = 0

    def to_json(self) -> dict:
        def money(pico: int) -> dict:
            return {"pico_usd": pico, "usd": str(usd(pico))}

        out: dict = {"pools": [{
            "pool": p.pool, "payer": p.payer, "total": money(p.total), "alone": money(p.alone),
            "accounts": [{"account": a.account, "name": a.name, "share": money(a.share), "alone": money(a.alone)}
                         for a in p.accounts],
            "usage": [{"service": s, "usage_type": t, "quantity": q, "cost": money(c)} for s, t, q, c in p.usage],
        } for p in self.pools]}
        if self.tag is not None:
            out["by_tag"] = {"key": self.tag, "values": {v: money(c) for v, c in self.by_tag},
                             "untagged": money(self.untagged)}
        return out


def usd(pico: int) -> Decimal:
    """Pico-USD as USD, rounded to the cent (half up)."""
    return (Decimal(pico) / Decimal(10**12)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def bill(world: World, tag: str | None = None) -> Bill:
    """The bill of every payer of the world, and with ``tag`` the cost by that tag's values."""
    ask = world.evaluator().query  # (the queries are this module's own text; the tag is compared in Python)
    names = dict(ask("?- account(A, N)."))
    payers = dict(ask("?- organization(O, M)."))
    members: dict[str, list[str]] = {}
    for acct, pool in ask("?- bill_pool(A, P)."):
        members.setdefault(pool, []).append(acct)
    share = dict(ask("?- account_bill(A, C)."))
    alone = dict(ask("?- account_bill_alone(A, C)."))
    totals = dict(ask("?- pool_bill(P, C)."))
    usage: dict[str, list] = {}
    for pool, svc, typ, qty, cost in ask('?- pool_usage(P, S, T, Q), usage_cost("consolidated", P, S, T, C).'):
        usage.setdefault(pool, []).append((svc, typ, qty, cost))
    pools = []
    for pool in sorted(members, key=lambda p: (p not in payers, p)):
        accounts = tuple(AccountCharge(a, names.get(a, a), share.get(a, 0), alone.get(a, 0))
                         for a in sorted(members[pool]))
        pools.append(PoolBill(pool, payers.get(pool, pool), totals.get(pool, 0), sum(a.alone for a in accounts),
                              accounts, tuple(usage.get(pool, ()))))
    if tag is None:
        return Bill(tuple(pools))
    by_tag = tuple((v, c) for k, v, c in ask("?- cost_by_tag(K, V, C).") if k == tag)
    untagged = sum(c for k, c in ask("?- cost_untagged(K, C).") if k == tag)
    if not any(k == tag for (k,) in ask("?- tag_key(K).")):  # no resource carries the tag: all is untagged
        untagged = sum(c for _, _, _, c in ask("?- usage_line_cost(I, A, R, C)."))
    return Bill(tuple(pools), tag, by_tag, untagged)


def render_bill(b: Bill) -> str:
    """The bill as text: each payer's total, its accounts' shares and what each would pay alone."""
    lines = []
    for p in b.pools:
        if p.pool == p.payer:
            lines.append(f"account {p.payer} (outside any organization): ${usd(p.total):,}")
        else:
            payer = next((f"{a.account} {a.name}" for a in p.accounts if a.account == p.payer), p.payer)
            lines.append(f"organization {p.pool}, paid by {payer}: ${usd(p.total):,} "
                         f"(each account alone: ${usd(p.alone):,}; consolidated billing saves ${usd(p.alone - p.total):,})")
        for a in p.accounts:
            lines.append(f"  {a.account} {a.name:<20} share ${usd(a.share):>12,}   alone ${usd(a.alone):>12,}")
        for svc, typ, qty, cost in p.usage:
            lines.append(f"  usage {svc} {typ}: {qty:,} units, ${usd(cost):,}")
    if b.tag is not None:
        lines.append(f"cost by tag {b.tag}:")
        lines += [f"  {value:<20} ${usd(cost):>12,}" for value, cost in b.by_tag]
        lines.append(f"  {'(untagged)':<20} ${usd(b.untagged):>12,}")
    return "\n".join(lines)


def cmd_bill(args) -> int:
    import json

    from .world import load

    world = load(args.world)
    b = bill(world, args.tag)
    print(json.dumps(b.to_json(), indent=2) if args.format == "json" else render_bill(b))
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser("bill", help="the consolidated bill: each payer's total, each account's share, what each "
                                    "would pay alone, costs by tag")
    p.add_argument("world", nargs="+", help="the world's .iaml files")
    p.add_argument("--tag", help="also give the cost by the values of this resource tag key")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(run=cmd_bill)
