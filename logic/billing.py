"""The consolidated bill of a world: what each organization's payer pays, each account's share of
it, what each account would pay alone, the reservations and Savings Plans bought and what they
covered, and costs by tag.

Every figure is the answer of a query over the relations of ``rules/70-billing.dl`` (aggregates
of the world's ``usage`` at the volume tiers of its ``aws price`` declarations). Amounts are whole
pico-USD (10⁻¹² USD) in the relations and in JSON, and are shown rounded to the cent.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext

from .world import World

__all__ = ["AccountCharge", "Bill", "Discount", "PoolBill", "UsageLine", "bill", "render_bill", "usd"]


@dataclass(frozen=True)
class AccountCharge:
    account: str
    name: str
    share: int  # its share of the pool's consolidated cost
    alone: int  # what it would pay outside the pool, at the same prices


@dataclass(frozen=True)
class UsageLine:
    """A usage type of a pool: its quantity, what it costs beyond the discounts, the quantity
    reservations covered and the amount (at the plan's rates) a Savings Plan covered."""

    service: str
    usage_type: str
    quantity: int
    cost: int
    reserved: int = 0
    savings_plan: int = 0


@dataclass(frozen=True)
class Discount:
    """A reservation or Savings Plan of a pool, paid in full by its account."""

    account: str
    id: str
    kind: str  # "reservation" | "savings plan"
    service: str  # "" for a Savings Plan
    usage_type: str
    cost: int  # what its account pays for it
    used: int = 0  # a Savings Plan: the part of its commitment that covered usage


@dataclass(frozen=True)
class PoolBill:
    """One payer's bill: an organization's (paid by its management account), or an account's
    outside any organization."""

    pool: str  # organization id, or account id
    payer: str
    total: int
    alone: int  # the sum of what each account would pay alone
    accounts: tuple[AccountCharge, ...]
    usage: tuple[UsageLine, ...]
    discounts: tuple[Discount, ...] = ()


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
            "usage": [{"service": u.service, "usage_type": u.usage_type, "quantity": u.quantity, "cost": money(u.cost),
                       "reserved": u.reserved, "savings_plan": money(u.savings_plan)} for u in p.usage],
            "discounts": [{"account": d.account, "id": d.id, "kind": d.kind, "service": d.service,
                           "usage_type": d.usage_type, "cost": money(d.cost), "used": money(d.used)}
                          for d in p.discounts],
        } for p in self.pools]}
        if self.tag is not None:
            out["by_tag"] = {"key": self.tag, "values": {v: money(c) for v, c in self.by_tag},
                             "untagged": money(self.untagged)}
        return out


def usd(pico: int) -> Decimal:
    """Pico-USD as USD, rounded to the cent (half up), whatever the number of digits."""
    with localcontext() as ctx:
        ctx.prec = max(28, len(str(abs(pico))) + 2)
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
    cost_of = {(p, svc, typ): c for p, svc, typ, c in ask("?- pool_usage_cost(P, S, T, C).")}
    pool_of = {a: p for p, accts in members.items() for a in accts}
    reserved: dict[tuple, int] = {}
    for acct, svc, typ, qty in ask('?- ri_covered("consolidated", A, S, T, Q).'):
        key = (pool_of[acct], svc, typ)
        reserved[key] = reserved.get(key, 0) + qty
    plan_used: dict[str, int] = {}
    covered: dict[tuple, int] = {}
    for plan, svc, typ, acct, spent in ask('?- sp_spent("consolidated", P, _, S, T, A, X).'):
        plan_used[plan] = plan_used.get(plan, 0) + spent
        key = (pool_of[acct], svc, typ)
        covered[key] = covered.get(key, 0) + spent
    usage: dict[str, list] = {}
    for pool, svc, typ, qty in sorted(ask("?- pool_usage(P, S, T, Q)."), key=lambda row: row[1:3]):
        key = (pool, svc, typ)
        usage.setdefault(pool, []).append(UsageLine(svc, typ, qty, cost_of.get(key, 0), reserved.get(key, 0),
                                                    covered.get(key, 0)))
    discounts: dict[str, list] = {}
    for acct, what, svc, typ, cost in sorted(ask('?- charge("consolidated", A, W, S, T, C), W != "usage".')):
        kind = "savings plan" if svc == "" else "reservation"
        discounts.setdefault(pool_of[acct], []).append(Discount(acct, what, kind, svc, typ, cost, plan_used.get(what, 0)))
    pools = []
    for pool in sorted(members, key=lambda p: (p not in payers, p)):
        accounts = tuple(AccountCharge(a, names.get(a, a), share.get(a, 0), alone.get(a, 0))
                         for a in sorted(members[pool]))
        pools.append(PoolBill(pool, payers.get(pool, pool), totals.get(pool, 0), sum(a.alone for a in accounts),
                              accounts, tuple(usage.get(pool, ())), tuple(discounts.get(pool, ()))))
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
        for u in p.usage:
            notes = ([f"reservations cover {u.reserved:,}"] if u.reserved else []) + (
                [f"the Savings Plan covers ${usd(u.savings_plan):,} of it at its rates"] if u.savings_plan else [])
            note = f" ({'; '.join(notes)})" if notes else ""
            lines.append(f"  usage {u.service} {u.usage_type}: {u.quantity:,} units, ${usd(u.cost):,}{note}")
        names = {a.account: a.name for a in p.accounts}
        for d in p.discounts:
            owner = f"{d.account} {names.get(d.account, '')}".rstrip()
            if d.kind == "reservation":
                lines.append(f"  reservation {d.id} of {owner}: {d.service} {d.usage_type}, ${usd(d.cost):,}")
            else:
                lines.append(f"  savings plan {d.id} of {owner}: ${usd(d.cost):,} (used ${usd(d.used):,})")
    if b.tag is not None:
        lines.append(f"cost by tag {b.tag}:")
        lines += [f"  {value:<20} ${usd(cost):>12,}" for value, cost in b.by_tag]
        lines.append(f"  {'(untagged)':<20} ${usd(b.untagged):>12,}")
        fees = sum(d.cost for p in b.pools for d in p.discounts)
        if fees:
            lines.append(f"  {'(discounts bought)':<20} ${usd(fees):>12,}")
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
