"""Canonical ``.iaml`` text for worlds and policies: ``parse(print(x)) == x``.

>>> from iamlogic.grammar.ast import Policy, Statement
>>> print(print_policy(Policy((Statement("Allow", action=("s3:GetObject",), resource=("*",)),))))
{
  allow s3:GetObject on *
}
"""

from __future__ import annotations

import json
import re

from .ast import (Account, Api, Condition, Directory, Group, IdentityCenter, IdentityPool, IdentityUser, NamedPolicy,
                  Organization, OrgNode, Policy, Principal, Resource, Role, Statement, User, UserPool, WorldModel)
from .json_policy import ACTION_SHAPE
from .world import KEYWORDS

_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9.\-_]*:[A-Za-z0-9.\-_/:]+")
_NAME = re.compile(r"[A-Za-z0-9_+=.@\-]*[A-Za-z_+=.@\-][A-Za-z0-9_+=.@\-]*")
_OPERATOR = re.compile(r"(ForAllValues:|ForAnyValue:)?[A-Za-z]+")
_ACCOUNT_ID = re.compile(r"[0-9]{12}")
_PTYPE = {"AWS": "aws", "Service": "service", "Federated": "federated", "CanonicalUser": "canonical_user"}
_KEYWORDS = set(KEYWORDS)


def _q(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


def _name(s: str) -> str:
    return s if _NAME.fullmatch(s) and s not in _KEYWORDS else _q(s)


def _value(s: str) -> str:
    return "*" if s == "*" else _q(s)


def _action(s: str) -> str:
    return s if ACTION_SHAPE.fullmatch(s) else _q(s)


def _principal(p: Principal) -> str:
    if p.type == "AWS" and p.value == "*":
        return "*"
    if p.type not in _PTYPE:
        raise ValueError(f"cannot print principal type {p.type!r}")
    return f"{_PTYPE[p.type]} {_q(p.value)}"


def _condition(c: Condition) -> str:
    if not _OPERATOR.fullmatch(c.operator):
        raise ValueError(f"cannot print condition operator {c.operator!r}")
    key = c.key if _KEY.fullmatch(c.key) else _q(c.key)
    values = _q(c.values[0]) if len(c.values) == 1 else "[" + ", ".join(_q(v) for v in c.values) + "]"
    return f"{c.operator} {key} {values}"


def print_statement(s: Statement, indent: str = "") -> str:
    """One statement in the compact syntax (several lines when it has conditions)."""
    parts = []
    if s.sid is not None:
        parts.append(f"sid {_q(s.sid)}")
    parts.append(s.effect.lower())
    if s.action is not None:
        parts.append(", ".join(_action(a) for a in s.action))
    elif s.not_action is not None:
        parts.append("not " + ", ".join(_action(a) for a in s.not_action))
    else:
        raise ValueError("a statement without Action or NotAction cannot be printed")
    if s.resource is not None:
        parts.append("on " + ", ".join(_value(r) for r in s.resource))
    elif s.not_resource is not None:
        parts.append("on not " + ", ".join(_value(r) for r in s.not_resource))
    if s.principal is not None:
        parts.append("principal " + ", ".join(_principal(p) for p in s.principal))
    elif s.not_principal is not None:
        parts.append("not principal " + ", ".join(_principal(p) for p in s.not_principal))
    lines = [indent + " ".join(parts)]
    for i, c in enumerate(s.conditions):
        lines.append(f"{indent}  {'when' if i == 0 else ' and'} {_condition(c)}")
    return "\n".join(lines)


def print_policy(p: Policy, indent: str = "") -> str:
    """A policy as a compact ``{ … }`` block."""
    inner = indent + "  "
    lines = ["{"]
    if p.version is None:
        lines.append(f"{inner}version none")
    elif p.version != "2012-10-17":
        lines.append(f"{inner}version {_q(p.version)}")
    if p.id is not None:
        lines.append(f"{inner}id {_q(p.id)}")
    lines += [print_statement(s, inner) for s in p.statements]
    lines.append(indent + "}")
    return "\n".join(lines)


def _tags(tags, indent: str) -> list[str]:
    if not tags:
        return []
    return [f"{indent}tags {{ " + ", ".join(f"{_name(k)} = {_q(v)}" for k, v in tags) + " }"]


def _named(keyword: str, np: NamedPolicy, indent: str) -> str:
    path = f" path {_q(np.path)}" if np.path != "/" else ""
    return f"{indent}{keyword} {_name(np.name)}{path} {print_policy(np.document, indent)}"


def _block(header: str, body: list[str], indent: str) -> list[str]:
    if not body:
        return [indent + header]
    return [indent + header + " {", *body, indent + "}"]


def _user(u: User, ind: str) -> list[str]:
    i = ind + "  "
    body = [f"{i}path {_q(u.path)}"] if u.path != "/" else []
    body += [f"{i}id {_q(u.unique_id)}"] if u.unique_id is not None else []
    body += _tags(u.tags, i)
    if u.groups:
        body.append(f"{i}groups " + ", ".join(_name(g) for g in u.groups))
    if u.boundary is not None:
        body.append(f"{i}boundary {_name(u.boundary)}")
    body += [_named("policy", p, i) for p in u.inline]
    if u.managed:
        body.append(f"{i}attach " + ", ".join(_name(m) for m in u.managed))
    return _block(f"user {_name(u.name)}", body, ind)


def _group(g: Group, ind: str) -> list[str]:
    i = ind + "  "
    body = [f"{i}path {_q(g.path)}"] if g.path != "/" else []
    body += [_named("policy", p, i) for p in g.inline]
    if g.managed:
        body.append(f"{i}attach " + ", ".join(_name(m) for m in g.managed))
    return _block(f"group {_name(g.name)}", body, ind)


def _role(r: Role, ind: str) -> list[str]:
    i = ind + "  "
    body = [f"{i}path {_q(r.path)}"] if r.path != "/" else []
    body += [f"{i}id {_q(r.unique_id)}"] if r.unique_id is not None else []
    body += _tags(r.tags, i)
    if r.service_linked:
        body.append(f"{i}service_linked")
    if r.boundary is not None:
        body.append(f"{i}boundary {_name(r.boundary)}")
    if r.trust is not None:
        body.append(f"{i}trust {print_policy(r.trust, i)}")
    body += [_named("policy", p, i) for p in r.inline]
    if r.managed:
        body.append(f"{i}attach " + ", ".join(_name(m) for m in r.managed))
    return _block(f"role {_name(r.name)}", body, ind)


def _resource(r: Resource, ind: str) -> list[str]:
    i = ind + "  "
    body = _tags(r.tags, i)
    if r.aws_managed:
        body.append(f"{i}aws_managed")
    if r.abac:
        body.append(f"{i}abac")
    if r.policy is not None:
        body.append(f"{i}policy {print_policy(r.policy, i)}")
    body += _usage(r.usage, i)
    return _block(f"resource {_q(r.arn)}", body, ind)


def _usage(usage, ind: str) -> list[str]:
    return [f"{ind}usage {_q(u.service)} {_q(u.usage_type)} {u.quantity}" for u in usage]


def print_account(a: Account, ind: str = "") -> str:
    i = ind + "  "
    body = _tags(a.tags, i)
    for u in a.users:
        body += _user(u, i)
    for g in a.groups:
        body += _group(g, i)
    for r in a.roles:
        body += _role(r, i)
    body += [_named("policy", p, i) for p in a.policies]
    for r in a.resources:
        body += _resource(r, i)
    for p in a.identity_pools:
        body += _identity_pool(p, i)
    body += _usage(a.usage, i)
    body += [f"{i}reservation {_q(r.service)} {_q(r.usage_type)} {r.quantity} {_q(r.rate)}" for r in a.reservations]
    for sp in a.savings_plans:
        body += [f"{i}savings_plan {_q(sp.commitment)} {{",
                 *(f"{i}  rate {_q(svc)} {_q(typ)} {_q(usd)}" for svc, typ, usd in sp.rates), i + "}"]
    if not a.discount_sharing:
        body.append(f"{i}discount_sharing off")
    for t in a.trails:
        items = [f"bucket {_q(t.bucket)}"] if t.bucket is not None else []
        items += [f"prefix {_q(t.prefix)}"] if t.prefix else []
        items += [word for word, on in (("organization_trail", t.organization), ("multi_region", t.multi_region),
                                        ("stopped", not t.logging)) if on]
        body.append(f"{i}trail {_q(t.arn)} {{ {'  '.join(items)} }}")
    body += [f"{i}log_subscription {_q(s.group)} to {_q(s.destination)}" for s in a.log_subscriptions]
    for p in a.user_pools:
        body += _user_pool(p, i)
    for api in a.apis:
        body += _api(api, i)
    for lb in a.load_balancers:
        body += _block(f"load_balancer {_name(lb.name)}", [f"{i}  arn {_q(lb.arn)}"] * (lb.arn is not None) + [
            f"{i}  rule {_q(r.path)}" + (f" authenticate {_name(r.authenticate)}" if r.authenticate else "")
            + f" backend {_q(r.backend)} target_group {_q(r.target_group)}" for r in lb.rules], i)
    return "\n".join(_block(f"account {a.id} {_q(a.name)}", body, ind))


def _user_pool(p: UserPool, ind: str) -> list[str]:
    i = ind + "  "
    body = [f"{i}id {_q(p.id)}"] if p.id is not None else []
    body += [f"{i}mfa {p.mfa}"] if p.mfa != "off" else []
    if p.providers:
        body.append(f"{i}providers " + ", ".join(_q(x) for x in p.providers))
    for client, scopes in p.clients:
        body.append(f"{i}client {_name(client)}" + (f" {{ scopes {', '.join(_q(s) for s in scopes)} }}" if scopes else ""))
    body += [f"{i}group {_name(g)}" for g in p.groups]
    for u in p.users:
        items = [f"groups {', '.join(_name(g) for g in u.groups)}"] if u.groups else []
        if u.attributes:
            items.append("attributes { " + ", ".join(f"{_q(k)} = {_q(v)}" for k, v in u.attributes) + " }")
        items += [word for word, on in (("mfa_enabled", u.mfa), ("unconfirmed", not u.confirmed),
                                        ("disabled", not u.enabled)) if on]
        items += [f"via {_q(u.provider)}"] if u.provider is not None else []
        body.append(f"{i}user {_name(u.name)}" + (f" {{ {'  '.join(items)} }}" if items else ""))
    return _block(f"user_pool {_name(p.name)}", body, ind)


def _api(api: Api, ind: str) -> list[str]:
    i = ind + "  "
    body = [f"{i}{word} {_q(value)}" for word, value in (("id", api.id), ("region", api.region), ("stage", api.stage))
            if value is not None]
    for r in api.routes:
        auth = f" authorizer {_name(r.authorizer)}" if r.authorizer is not None else ""
        auth += f" scopes {', '.join(_q(s) for s in r.scopes)}" if r.scopes else ""
        body.append(f"{i}route {_q(r.route)}{auth} backend {_q(r.backend)}")
    return _block(f"api {_name(api.name)}", body, ind)


def _identity_pool(p: IdentityPool, ind: str) -> list[str]:
    i = ind + "  "
    body = [f"{i}id {_q(p.id)}"] if p.id is not None else []
    if p.providers:
        body.append(f"{i}providers " + ", ".join(_q(x) for x in p.providers))
    body += [f"{i}{word}" for word, on in (("guests", p.guests), ("classic_flow", p.classic_flow)) if on]
    body += [f"{i}{kind} role {_name(role)}" for kind, role in
             (("authenticated", p.authenticated), ("unauthenticated", p.unauthenticated)) if role is not None]
    for m in p.mappings:
        otherwise = m.otherwise if m.otherwise in ("authenticated", "deny") else _name(m.otherwise)
        body += [f"{i}rules {_q(m.provider)} otherwise {otherwise} {{",
                 *(f"{i}  {_q(r.claim)} {r.op} {_q(r.value)} role {_name(r.role)}" for r in m.rules), i + "}"]
    for x in p.identities:
        inner = _tags(x.claims, i + "  ")
        inner = [line.replace("tags {", "claims {", 1) for line in inner]
        if x.amr:
            inner.append(f"{i}  amr " + ", ".join(_q(v) for v in x.amr))
        login = (f"user {_name(x.user[0])} {_name(x.user[1])}" if x.user is not None
                 else "guest" if x.provider is None else f"via {_q(x.provider)}")
        body += _block(f"identity {_q(x.id)} {login}", inner, i)
    return _block(f"identity_pool {_name(p.name)}", body, ind)


def _ref(ref: str) -> str:
    return ref if _ACCOUNT_ID.fullmatch(ref) else _q(ref)


def _node(n: OrgNode, ind: str) -> list[str]:
    i = ind + "  "
    body = [f"{i}{'detach ' if a.detach else ''}{a.kind} {_name(a.policy)}" for a in n.attachments]
    for a in n.accounts:
        inner = [f"{i}  {'detach ' if t.detach else ''}{t.kind} {_name(t.policy)}" for t in a.attachments]
        body += _block(f"account {_ref(a.ref)}", inner, i)
    for c in n.children:
        body += _node(c, i)
    if n.kind == "root":
        header = "root" + (f" {_q(n.id)}" if n.id is not None else "")
    else:
        header = f"ou {_name(n.name)}" + (f" id {_q(n.id)}" if n.id is not None else "")
    return [ind + header + " {", *body, ind + "}"]


def _identity_user(u: IdentityUser, ind: str) -> list[str]:
    i = ind + "  "
    body = [f"{i}groups " + ", ".join(_name(g) for g in u.groups)] if u.groups else []
    if u.attributes:
        body.append(f"{i}attributes {{ " + ", ".join(f"{_name(k)} = {_q(v)}" for k, v in u.attributes) + " }")
    return _block(f"user {_name(u.name)}", body, ind)


def _identities(users, groups, ind: str) -> list[str]:
    out: list[str] = []
    for u in users:
        out += _identity_user(u, ind)
    return out + [f"{ind}group {_name(g.name)}" for g in groups]


def _directory(d: Directory, ind: str) -> list[str]:
    i = ind + "  "
    body = _identities(d.users, d.groups, i)
    for link in d.links:
        body += [f"{i}{link.link} {_q(link.name)} {{", *_identities(link.users, link.groups, i + "  "), i + "}"]
    return [f"{ind}directory {_q(d.name)} {d.type} {{", *body, ind + "}"]


def _identity_center(c: IdentityCenter, ind: str) -> list[str]:
    i = ind + "  "
    body = [f"{i}attributes " + ", ".join(_name(a) for a in c.attributes)] if c.attributes else []
    if c.directory is not None:
        body += _directory(c.directory, i)
    body += _identities(c.users, c.groups, i)
    for ps in c.permission_sets:
        inner = [_named("policy", p, i + "  ") for p in ps.inline]
        if ps.managed:
            inner.append(f"{i}  attach " + ", ".join(_name(m) for m in ps.managed))
        if ps.boundary is not None:
            inner.append(f"{i}  boundary {_name(ps.boundary)}")
        body += _block(f"permission_set {_name(ps.name)}", inner, i)
    for a in c.assignments:
        body.append(f"{i}assign {_name(a.permission_set)} to {a.kind} {_name(a.name)} in "
                    + ", ".join(_ref(x) for x in a.accounts))
    return [f"{ind}identity_center {{", *body, ind + "}"]


def print_organization(o: Organization, ind: str = "") -> str:
    i = ind + "  "
    body = [f"{i}management {_ref(o.management)}"]
    body += [_named(kind, p, i) for kind, p in o.policies]
    for t in o.tag_policies:
        body.append(f"{i}tag_policy {_name(t.name)} {{")
        for k in t.keys:
            values = " values " + ", ".join(map(_q, k.values)) if k.values else ""
            body.append(f"{i}  key {_q(k.key)}{values}{' required' if k.required else ''}")
        body.append(f"{i}}}")
    body += _node(o.root, i)
    if o.identity_center is not None:
        body += _identity_center(o.identity_center, i)
    return "\n".join([f"{ind}organization {_q(o.id)} {{", *body, ind + "}"])


def print_world(w: WorldModel) -> str:
    """The whole world as one canonical ``.iaml`` file."""
    chunks = [print_organization(o) for o in w.organizations]
    chunks += [print_account(a) for a in w.accounts]
    chunks += [_named("aws policy", p, "") for p in w.aws_policies]
    chunks += ["aws rcp_services " + ", ".join(map(_q, d.services)) for d in w.rcp_services]
    chunks += [f"aws price {_q(p.service)} {_q(p.usage_type)} {{\n"
               + "".join(f"  from {q} {_q(usd)}\n" for q, usd in p.tiers) + "}" for p in w.prices]
    return "\n\n".join(chunks) + "\n"
