"""Tag policy compliance: the resources whose tags an organization's tag policies do not allow.

Each answer is a query of the relations of ``rules/75-tag-policies.dl``: ``tag_noncompliant(Res,
Key, Why)`` (a key in another capitalization, a value not allowed, a required key missing) and
``tag_rule(Acct, Pol, Key, Written)`` (the policy that governs a key in an account).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from .world import World

__all__ = ["Noncompliance", "tag_compliance"]

_WHY = {"capitalization": "key written in another capitalization than the policy's",
        "value": "value the policy does not allow", "missing": "required key missing"}


@dataclass(frozen=True)
class Noncompliance:
    account: str
    resource: str
    key: str  # as the resource writes it ("missing": as the policy writes it)
    why: str  # "capitalization" | "value" | "missing"
    value: str | None  # the resource's value for the key, if it has one
    policy: str  # the tag policy that governs the key in the account
    allowed: tuple[str, ...]  # the values it allows (none: any)

    def to_json(self) -> dict:
        return {"account": self.account, "resource": self.resource, "key": self.key, "why": self.why,
                "value": self.value, "policy": self.policy, "allowed": list(self.allowed)}


def tag_compliance(world: World) -> list[Noncompliance]:
    """Every resource tag that the tag policies governing its account do not allow, sorted."""
    ev = world.evaluator()
    owner = dict(ev.query("?- resource(R, A)."))
    rules = {}  # (account, lower key) -> (policy, key as written)
    for acct, pol, key, written in ev.query("?- tag_rule(A, P, K, W)."):
        rules.setdefault((acct, key), []).append((pol, written))
    allowed = {}
    for pol, written, value in ev.query("?- tag_policy_value(P, K, V)."):
        allowed.setdefault((pol, written), []).append(value)
    tags = {}
    for res, key, value in ev.query("?- resource_tag(R, K, V)."):
        tags[(res, key)] = value
    out = []
    for res, key, why in ev.query("?- tag_noncompliant(R, K, W)."):
        acct = owner[res]
        for pol, written in rules.get((acct, key.lower()), ()):
            out.append(Noncompliance(acct, res, key, why, tags.get((res, key)), pol.rsplit("/", 1)[-1],
                                     tuple(sorted(allowed.get((pol, written), ())))))
    return sorted(set(out), key=lambda n: (n.account, n.resource, n.key, n.why, n.policy))


def cmd_tags(args) -> int:
    from .world import load

    found = tag_compliance(load(args.world))
    if args.format == "json":
        print(json.dumps([n.to_json() for n in found], indent=2))
    else:
        print(f"{len(found)} resource tag(s) out of the tag policies")
        for n in found:
            value = f" = {n.value!r}" if n.value is not None else ""
            allowed = f" (allowed: {', '.join(n.allowed)})" if n.allowed and n.why == "value" else ""
            print(f"  {n.account} {n.resource}: {n.key}{value}: {_WHY[n.why]}, tag policy {n.policy}{allowed}")
    return 1 if found else 0


def add_commands(sub) -> None:
    p = sub.add_parser("tags", help="resources whose tags the organization's tag policies do not allow (exit 1 if any)")
    p.add_argument("world", nargs="+", help="the world's .iaml files")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(run=cmd_tags)
