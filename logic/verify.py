"""``iamlogic test`` and ``iamlogic verify``: policy tests and user invariants.

Policy tests (``iamlogic test``) are in :mod:`iamlogic.policytest`; :func:`run_tests` and
:class:`TestReport` are re-exported here.

Invariants
==========

``iamlogic verify WORLD... --invariants FILE`` checks statements about a whole world. The file
is YAML: a mapping with ``invariants`` (a list) and optional ``title`` and ``notes``. Each
invariant has a ``name``, optional ``notes``, and exactly one of four forms:

.. code-block:: yaml

    invariants:
      - name: payroll is readable only inside the organization
        nobody_outside:
          scope: organization          # or: account (default: organization)
          can: s3:GetObject            # an action pattern, or a list of them
          on: arn:aws:s3:::payroll/*   # a resource pattern, or a list of them

      - name: only the admin roles manage IAM
        only:
          principals: [Admin, Break-Glass, "arn:aws:iam::111111111111:root"]
          can: iam:*
          on: "*"                      # default "*"

      - name: every account stays in the EU
        every_account_denies:
          action: ec2:*
          resource: "*"                # default "*"
          unless:
            aws:RequestedRegion: [eu-west-1, eu-central-1]
          principal: synthetic         # or: root, all (default: synthetic)

      - name: Admin is reached only through Break-Glass
        no_reach:
          from: "*"                    # principal patterns (default "*")
          to: arn:aws:iam::*:role/Admin
          except: [Break-Glass]

Patterns: action patterns use IAM action wildcards (case-insensitive); resource patterns are
matched as a policy's ``Resource`` element matches; a principal pattern matches a principal when it
matches (``*``/``?`` wildcards, case-sensitive) its ARN, its user or role name, or (for a root user)
its account id; ``anonymous`` names the anonymous caller.

What is checked
---------------

- ``nobody_outside``: no principal outside the organization of the resource's account (with
  ``scope: account``, outside the resource's account; when that account is in no organization,
  both mean "another account") is allowed the action on a matching resource. The principals
  considered are every principal of the world (users, roles — acting through a session — and
  account root users), every account and principal that a resource-based or trust policy names
  (``Principal`` or ``NotPrincipal``) and the world does not declare, the root user of an account
  the world does not know (``999999999999``, or the next free id below it) and of each account
  that a condition on ``aws:PrincipalAccount`` names, a user and a role (both named
  ``any-principal``) of each of these accounts and of each outside account a policy names, the
  users and roles that conditions on ``aws:PrincipalArn`` write (wildcards filled; a wildcard
  account is the unknown one), and the anonymous caller. A principal
  named by a policy whose account the world does not declare is given every permission in its own
  account (an inline ``allow * on *``): the worst case of what it may hold. The search gives the
  sessions of such roles the session tags (``aws:PrincipalTag/…``) the policies test.
  Service principals are not considered. Requests are direct: reaching the resource by assuming a
  role inside the organization is what ``no_reach`` checks.
- ``only``: every principal above (service principals named by policies included) that the
  ``principals`` patterns do not match is denied the action on every matching resource.
- ``every_account_denies``: in every member account (every account placed in an organization except
  its management account), the action on the resource is denied whenever the request context does
  not satisfy ``unless`` — a context satisfies it when every key listed is present and each of its
  values equals one of the values listed (``*`` and ``?`` wildcards allowed); a missing key does not
  satisfy it. The principal is, with ``principal: synthetic``, a user ``iamlogic-verify-admin``
  added to the account with an inline ``allow * on *`` and no boundary (so that only SCPs, RCPs and
  resource policies can deny); with ``root``, the account's root user; with ``all``, that user and
  every user and role the world declares in the account.
- ``no_reach``: no principal matching ``from`` can reach a role matching ``to`` by assuming roles
  (``sts:AssumeRole``; ``sts:AssumeRoleWithSAML``/``WithWebIdentity`` for federated principals),
  directly or through a chain of role sessions, except along a path that starts at or passes
  through a principal matching ``except``. Reachability is computed breadth first, level by level
  with ``check_many``, and is bounded by the number of roles; each violation carries its path.

``*`` as a resource stands for a resource of the principal's own account that the world does not
declare; it is checked for principals of accounts the world declares. A resource pattern also
stands for the resources the world declares that match it, the IAM users and roles it matches, and
instances of it (wildcards filled) that fit the ``Resource`` patterns of the world's policies.

How
---

The finite parts are checked exhaustively: every principal, every resource candidate, and every
catalog action matching the invariant's action patterns (``Catalog.expand``) — actions that the
world's action patterns (and the rules' own, such as ``sts:AssumeRole*``) match alike are decided
alike, so one action per such class is decided, one that fits the resource's type. Resources that
the world treats alike (same owner, policy, tags, and the same ``Resource`` patterns matching) are
decided once. These requests carry no context. Then hypothesis searches the infinite parts: the
values of the condition keys the world's policies use (IP addresses in and around each CIDR, dates
and numbers around each bound, strings and ARNs that the wildcards of each pattern match, booleans,
missing keys), and the text that fills the wildcards of resource patterns, for at most ``examples``
requests per search (``--examples``, default 200), derandomized so that a run is reproducible. A
violation found by search is shrunk by hypothesis to a minimal request. Keys that the world
determines (``aws:PrincipalArn``, ``aws:PrincipalOrgID``, ``aws:PrincipalTag/*``,
``aws:ResourceTag/*``, …) are not searched: principals carry the tags the world gives them, but
the sessions of the roles of accounts outside the world carry the session tags the search gives.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
import sys
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable, Sequence

from .catalog import Catalog
from .decision import Decision
from .analysis import ANYONE_USER as ANYONE, one_match  # the user (and here the role) standing for any principal outside
from .grammar.ast import Account, NamedPolicy, Policy, Principal, Role, Statement, User
from .grammar.diagnostics import Diagnostic, InvalidInput, did_you_mean
from .grammar.world import UNIQUE_ID_PREFIX
from .matching import operator_family, parse_operator, resource_match, wildcard_match
from .policytest import (
    CODES,
    EXIT_FAILURE,
    EXIT_OK,
    MissingDependency,
    TestReport,
    YamlDoc,
    YMap,
    add_test_command,
    check_keys,
    mark_of,
    read_yaml,
    run_tests,
    string_list,
)

__all__ = ["CODES", "Counterexample", "Invariant", "InvariantResult", "TestReport", "Violation", "check_invariants",
           "load_invariants", "parse_invariants", "run_tests", "verify"]

KINDS = ("nobody_outside", "only", "every_account_denies", "no_reach")
FILE_KEYS = ("title", "notes", "invariants")
KIND_KEYS = {
    "nobody_outside": ("scope", "can", "on"),
    "only": ("principals", "can", "on"),
    "every_account_denies": ("action", "resource", "unless", "principal"),
    "no_reach": ("from", "to", "except"),
}
SCOPES = ("organization", "account")
AS_PRINCIPAL = ("synthetic", "root", "all")

SYNTHETIC_USER = "iamlogic-verify-admin"
OUTSIDE_POLICY = "iamlogic-verify-outside-admin"
_ADMIN = Policy((Statement("Allow", sid="IamlogicVerifyEveryPermission", action=("*",), resource=("*",)),))


# ---------------------------------------------------------------------------------------------
# Invariants


@dataclass(frozen=True)
class Invariant:
    """One user invariant. Fields used depend on ``kind`` (see the module docstring):

    - ``nobody_outside``: ``scope``, ``actions`` (``can``), ``resources`` (``on``);
    - ``only``: ``principals``, ``actions``, ``resources``;
    - ``every_account_denies``: ``actions`` (``action``), ``resources`` (``resource``), ``unless``,
      ``principal``;
    - ``no_reach``: ``principals`` (``from``), ``to``, ``except_``.
    """

    name: str
    kind: str
    actions: tuple[str, ...] = ()
    resources: tuple[str, ...] = ("*",)
    scope: str = "organization"
    principals: tuple[str, ...] = ("*",)
    to: tuple[str, ...] = ()
    except_: tuple[str, ...] = ()
    unless: tuple[tuple[str, tuple[str, ...]], ...] = ()
    principal: str = "synthetic"
    where: str = ""

    @classmethod
    def nobody_outside(cls, name: str, can, on, scope: str = "organization") -> "Invariant":
        return cls(name, "nobody_outside", actions=_tuple(can), resources=_tuple(on), scope=scope)

    @classmethod
    def only(cls, name: str, principals, can, on="*") -> "Invariant":
        return cls(name, "only", actions=_tuple(can), resources=_tuple(on), principals=_tuple(principals))

    @classmethod
    def every_account_denies(cls, name: str, action, resource="*", unless: dict | None = None,
                             principal: str = "synthetic") -> "Invariant":
        return cls(name, "every_account_denies", actions=_tuple(action), resources=_tuple(resource),
                   unless=tuple((k, _tuple(v)) for k, v in (unless or {}).items()), principal=principal)

    @classmethod
    def no_reach(cls, name: str, to, from_="*", except_=()) -> "Invariant":
        return cls(name, "no_reach", principals=_tuple(from_), to=_tuple(to), except_=_tuple(except_))


def _tuple(value) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def load_invariants(path: str) -> list[Invariant]:
    """Read an invariants file. Raises InvalidInput with file:line:col for every problem."""
    doc = read_yaml(path)
    return parse_invariants(doc.data, doc)


def parse_invariants(data: Any, doc: YamlDoc | None = None) -> list[Invariant]:
    """Invariants from parsed YAML (a mapping with ``invariants``, or the list itself)."""
    if doc is None:  # plain Python data: give it positions-free wrappers
        doc = YamlDoc("<invariants>", "", None)
        data = _wrap(data)
    diags: list[Diagnostic] = []
    items = data
    if isinstance(data, dict):
        check_keys(doc, data, FILE_KEYS, "an invariants file", diags)
        items = data.get("invariants")
        if items is None:
            diags.append(doc.diag("E703", "an invariants file needs an 'invariants' list", getattr(data, "mark", None)))
            raise InvalidInput(diags, {doc.path: doc.text})
    if not isinstance(items, list) or not items:
        diags.append(doc.diag("E708", "'invariants' must be a non-empty list", getattr(items, "mark", None)))
        raise InvalidInput(diags, {doc.path: doc.text})
    catalog = Catalog.default()
    out: list[Invariant] = []
    names: set[str] = set()
    for i, item in enumerate(items):
        mark = mark_of(items, i)
        if not isinstance(item, dict):
            diags.append(doc.diag("E704", "an invariant is a mapping with a name and one of "
                                          + ", ".join(KINDS), mark))
            continue
        inv = _parse_one(doc, item, catalog, diags)
        if inv is None:
            continue
        if inv.name in names:
            diags.append(doc.diag("E709", f"invariant name {inv.name!r} is used twice", mark_of(item, "name")))
        names.add(inv.name)
        out.append(replace(inv, where=str(doc.span(mark))))
    if diags:
        raise InvalidInput(diags, {doc.path: doc.text})
    return out


def _wrap(value):
    if isinstance(value, dict):
        m = YMap()
        for k, v in value.items():
            m[k] = _wrap(v)
        return m
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    return value


def _parse_one(doc: YamlDoc, item: YMap, catalog: Catalog, diags: list[Diagnostic]) -> Invariant | None:
    n = len(diags)
    check_keys(doc, item, ("name", "notes", *KINDS), "an invariant", diags)
    name = item.get("name")
    if not isinstance(name, str) or not name:
        diags.append(doc.diag("E703" if name is None else "E704", "an invariant needs a 'name' (a string)",
                              mark_of(item, "name") if "name" in item else item.mark))
        name = "?"
    kinds = [k for k in KINDS if k in item]
    if len(kinds) != 1:
        diags.append(doc.diag("E703" if not kinds else "E705",
                              f"invariant {name!r} needs exactly one of {', '.join(KINDS)}"
                              + (f" (it has {', '.join(kinds)})" if kinds else ""), item.mark))
        return None
    kind = kinds[0]
    body = item[kind]
    if not isinstance(body, dict):
        diags.append(doc.diag("E704", f"{kind} must be a mapping with {', '.join(KIND_KEYS[kind])}", mark_of(item, kind)))
        return None
    check_keys(doc, body, KIND_KEYS[kind], kind, diags)

    def actions(key: str) -> tuple[str, ...]:
        pats = string_list(doc, body, key, diags, required=True)
        for p in pats:
            if not catalog.expand(p):
                diags.append(doc.diag("E707", f"action pattern {p!r} matches no action of the AWS catalog",
                                      mark_of(body, key), help=catalog.suggest_action(p)))
        return pats

    def choice(key: str, options: Sequence[str], default: str) -> str:
        value = body.get(key, default)
        if value not in options:
            diags.append(doc.diag("E705", f"{key} must be one of {', '.join(options)}, not {value!r}",
                                  mark_of(body, key), help=did_you_mean(str(value), options)))
            return default
        return value

    if kind == "nobody_outside":
        inv = Invariant(name, kind, actions=actions("can"), resources=string_list(doc, body, "on", diags, required=True),
                        scope=choice("scope", SCOPES, "organization"))
    elif kind == "only":
        inv = Invariant(name, kind, actions=actions("can"),
                        resources=string_list(doc, body, "on", diags) or ("*",),
                        principals=string_list(doc, body, "principals", diags, required=True))
    elif kind == "every_account_denies":
        unless: list[tuple[str, tuple[str, ...]]] = []
        raw = body.get("unless")
        if raw is not None:
            if not isinstance(raw, dict) or not raw:
                diags.append(doc.diag("E704", "'unless' maps condition keys to lists of values", mark_of(body, "unless")))
            else:
                for key in raw:
                    values = string_list(doc, raw, key, diags, required=True)
                    unless.append((str(key), values))
        inv = Invariant(name, kind, actions=actions("action"),
                        resources=string_list(doc, body, "resource", diags) or ("*",),
                        unless=tuple(unless), principal=choice("principal", AS_PRINCIPAL, "synthetic"))
    else:
        inv = Invariant(name, kind, principals=string_list(doc, body, "from", diags) or ("*",),
                        to=string_list(doc, body, "to", diags, required=True),
                        except_=string_list(doc, body, "except", diags))
    return inv if len(diags) == n else None


# ---------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class Counterexample:
    """One request and its decision."""

    principal: str
    action: str
    resource: str
    context: dict
    decision: Decision

    def request(self) -> dict:
        return {"principal": self.principal, "action": self.action, "resource": self.resource,
                "context": dict(self.context)}

    def render(self, indent: str = "") -> str:
        lines = [f"principal: {self.principal}", f"action: {self.action}", f"resource: {self.resource}",
                 f"context: {_flow(self.context)}"]
        return "\n".join(indent + x for x in lines)


def _flow(ctx: dict) -> str:
    def q(v: str) -> str:
        return v if re.fullmatch(r"[A-Za-z0-9_./:@*+-]+", v) and not v[0] in "*@" else '"' + v.replace('"', '\\"') + '"'

    items = []
    for k, v in ctx.items():
        items.append(f"{k}: " + ("[" + ", ".join(q(x) for x in v) + "]" if isinstance(v, list) else q(str(v))))
    return "{" + ", ".join(items) + "}"


@dataclass
class Violation:
    """A counterexample to an invariant.

    Attributes:
        invariant: the invariant's name; ``kind`` its form.
        message: one line saying what happened.
        counterexample: the violating request (for ``no_reach``: the last step of the path).
        path: for ``no_reach``, every step from the starting principal to the role.
        found_by: ``exhaustive`` (the finite parts, no context) or ``search`` (hypothesis, shrunk).
        more: how many other violating requests the exhaustive check found for the same principal.
    """

    invariant: str
    kind: str
    message: str
    counterexample: Counterexample
    path: tuple[Counterexample, ...] = ()
    found_by: str = "exhaustive"
    more: int = 0

    def render(self, proof: bool = True) -> str:
        """The violation as text: its counterexample (each step of a path), the decision with its
        deciding statements and, with ``proof``, its derivation from the rules (through pyDatalog:
        seconds each in a world of thousands of statements)."""
        how = "found by the exhaustive check" if self.found_by == "exhaustive" else "found by search, shrunk by hypothesis"
        out = [f"VIOLATED {self.invariant!r} ({self.kind}): {self.message}", f"  ({how}"
               + (f"; {self.more} more request(s) of this principal violate it too)" if self.more else ")")]
        steps = self.path or (self.counterexample,)
        for i, step in enumerate(steps, 1):
            head = f"  step {i} of {len(steps)}:" if self.path else "  counterexample:"
            out += [head, step.render("    "), "    decision:"]
            out += ["      " + x for x in step.decision.explain("full" if proof else "blockers").split("\n")]
        return "\n".join(out)

    def to_json(self, proof: bool = True) -> dict:
        def one(c: Counterexample) -> dict:
            return {**c.request(), "decision": c.decision.to_json(),
                    "explanation": c.decision.explain("full" if proof else "blockers")}

        d = {"invariant": self.invariant, "kind": self.kind, "message": self.message, "found_by": self.found_by,
             "more": self.more, "counterexample": one(self.counterexample)}
        if self.path:
            d["path"] = [one(c) for c in self.path]
        return d


@dataclass
class InvariantResult:
    """The outcome of one invariant: its violations and how much was decided."""

    invariant: Invariant
    violations: list[Violation] = field(default_factory=list)
    decided: int = 0  # requests decided by the exhaustive check
    searched: int = 0  # requests decided by the search
    notes: list[str] = field(default_factory=list)

    @property
    def holds(self) -> bool:
        return not self.violations

    @property
    def vacuous(self) -> bool:
        """True when the invariant holds because nothing was decided: no principal, action and resource
        fit it (often a typo in a pattern), so it guards nothing."""
        return not self.violations and not self.decided and not self.searched

    def to_json(self, proof: bool = True) -> dict:
        return {"name": self.invariant.name, "kind": self.invariant.kind, "holds": self.holds,
                "vacuous": self.vacuous,
                "decided": self.decided, "searched": self.searched, "notes": self.notes,
                "violations": [v.to_json(proof) for v in self.violations]}


# ---------------------------------------------------------------------------------------------
# The world as the checks see it


@dataclass(frozen=True)
class Actor:
    """A principal a check considers: ``arn`` is what :meth:`World.check` receives."""

    arn: str
    kind: str  # user | role | root | anonymous | service | web_identity
    account: str | None = None
    name: str | None = None
    origin: str = "world"  # world | named (by a policy; not declared) | synthetic

    def matches(self, pattern: str) -> bool:
        if pattern == "anonymous":
            return self.kind == "anonymous"
        texts = [self.arn] + ([self.name] if self.name else []) + ([self.account] if self.kind == "root" and self.account else [])
        return any(wildcard_match(pattern, t) for t in texts)


_IAM = re.compile(r"arn:(aws[a-z-]*):iam::([0-9]{12}):(root|user|role)(/.*)?")
_STS = re.compile(r"arn:(aws[a-z-]*):sts::([0-9]{12}):assumed-role/([\w+=,.@-]+)/.+")
_NAME = re.compile(r"[\w+=,.@-]{1,64}")
_PRINCIPAL_ARN = re.compile(r"arn:[a-z*?-]*:iam::([0-9*?]*):(user|role)(/.+)")
_DERIVED = re.compile(r"(aws:(principalarn|principalaccount|principalorgid|principalorgpaths|principaltype|username|"
                      r"userid|resourceaccount|resourceorgid|resourceorgpaths|principalisawsservice|"
                      r"principalservicename|principaltag/.*|resourcetag/.*))|[a-z0-9-]+:resourcetag/.*", re.I)
# keys AWS sets from the principal or the resource alone, which no caller gives (the others of
# _DERIVED are the caller's where the world does not declare the account, principal or resource)
_NEVER_GIVEN = re.compile(r"aws:(principalarn|principalaccount|principaltype|username|resourceaccount|"
                          r"principalisawsservice|principalservicename)", re.I)
_KIND_ORDER = {"root": 0, "user": 1, "role": 2, "service": 3, "web_identity": 4, "anonymous": 5}


def _synthetic_id(kind: str, name: str) -> str:
    """A unique id for a user or role the checks add (the world's own give theirs, or none): one
    no declared principal has, as a stand-in for any other principal's."""
    return UNIQUE_ID_PREFIX[kind] + hashlib.sha256(name.encode()).hexdigest()[:17].upper()


def _rule_action_patterns() -> set[str]:
    """Action patterns the rules themselves test (``trust_action("sts:AssumeRole*")``): the string
    constants of the parsed rules that read as one (not the examples their comments give)."""
    from .evaluate import rules
    from .grammar.datalog import Comparison, Const, Negation

    out: set[str] = set()
    for rule in rules().rules:
        for lit in (rule.head, *rule.body):
            atom = lit.atom if isinstance(lit, Negation) else lit
            terms = (atom.left, atom.right) if isinstance(atom, Comparison) else atom.args
            out.update(t.value for t in terms if isinstance(t, Const) and isinstance(t.value, str)
                       and _RULE_ACTION_PATTERN.fullmatch(t.value))
    return out


_RULE_ACTION_PATTERN = re.compile(r"[a-z0-9-]+:[A-Za-z0-9*?]+")


class _Analysis:
    """A world prepared for the checks: extra principals added, facts indexed, classes computed."""

    def __init__(self, world, *, members: bool):
        from .compile import compile_world

        self.catalog = Catalog.default()
        self.original = world
        facts0 = compile_world(world.model, with_catalog=False)
        by0 = _by_relation(facts0)
        self.world_accounts = {a for a, _ in by0["account"]}
        self.account_org = dict(by0["account_org"])
        mgmt = {m for _, m in by0["organization"]}
        self.members = sorted(a for a in self.account_org if a not in mgmt)

        # Principals named by resource-based and trust policies.
        kinds = {p: k for p, k, _ in by0["policy"]}
        stmt_pol = {s: p for s, p, _, _ in by0["statement"]}
        named: list[tuple[str, str]] = []
        for rel in ("statement_principal", "statement_not_principal"):
            for stmt, ptype, value in by0[rel]:
                if kinds.get(stmt_pol.get(stmt)) in ("resource", "trust", "key"):
                    named.append((ptype, value))
        principals0 = {p: (t, a) for p, t, a in by0["principal"]}
        extra_users: dict[str, dict[str, str]] = {}
        extra_roles: dict[str, dict[str, str]] = {}
        self.actors: list[Actor] = []
        seen: set[str] = set()

        def add(actor: Actor) -> None:
            if actor.arn not in seen:
                seen.add(actor.arn)
                self.actors.append(actor)

        names0 = {p: n for p, n, _ in by0["principal_name"]}
        index0 = world.evaluator().index
        for p, (t, a) in principals0.items():
            if p in index0.sso_roles:  # a role IAM Identity Center provisions: the sessions of its users
                for session in index0.sso_sessions(p):
                    add(Actor(session, t, a, names0.get(p)))
                continue
            add(Actor(p, t, a, names0.get(p)))
        named_accounts: set[str] = set()
        for ptype, value in sorted(set(named)):
            if ptype == "Service":
                add(Actor(value, "service", None, value, "named"))
            elif ptype == "Federated":
                add(Actor(value, "web_identity", None, value, "named"))
            elif ptype != "AWS" or value == "*":
                continue
            elif re.fullmatch(r"[0-9]{12}", value):
                named_accounts.add(value)
            elif m := _IAM.fullmatch(value):
                acct, what, rest = m.group(2), m.group(3), m.group(4) or ""
                named_accounts.add(acct)
                if what == "root" or acct in self.world_accounts:
                    continue
                path, _, name = rest.rpartition("/")
                if not _NAME.fullmatch(name):
                    continue
                (extra_users if what == "user" else extra_roles).setdefault(acct, {})[name] = path + "/"
                add(Actor(value, "user" if what == "user" else "role", acct, name, "named"))
            elif m := _STS.fullmatch(value):
                acct, role = m.group(2), m.group(3)
                named_accounts.add(acct)
                if acct not in self.world_accounts:
                    extra_roles.setdefault(acct, {})[role] = "/"
                    add(Actor(value, "role", acct, role, "named"))
        for acct in sorted(named_accounts - self.world_accounts):
            add(Actor(f"arn:aws:iam::{acct}:root", "root", acct, None, "named"))
        taken = self.world_accounts | named_accounts
        outsider = 999999999999
        while f"{outsider:012d}" in taken:
            outsider -= 1
        self.outsider = f"{outsider:012d}"
        add(Actor(f"arn:aws:iam::{self.outsider}:root", "root", self.outsider, None, "synthetic"))
        # Any principal of any other account: a user and a role of the unknown account, and the
        # users and roles that conditions on aws:PrincipalArn write (wildcards filled; a wildcard
        # account is the unknown one), each holding every permission, a role's sessions with the
        # session tags the search gives them.
        outside = {self.outsider} | (named_accounts - self.world_accounts)
        condition_keys_of = {cid: key.lower() for cid, _s, _op, key in by0["statement_condition"]}
        for cid, value in by0["condition_value"]:  # accounts that conditions on aws:PrincipalAccount name
            if condition_keys_of.get(cid) != "aws:principalaccount":
                continue
            value = one_match(value) or ""  # one account a pattern matches
            if re.fullmatch(r"[0-9]{12}", value) and value not in self.world_accounts:
                outside.add(value)
                add(Actor(f"arn:aws:iam::{value}:root", "root", value, None, "synthetic"))
        wanted = {(ANYONE, kind, acct, "/") for acct in outside for kind in ("user", "role")}
        for cid, value in by0["condition_value"]:
            m = _PRINCIPAL_ARN.fullmatch(value) if condition_keys_of.get(cid) == "aws:principalarn" else None
            if m:
                acct = m.group(1) if re.fullmatch(r"[0-9]{12}", m.group(1)) else self.outsider
                path, _, name = _fill(m.group(3), "x").rpartition("/")
                if acct not in self.world_accounts and _NAME.fullmatch(name) and re.fullmatch(r"/[\w+=,.@/-]*", path + "/"):
                    wanted.add((name, m.group(2), acct, path + "/"))
        for name, kind, acct, path in sorted(wanted):
            (extra_users if kind == "user" else extra_roles).setdefault(acct, {}).setdefault(name, path)
            add(Actor(f"arn:aws:iam::{acct}:{kind}{path}{name}", kind, acct, name, "synthetic"))
        add(Actor("anonymous", "anonymous"))

        # The world the checks run on: with the named outside principals (every permission) and,
        # when asked, a synthetic admin user in each member account.
        model = world.model
        accounts = list(model.accounts)
        self.synthetic_users: dict[str, str] = {}
        if members:
            for i, acct in enumerate(accounts):
                if acct.id in self.members:
                    name = SYNTHETIC_USER
                    while any(u.name == name for u in acct.users):
                        name += "-"
                    arn = f"arn:aws:iam::{acct.id}:user/{name}"
                    admin = User(name, inline=(NamedPolicy(OUTSIDE_POLICY, _ADMIN),),
                                 unique_id=_synthetic_id("user", arn))
                    accounts[i] = replace(acct, users=acct.users + (admin,))
                    self.synthetic_users[acct.id] = arn
        for acct in sorted(set(extra_users) | set(extra_roles)):
            pol = (NamedPolicy(OUTSIDE_POLICY, _ADMIN),)
            users = tuple(User(n, path=p, inline=pol, unique_id=_synthetic_id("user", f"{acct}:user{p}{n}"))
                          for n, p in sorted(extra_users.get(acct, {}).items()))
            # (its account may assume it and tag its sessions: the worst case of an outside role)
            trust = Policy((Statement("Allow", action=("sts:AssumeRole", "sts:TagSession"),
                                      principal=(Principal("AWS", f"arn:aws:iam::{acct}:root"),)),))
            roles = tuple(Role(n, path=p, trust=trust, inline=pol, unique_id=_synthetic_id("role", f"{acct}:role{p}{n}"))
                          for n, p in sorted(extra_roles.get(acct, {}).items()))
            accounts.append(Account(acct, f"iamlogic-outside-{acct}", users=users, roles=roles))
        if accounts != list(model.accounts):
            from .world import World

            self.world = World(replace(model, accounts=tuple(accounts)),
                               sources=world.sources)
            # the users of the accounts added carry the tags the search gives them, as their owners choose
            self.world.evaluator().open_accounts = frozenset(set(extra_users) | set(extra_roles))
            facts = compile_world(self.world.model, with_catalog=False)
        else:
            self.world, facts = world, facts0
        self.actors.sort(key=lambda a: (a.origin != "world", _KIND_ORDER.get(a.kind, 9), a.arn))

        by = _by_relation(facts)
        self.resources = {r: a for r, a in by["resource"]}
        self.roles = sorted(p for p, t, a in by["principal"] if t == "role" and a in self.world_accounts)
        self.iam_arns = sorted(p for p, t, a in by["principal"] if t in ("user", "role") and a in self.world_accounts
                               and p not in self.synthetic_users.values())
        self.resource_tags: dict[str, tuple] = {}
        for r, k, v in by["resource_tag"]:
            self.resource_tags[r] = self.resource_tags.get(r, ()) + ((k, v),)
        for p, k, v in by["principal_tag"]:
            self.resource_tags[p] = self.resource_tags.get(p, ()) + ((k, v),)
        self.resource_policy = dict(by["resource_policy"])
        self.trust = dict(by["role_trust_policy"])
        self.action_patterns = sorted({v for _, v in by["statement_action"]} | {v for _, v in by["statement_not_action"]}
                                      | _rule_action_patterns())
        self.resource_patterns = sorted({v for _, v in by["statement_resource"]} | {v for _, v in by["statement_not_resource"]})
        self.conditions = by["statement_condition"]
        self.condition_values: dict[str, list[str]] = {}
        for c, v in by["condition_value"]:
            self.condition_values.setdefault(c, []).append(v)
        self.names = sorted(set(names0.values()))
        self._expanded: dict[str, frozenset[str]] = {}
        self._formats: dict[str, list[re.Pattern]] = {}
        self._cache: dict[tuple, Decision] = {}
        self._signatures: dict[str, tuple] = {}  # a resource -> its signature but the owner
        self.evaluations = 0

    # -- deciding ---------------------------------------------------------------------------------
    @staticmethod
    def key(p: str, a: str, r: str, ctx: dict) -> tuple:
        return (p, a, r, tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in ctx.items())))

    def decide_many(self, requests: list[tuple[str, str, str, dict]], chunk: int = 20) -> list[Decision]:
        """Decide (principal, action, resource, context) requests, each once, in batches of ``chunk``."""
        byk = {self.key(*r): r for r in requests}
        todo = [k for k in byk if k not in self._cache]
        for i in range(0, len(todo), chunk):
            part = todo[i:i + chunk]
            decisions = self.world.check_many([dict(principal=p, action=a, resource=res, context=c)
                                               for p, a, res, c in (byk[k] for k in part)])
            self.evaluations += len(part)
            self._cache.update(zip(part, decisions))
        return [self._cache[self.key(*r)] for r in requests]

    def cached(self, p: str, a: str, r: str, ctx: dict) -> Decision | None:
        return self._cache.get(self.key(p, a, r, ctx))

    def cached_key(self, key: tuple) -> Decision | None:
        return self._cache.get(key)

    def owner(self, actor: Actor, resource: str) -> str | None:
        """The account that owns ``resource`` as the engine sees it for this principal."""
        try:
            req = self.world.evaluator().resolve(actor.arn, "sts:GetCallerIdentity", resource, {})
        except InvalidInput:
            return None
        return req.resource_account

    # -- actions ----------------------------------------------------------------------------------
    def expanded(self, pattern: str) -> frozenset[str]:
        if pattern not in self._expanded:
            self._expanded[pattern] = frozenset(self.catalog.expand(pattern))
        return self._expanded[pattern]

    def action_classes(self, patterns: Sequence[str]) -> list[tuple[str, ...]]:
        """The catalog actions matching ``patterns``, grouped by the world's patterns that match them."""
        actions = list(dict.fromkeys(a for p in patterns for a in self.catalog.expand(p)))
        groups: dict[frozenset, list[str]] = {}
        for a in actions:
            sig = frozenset(p for p in self.action_patterns if a in self.expanded(p))
            groups.setdefault(sig, []).append(a)
        return [tuple(g) for g in groups.values()]

    def fits(self, action: str, resource: str) -> bool:
        """Whether ``resource`` has one of the resource types ``action`` takes (``*``: any action)."""
        if resource == "*":
            return True
        if action not in self._formats:
            info = self.catalog.action(action)
            self._formats[action] = [_format_regex(f) for _, _, f in (info.resource_types if info else ())]
        return any(rx.fullmatch(resource) for rx in self._formats[action])

    def fitting(self, cls: tuple[str, ...], resource: str) -> str | None:
        """The first action of a class that fits ``resource``; for ``*``, one without resource types if any."""
        if resource == "*":
            for a in cls:
                info = self.catalog.action(a)
                if info is not None and not info.resource_types:
                    return a
            return cls[0]
        return next((a for a in cls if self.fits(a, resource)), None)

    # -- resources --------------------------------------------------------------------------------
    def instances(self, pattern: str, fill: str = "x") -> list[str]:
        """Concrete resources a pattern stands for: wildcards and variables filled with ``fill``;
        an account segment with wildcards is filled with each account of the world it matches."""
        text = re.sub(r"\$\{[^}]*\}", fill, pattern)
        parts = text.split(":", 5)
        if text.startswith("arn:") and len(parts) == 6:
            accts = [parts[4].replace("*", fill).replace("?", fill[:1] or "x")]
            if "*" in parts[4] or "?" in parts[4]:
                accts = [a for a in sorted(self.world_accounts) if wildcard_match(parts[4], a)] or (
                    [""] if wildcard_match(parts[4], "") else [])
            head = [parts[0], "aws" if "*" in parts[1] or "?" in parts[1] else parts[1]]
            head += [_fill(parts[2], fill), _fill(parts[3], fill)]
            return [":".join(head + [a, _fill(parts[5], fill)]) for a in accts]
        return [_fill(text, fill)]

    def candidates(self, patterns: Sequence[str], *, star: bool = True) -> list[tuple[str, str | None]]:
        """(resource, pattern it instantiates or None) for every resource the patterns stand for
        (``star=False``: ``*`` is only itself)."""
        out: dict[str, str | None] = {}
        for p in patterns:
            if p == "*":
                out.setdefault("*", None)
                for r in [*sorted(self.resources), *self.iam_arns] if star else []:
                    out.setdefault(r, None)
                continue
            for r in [*sorted(self.resources), *self.iam_arns]:
                if resource_match(p, r):
                    out.setdefault(r, None)
            wild = any(c in p for c in "*?")
            for r in self.instances(p):
                out.setdefault(r, p if wild else None)
            if wild:
                for q in self.resource_patterns:
                    for r in self.instances(q):
                        if r != "*" and resource_match(p, r):
                            out.setdefault(r, p)
        return list(out.items())

    def resource_signature(self, resource: str, owner: str | None) -> tuple:
        """What the rules can see of a resource; resources with equal signatures are decided alike."""
        if resource == "*":
            return ("*",)
        found = self._signatures.get(resource)  # (what does not depend on the owner: the same for every actor)
        if found is None:
            found = self._signatures[resource] = self._own_signature(resource)
        return found if found[0] == "unique" else (owner, *found)

    def _own_signature(self, resource: str) -> tuple:
        holder = resource
        if resource not in self.resources and resource.startswith("arn:") and ":s3:::" in resource:
            bucket = resource.split("/", 1)[0]
            if bucket in self.resources:
                holder = bucket
        matched = []
        for p in self.resource_patterns:
            if "${" in p:
                if resource_match(re.sub(r"\$\{[^}]*\}", "*", p), resource):
                    return ("unique", resource)
            elif resource_match(p, resource):
                matched.append(p)
        parts = resource.split(":")
        return (holder, self.resource_policy.get(holder), self.trust.get(resource),
                bool(re.fullmatch(r"arn:aws[a-z-]*:kms:[^:]*:[0-9]*:key/.+", resource)),
                self.resource_tags.get(resource, ()), parts[2] if len(parts) >= 6 else None, tuple(matched))

    # -- context ----------------------------------------------------------------------------------
    def context_keys(self) -> dict[str, tuple[str, str, bool, list[str]]]:
        """Condition keys the world's policies test (not those the world determines):
        lower-case key → (key, family, multivalued, values). See :func:`condition_keys`."""
        keys = condition_keys(self.conditions, self.condition_values, self.catalog, givable=True)
        return {k: v for k, v in keys.items() if not k.startswith("aws:principaltag/")}  # (session_tag_keys)

    def session_tag_keys(self) -> dict[str, tuple[str, str, bool, list[str]]]:
        """The ``aws:PrincipalTag/…`` keys the world's policies test, as :meth:`context_keys` gives
        keys: the session tags a role session of an account outside the world may carry."""
        return condition_keys(self.conditions, self.condition_values, self.catalog, principal_tags=True)


def condition_keys(conditions: Iterable[tuple], values: dict[str, list[str]], catalog: Catalog, *,
                   principal_tags: bool = False, givable: bool = False) -> dict[str, tuple[str, str, bool, list[str]]]:
    """The condition keys that ``conditions`` (``statement_condition`` rows: id, statement,
    operator, key) test, but those the world determines: lower-case key → (key, family,
    multivalued, the values ``values`` gives the conditions on it). The family is the catalog's
    type of the key, else its operators'; a key is multivalued when a set operator tests it or the
    catalog says so. ``principal_tags``: the ``aws:PrincipalTag/…`` keys only (a session's tags).
    ``givable``: every key a caller may give for some request, those the world determines for
    others too (the organization of an account, tags: the evaluator takes a value given only where
    the world does not determine it)."""
    keys: dict[str, list] = {}
    for cid, _stmt, op, key in conditions:
        tag = key.lower().startswith("aws:principaltag/")
        if givable:
            if _NEVER_GIVEN.fullmatch(key):
                continue
        elif principal_tags != tag or (not tag and _DERIVED.fullmatch(key)):
            continue
        try:
            parsed = parse_operator(op)
            family = operator_family(op)
        except ValueError:
            continue
        entry = keys.setdefault(key.lower(), [key, None, False, []])
        if family != "Null" and entry[1] is None:
            entry[1] = family
        if parsed.qualifier:
            entry[2] = True
        for v in values.get(cid, ()):
            if v not in entry[3]:
                entry[3].append(v)
    out = {}
    for low, (key, family, multi, vals) in sorted(keys.items()):
        info = catalog.condition_key(key)
        if info is not None:
            family = _TYPE_FAMILY.get(info.type.replace("ArrayOf", ""), family)
            multi = multi or info.multivalued
        out[low] = (key, family or "String", multi, vals)
    return out


def _by_relation(facts) -> dict[str, list[tuple]]:
    by: dict[str, list[tuple]] = {}
    for f in facts:
        by.setdefault(f[0], []).append(f[1:])
    return _Missing(by)


class _Missing(dict):
    def __missing__(self, key):
        return []


def _fill(text: str, fill: str) -> str:
    return text.replace("*", fill).replace("?", fill[:1] or "x")


def _format_regex(fmt: str) -> re.Pattern:
    out, pos = [], 0
    for m in re.finditer(r"\$\{([^}]*)\}", fmt):
        out.append(re.escape(fmt[pos:m.start()]))
        var = m.group(1)
        out.append({"Partition": "aws[a-z-]*", "Region": "[^:]*", "Account": "[^:]*", "BucketName": "[^/:]+"}.get(var, ".+"))
        pos = m.end()
    out.append(re.escape(fmt[pos:]))
    return re.compile("".join(out))


_TYPE_FAMILY = {"String": "String", "ARN": "Arn", "Arn": "Arn", "Bool": "Bool", "Boolean": "Bool",
                "Numeric": "Numeric", "Date": "Date", "IPAddress": "Ip", "Binary": "Binary"}


# ---------------------------------------------------------------------------------------------
# hypothesis: values for condition keys and resource wildcards


def _hyp():
    try:
        import hypothesis
        from hypothesis import strategies as st
    except ImportError:  # pragma: no cover - the test extra installs it
        raise MissingDependency("iamlogic verify needs hypothesis: pip install 'iamlogic[test]'") from None
    return hypothesis, st


_REGIONS = ("us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "eu-north-1", "ap-southeast-1", "sa-east-1")
_TEXT_ALPHABET = "abcxyz019-_./"


def _string_pool(values: Iterable[str], names: Iterable[str]) -> list[str]:
    pool: list[str] = []
    for v in values:
        if "${" in v:
            for n in list(names)[:3]:
                pool.append(re.sub(r"\$\{[^}]*\}", n, v))
            v = re.sub(r"\$\{[^}]*\}", "x", v)
        pool += [_fill(v, ""), _fill(v, "x")]
        if v.upper() != v:
            pool.append(v.upper())
    return list(dict.fromkeys(pool))


def _ip_pool(values: Iterable[str]) -> list[str]:
    pool: list[str] = []
    for v in values:
        try:
            net = ipaddress.ip_network(v, strict=False)
        except ValueError:
            continue
        first, last = net.network_address, net.broadcast_address
        pool += [str(first), str(last)]
        if net.num_addresses > 2:
            pool.append(str(first + 1))
        address = ipaddress.IPv4Address if net.version == 4 else ipaddress.IPv6Address
        for outside in (int(first) - 1, int(last) + 1):
            try:
                pool.append(str(address(outside)))
            except ValueError:  # below the first or above the last address
                pass
    return list(dict.fromkeys(pool))


def _number_pool(values: Iterable[str]) -> list[str]:
    pool: list[str] = []
    for v in values:
        try:
            n = int(v)
        except ValueError:
            try:
                f = float(v)
            except ValueError:
                continue
            pool += [v, str(f - 0.5), str(f + 0.5)]
            continue
        pool += [str(n), str(n - 1), str(n + 1)]
    return list(dict.fromkeys(pool))


def _date_pool(values: Iterable[str]) -> list[str]:
    pool: list[str] = []
    for v in values:
        if re.fullmatch(r"\d+", v):
            n = int(v)
            pool += [str(n), str(n - 1), str(n + 1)]
            continue
        try:
            d = datetime.fromisoformat(v.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            continue
        if d.tzinfo is None:
            d = d.replace(tzinfo=timezone.utc)
        for delta in (0, -1, 1):
            pool.append((d + timedelta(seconds=delta)).astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
    return list(dict.fromkeys(pool))


def value_pool(key: str, family: str, values: list[str], names: list[str]) -> list[str]:
    """The values of one condition key worth trying first: the policies' own values and their
    neighbours (an address inside and just outside each CIDR range, a number and the next, a date
    and the second before and after, ``true`` and ``false``; for AWS Regions, a few others)."""
    if family == "Bool":
        return ["true", "false"]
    if family == "Ip":
        return _ip_pool(values)
    if family == "Numeric":
        return _number_pool(values)
    if family == "Date":
        return _date_pool(values)
    if family == "Binary":
        return list(values)
    pool = _string_pool(values, names)
    if key.lower() == "aws:requestedregion":
        pool += [r for r in _REGIONS if r not in pool]
    if key.lower() in ("aws:principalorgid", "aws:principalorgpaths"):  # and ids of the form AWS gives,
        # one of them of an organization no policy names (any other account's)
        other = "o-zzzzzzzzzz" if key.lower() == "aws:principalorgid" else "o-zzzzzzzzzz/r-zzzz/"
        pool += [v for v in dict.fromkeys([*map(_org_form, pool), other]) if v not in pool]
    return pool


def _org_form(value: str) -> str:
    """``value`` (an organization id, or a path that starts with one) with its id in the form AWS
    gives ids (``o-`` and 10 to 32 lower-case letters or digits), wildcards filled with ``0``: what
    an outside account's organization may be (``o-*`` gives ``o-0000000000``; a value that does
    not start with ``o-`` gets another organization's id, ``x/r-ab12/x`` ``o-zzzzzzzzzz/r-ab12/x``)."""
    org, sep, rest = value.partition("/")
    org = org.lower()
    if not org.startswith("o-"):
        return "o-zzzzzzzzzz" + sep + rest
    body = re.sub(r"[^a-z0-9]", "", org[2:].replace("?", "0"))
    return "o-" + body.ljust(10, "0")[:32] + sep + rest



def _value_strategy(st, key: str, family: str, values: list[str], names: list[str]):
    """Values of one condition key: the policy's own values and their neighbours first, then any."""
    if family == "Bool":
        return st.sampled_from(["true", "false"])
    pool = value_pool(key, family, values, names)
    if family == "Ip":
        anything = st.one_of(st.integers(0, 2 ** 32 - 1).map(lambda n: str(ipaddress.IPv4Address(n))),
                           st.integers(0, 2 ** 128 - 1).map(lambda n: str(ipaddress.IPv6Address(n))))
    elif family == "Numeric":
        anything = st.integers(-10, 10 ** 6).map(str)
    elif family == "Date":
        anything = st.datetimes(datetime(2000, 1, 1), datetime(2040, 1, 1)).map(lambda d: d.strftime("%Y-%m-%dT%H:%M:%SZ"))
    elif family == "Binary":
        import base64

        anything = st.binary(max_size=8).map(lambda b: base64.b64encode(b).decode())
    else:
        anything = st.text(_TEXT_ALPHABET, max_size=10)
    return st.one_of(st.sampled_from(pool), anything) if pool else anything


def _context_strategy(st, keys: dict, names: list[str], *, skip: Iterable[str] = (), extra: dict | None = None):
    optional = {}
    for low, (key, family, multi, values) in keys.items():
        if low in {s.lower() for s in skip}:
            continue
        s = _value_strategy(st, key, family, values, names)
        optional[key] = st.lists(s, max_size=3) if multi else s
    optional.update(extra or {})
    return st.fixed_dictionaries({}, optional=dict(sorted(optional.items())))


def _resource_strategy(st, an: _Analysis, pattern: str):
    """Instances of a resource pattern: the wildcards of its resource part filled with text that the
    world's resources and patterns suggest, or any text; the other ARN segments as :meth:`_Analysis.instances`."""
    parts = pattern.split(":", 5)
    if pattern.startswith("arn:") and len(parts) == 6:
        heads = sorted({":".join(i.split(":", 5)[:5]) for i in an.instances(pattern)})
        body = parts[5]
    else:
        heads, body = [], pattern
    fragments = {"", "x"} | set(an.names)
    prefix = re.split(r"[*?]", body, maxsplit=1)[0]
    for q in [*an.resource_patterns, *an.resources]:
        qbody = q.split(":", 5)[5] if q.startswith("arn:") and q.count(":") >= 5 else q
        if qbody.startswith(prefix) and qbody != body:
            fragments.add(_fill(re.sub(r"\$\{[^}]*\}", "x", qbody[len(prefix):]), "x"))
    pool = sorted(fragments, key=lambda s: (len(s), s))
    fill = st.one_of(st.sampled_from(pool), st.text(_TEXT_ALPHABET, max_size=8))
    pieces = re.split(r"([*?])", body)
    n_star = sum(1 for p in pieces if p == "*")
    n_one = sum(1 for p in pieces if p == "?")

    def build(head, stars, ones):
        it_s, it_o = iter(stars), iter(ones)
        text = "".join(next(it_s) if p == "*" else next(it_o) if p == "?" else p for p in pieces)
        return f"{head}:{text}" if head is not None else text

    return st.builds(build, st.sampled_from(heads) if heads else st.none(),
                     st.lists(fill, min_size=n_star, max_size=n_star),
                     st.lists(st.sampled_from(list("ax0-")), min_size=n_one, max_size=n_one))


# ---------------------------------------------------------------------------------------------
# Checking


@dataclass
class _Case:
    actor: Actor
    cls: tuple[str, ...]
    action: str
    resource: str
    pattern: str | None  # the resource pattern the resource instantiates (searched further)


class _Checker:
    def __init__(self, world, invariants: Sequence[Invariant], examples: int):
        self.examples = examples
        self.an = _Analysis(world, members=any(i.kind == "every_account_denies" for i in invariants))

    # -- the search ---------------------------------------------------------------------------------
    def _find(self, strategy, request_of: Callable[[Any], tuple | None]) -> Any | None:
        """A minimal value whose request (``request_of``; None: no request) is allowed, or None.

        hypothesis draws the values, derandomized and bounded by ``examples``. The values it
        generates are first collected and decided together (``check_many`` decides a batch for
        little more than one request); only when one of them is allowed does hypothesis run again —
        replaying them from the cache — and shrink it, deciding at most ``2 * examples`` more.
        """
        hypothesis, _st = _hyp()
        from hypothesis import HealthCheck, Phase, Verbosity, settings

        def conf(phases):
            return settings(max_examples=self.examples, derandomize=True, database=None, deadline=None,
                            phases=phases, suppress_health_check=list(HealthCheck), verbosity=Verbosity.quiet)

        seen: list[tuple] = []

        def collect(value) -> bool:
            req = request_of(value)
            if req is not None:
                seen.append(req)
            return False

        try:
            hypothesis.find(strategy, collect, settings=conf([Phase.generate]))
        except (hypothesis.errors.NoSuchExample, hypothesis.errors.Unsatisfiable):
            pass
        todo = [r for r in dict.fromkeys(self.an.key(*r) for r in seen) if self.an.cached_key(r) is None]
        self._searched.update(self.an.key(*r) for r in seen)
        byk = {self.an.key(*r): r for r in seen}
        decisions = self.an.decide_many([byk[k] for k in todo])
        if not any(d.allowed for d in decisions) and not any(
                (d := self.an.cached(*r)) is not None and d.allowed for r in seen):
            return None
        budget = [self.examples * 2]

        def condition(value) -> bool:
            req = request_of(value)
            if req is None:
                return False
            d = self.an.cached(*req)
            if d is None:
                if budget[0] <= 0:
                    return False
                budget[0] -= 1
                d = self.an.decide_many([req])[0]
            self._searched.add(self.an.key(*req))
            return d.allowed

        try:
            return hypothesis.find(strategy, condition, settings=conf([Phase.generate, Phase.shrink]))
        except (hypothesis.errors.NoSuchExample, hypothesis.errors.Unsatisfiable):
            return None

    def _decide(self, requests: list[tuple]) -> list[Decision]:
        """Decide the exhaustive check's requests (counted as such)."""
        self._decided.update(self.an.key(*r) for r in requests)
        return self.an.decide_many(requests)

    # -- request invariants ---------------------------------------------------------------------------
    def run(self, inv: Invariant) -> InvariantResult:
        self._searched: set[tuple] = set()
        self._decided: set[tuple] = set()
        res = InvariantResult(inv)
        if inv.kind == "no_reach":
            self._no_reach(inv, res)
        else:
            self._requests(inv, res)
        res.searched = len(self._searched - self._decided)
        res.decided = len(self._decided)
        return res

    def _cases(self, inv: Invariant) -> tuple[list[_Case], list[dict]]:
        an = self.an
        classes = an.action_classes(inv.actions)
        if inv.kind == "every_account_denies":
            actors = []
            for acct in an.members:
                if inv.principal in ("synthetic", "all"):
                    actors.append(Actor(an.synthetic_users[acct], "user", acct, SYNTHETIC_USER, "synthetic"))
                if inv.principal in ("root", "all"):
                    actors.append(Actor(f"arn:aws:iam::{acct}:root", "root", acct))
                if inv.principal == "all":
                    actors += [a for a in an.actors if a.account == acct and a.kind in ("user", "role")]
            contexts = self._unless_contexts(inv)
        else:
            actors = [a for a in an.actors if a.arn not in an.synthetic_users.values()]
            if inv.kind == "only":
                actors = [a for a in actors if not any(a.matches(p) for p in inv.principals)]
            else:
                actors = [a for a in actors if a.kind not in ("service", "web_identity")]
            contexts = [{}]
        cases: list[_Case] = []
        seen: set[tuple] = set()
        for resource, pattern in an.candidates(inv.resources, star=inv.kind != "every_account_denies"):
            for actor in actors:
                if resource == "*" and (actor.account not in an.world_accounts or actor.origin != "world"):
                    if inv.kind != "every_account_denies":
                        continue
                if inv.kind == "nobody_outside" and not self._outside(inv, actor, resource):
                    continue
                sig = an.resource_signature(resource, an.owner(actor, resource))
                for cls in classes:
                    action = an.fitting(cls, resource)
                    if action is None or (actor.arn, cls, sig) in seen:
                        continue
                    seen.add((actor.arn, cls, sig))
                    cases.append(_Case(actor, cls, action, resource, pattern))
        return cases, contexts

    def _known_resource(self, pattern: str) -> bool:
        """Whether a resource pattern matches a resource or IAM principal of the world (an object
        pattern, its bucket), or meets a Resource pattern of its policies."""
        an = self.an
        if pattern == "*":
            return True
        for r in [*an.resources, *an.iam_arns]:
            if wildcard_match(pattern, r) or pattern.startswith(r + "/"):
                return True
        return any(wildcard_match(pattern, q) or wildcard_match(q, pattern) for q in an.resource_patterns if q != "*")

    def _unmatched(self, patterns: Sequence[str], what: str) -> list[str]:
        """Notes for patterns that match no principal (a typo, or a principal the world lacks)."""
        return [f"{what} pattern {p!r} matches no principal of the world" for p in patterns
                if p != "*" and not any(a.matches(p) for a in self.an.actors)]

    def _outside(self, inv: Invariant, actor: Actor, resource: str) -> bool:
        if actor.kind == "anonymous":
            return True
        if actor.kind in ("service", "web_identity") or resource == "*":
            return False
        owner = self.an.owner(actor, resource)
        if owner is None or owner == actor.account:
            return False
        if inv.scope == "account":
            return True
        org = self.an.account_org.get(owner)
        return org is None or self.an.account_org.get(actor.account) != org

    def _unless_contexts(self, inv: Invariant) -> list[dict]:
        """Contexts that do not satisfy ``unless``: one key at a time missing or outside, the others inside."""
        if not inv.unless:
            return [{}]
        keys = self.an.context_keys()
        inside = {k: _fill(vals[0], "x") for k, vals in inv.unless}
        out: list[dict] = []
        for k, vals in inv.unless:
            base = {o: v for o, v in inside.items() if o != k}
            out.append(base)
            for v in self._outside_values(k, vals, keys)[:3]:
                out.append({**base, k: v})
        return out

    def _outside_values(self, key: str, allowed: tuple[str, ...], keys: dict) -> list[str]:
        known = keys.get(key.lower(), (key, "String", False, []))[3]
        pool = _string_pool(known, self.an.names)
        if key.lower() == "aws:requestedregion":
            pool += list(_REGIONS)
        pool.append("iamlogic-outside")
        return [v for v in dict.fromkeys(pool) if not any(wildcard_match(a, v) for a in allowed)]

    @staticmethod
    def _satisfies(inv: Invariant, ctx: dict) -> bool:
        lower = {k.lower(): v for k, v in ctx.items()}
        for k, allowed in inv.unless:
            v = lower.get(k.lower())
            values = v if isinstance(v, list) else ([] if v is None else [v])
            if not values or not all(any(wildcard_match(a, x) for a in allowed) for x in values):
                return False
        return True

    def _requests(self, inv: Invariant, res: InvariantResult) -> None:
        an = self.an
        cases, contexts = self._cases(inv)
        if inv.kind == "only":
            res.notes += self._unmatched(inv.principals, "principal")
        res.notes += [f"resource pattern {p!r} matches no resource of the world and no Resource of its policies "
                      "(a typo?): it was asked as written" for p in inv.resources if not self._known_resource(p)]
        if not cases:
            res.notes.append("no request to decide: no principal, action and resource fit the invariant")
            return
        reqs = [(c, ctx) for c in cases for ctx in contexts]
        decisions = self._decide([(c.actor.arn, c.action, c.resource, ctx) for c, ctx in reqs])
        by_actor: dict[str, list[Counterexample]] = {}
        for (c, ctx), d in zip(reqs, decisions):
            if d.allowed:
                by_actor.setdefault(c.actor.arn, []).append(Counterexample(c.actor.arn, c.action, c.resource, dict(ctx), d))
        for arn, found in by_actor.items():
            res.violations.append(Violation(inv.name, inv.kind, self._message(inv, found[0]), found[0],
                                            more=len(found) - 1))
        rest = [c for c in cases if c.actor.arn not in by_actor]
        if not rest or self.examples <= 0:
            return
        _h, st = _hyp()
        keys = an.context_keys()
        if inv.kind == "every_account_denies":
            skip = [k for k, _ in inv.unless]
            extra = {}
            for k, allowed in inv.unless:
                spec = keys.get(k.lower(), (k, "String", False, []))
                inside = st.sampled_from([_fill(v, "x") for v in allowed])
                outside_vals = self._outside_values(k, allowed, keys)
                outside = _value_strategy(st, k, spec[1], outside_vals, an.names).filter(
                    lambda v, allowed=allowed: not any(wildcard_match(a, v) for a in allowed))
                extra[k] = st.one_of(outside, inside)
            ctx_strategy = _context_strategy(st, keys, an.names, skip=skip, extra=extra).filter(
                lambda ctx: not self._satisfies(inv, ctx))
        else:
            ctx_strategy = _context_strategy(st, keys, an.names)

        tags = an.session_tag_keys()
        tag_strategy = _context_strategy(st, tags, an.names)

        def case_strategy(i: int):
            c = rest[i]
            r = st.just(c.resource) if c.pattern is None else st.one_of(st.just(c.resource), _resource_strategy(st, an, c.pattern))
            # a role of an account outside the world may tag its sessions as it likes, its owner its users
            outside = tags and c.actor.kind in ("role", "user") and c.actor.account not in an.world_accounts
            return st.tuples(st.just(i), r, st.builds(lambda ctx, t: {**ctx, **t}, ctx_strategy,
                                                      tag_strategy if outside else st.just({})))

        strategy = st.sampled_from(range(len(rest))).flatmap(case_strategy)

        def request_of(value) -> tuple | None:
            i, resource, ctx = value
            c = rest[i]
            action = an.fitting(c.cls, resource)
            if action is None or (inv.kind == "nobody_outside" and not self._outside(inv, c.actor, resource)):
                return None
            return (c.actor.arn, action, resource, ctx)

        found = self._find(strategy, request_of)
        if found is not None:
            i, resource, ctx = found
            c = rest[i]
            action = an.fitting(c.cls, resource)
            # the keys the violation needs: hypothesis's shrinking can leave others in
            ctx = dict(ctx)
            for key in list(ctx):
                fewer = {k: v for k, v in ctx.items() if k != key}
                if inv.kind == "every_account_denies" and self._satisfies(inv, fewer):
                    continue
                req = (c.actor.arn, action, resource, fewer)
                if (an.cached(*req) or an.decide_many([req])[0]).allowed:
                    ctx = fewer
            d = an.cached(c.actor.arn, action, resource, ctx) or an.decide_many([(c.actor.arn, action, resource, ctx)])[0]
            ce = Counterexample(c.actor.arn, action, resource, ctx, d)
            res.violations.append(Violation(inv.name, inv.kind, self._message(inv, ce), ce, found_by="search"))

    @staticmethod
    def _message(inv: Invariant, ce: Counterexample) -> str:
        ctx = f" with context {_flow(ce.context)}" if ce.context else " with no context"
        if inv.kind == "every_account_denies":
            return f"{ce.principal} is allowed {ce.action} on {ce.resource}{ctx}"
        who = "outside" if inv.kind == "nobody_outside" else "not listed"
        return f"{ce.principal} ({who}) is allowed {ce.action} on {ce.resource}{ctx}"

    # -- reachability -------------------------------------------------------------------------------
    def _no_reach(self, inv: Invariant, res: InvariantResult) -> None:
        an = self.an
        if not an.roles:
            res.notes.append("the world has no roles")
            return
        actors = {a.arn: a for a in an.actors if a.kind != "anonymous" and a.arn not in an.synthetic_users.values()}
        role_actor = {r: actors.get(r) or Actor(r, "role") for r in an.roles}
        for r, a in role_actor.items():
            actors.setdefault(r, a)
        starts = [a for a in actors.values() if any(a.matches(p) for p in inv.principals)]
        res.notes += self._unmatched(inv.principals, "principal") + self._unmatched(inv.except_, "principal")
        res.notes += [f"'to' pattern {p!r} matches no role of the world" for p in inv.to
                      if not any(wildcard_match(p, r) for r in an.roles)]

        def excepted(arn: str) -> bool:
            return any(actors[arn].matches(p) for p in inv.except_)

        def target(arn: str) -> bool:
            return any(wildcard_match(p, arn) for p in inv.to)

        def action_for(actor: Actor) -> str:
            if actor.kind == "web_identity":
                return "sts:AssumeRoleWithSAML" if ":saml-provider/" in actor.arn else "sts:AssumeRoleWithWebIdentity"
            return "sts:AssumeRole"

        # path[node]: the steps that first reached it (none for a start); origin[node]: its start.
        path: dict[str, tuple[Counterexample, ...]] = {}
        origin: dict[str, str] = {}
        expanded: set[str] = set()
        checked: set[tuple[str, str]] = set()
        edges: set[tuple[str, str]] = set()
        violations: dict[tuple[str, str], Violation] = {}

        def reach(node: str, steps: tuple[Counterexample, ...], start: str) -> list[str]:
            if steps and target(node) and (start, node) not in violations:
                hops = " -> ".join([start] + [s.resource for s in steps])
                violations[(start, node)] = Violation(
                    inv.name, inv.kind, f"{start} reaches {node}: {hops}", steps[-1], steps,
                    found_by="search" if any(s.context for s in steps) else "exhaustive")
            if node in path:
                return []
            path[node], origin[node] = steps, start
            return [] if excepted(node) else [node]

        def step(u: str, r: str, ctx: dict, d: Decision) -> list[str]:
            edges.add((u, r))
            return reach(r, path[u] + (Counterexample(u, action_for(actors[u]), r, dict(ctx), d),), origin[u])

        def expand(frontier: list[str]) -> None:
            for _level in range(len(an.roles) + 1):
                if not frontier:
                    return
                expanded.update(frontier)
                pairs = [(u, r) for u in frontier for r in an.roles if r != u and (u, r) not in checked]
                checked.update(pairs)
                decisions = self._decide([(u, action_for(actors[u]), r, {}) for u, r in pairs])
                nxt: list[str] = []
                for (u, r), d in zip(pairs, decisions):
                    if d.allowed:
                        nxt += step(u, r, {}, d)
                frontier = nxt

        frontier: list[str] = []
        for a in starts:
            if not excepted(a.arn):
                frontier += reach(a.arn, (), a.arn)
        expand(frontier)
        if not violations and self.examples > 0:
            _h, st = _hyp()
            ctx_strategy = _context_strategy(st, an.context_keys(), an.names)
            for _round in range(len(an.roles) * len(actors)):
                pairs = sorted((u, r) for u in expanded for r in an.roles
                               if r != u and (u, r) not in edges and (r not in path or target(r)))
                if not pairs:
                    break

                def request_of(value, pairs=pairs) -> tuple:
                    i, ctx = value
                    u, r = pairs[i]
                    return (u, action_for(actors[u]), r, ctx)

                found = self._find(st.tuples(st.sampled_from(range(len(pairs))), ctx_strategy), request_of)
                if found is None:
                    break
                i, ctx = found
                u, r = pairs[i]
                expand(step(u, r, ctx, an.cached(u, action_for(actors[u]), r, ctx)))
                if violations:
                    break
        res.violations.extend(violations.values())


def check_invariants(world, invariants: Iterable[Invariant | dict] | str, *, examples: int = 200) -> list[InvariantResult]:
    """Check invariants against a world; one :class:`InvariantResult` per invariant, in order.

    Args:
        world: a :class:`~iamlogic.World`.
        invariants: :class:`Invariant` values, mappings in the file's format (``{"name": …,
            "only": {…}}``), or the path of an invariants file.
        examples: the most requests each hypothesis search decides (0: the exhaustive check only).
    """
    if isinstance(invariants, str):
        invs = load_invariants(invariants)
    else:
        items = list(invariants)
        dicts = [i for i in items if isinstance(i, dict)]
        invs = parse_invariants(dicts) if dicts else []
        it = iter(invs)
        invs = [next(it) if isinstance(i, dict) else i for i in items]
    checker = _Checker(world, invs, examples)
    return [checker.run(inv) for inv in invs]


def verify(world, invariants: Iterable[Invariant | dict] | str, *, examples: int = 200) -> list[Violation]:
    """Every violation of ``invariants`` in ``world`` (empty when they all hold). See :func:`check_invariants`."""
    return [v for r in check_invariants(world, invariants, examples=examples) for v in r.violations]


# ---------------------------------------------------------------------------------------------
# The commands


def add_commands(sub) -> None:
    """Register the commands on the CLI's sub-parsers."""
    add_test_command(sub)
    v = sub.add_parser("verify", help="check invariants over a world: exhaustively over its principals, resources "
                                      "and actions, and by search over context values (exit 0 hold, 1 violated, "
                                      "3 invalid input)")
    v.add_argument("world", nargs="+", metavar="WORLD", help="the world's .iaml files")
    v.add_argument("--invariants", action="append", metavar="FILE",
                   help="an invariants YAML file (repeatable; default: invariants.yaml next to the first WORLD)")
    v.add_argument("--examples", type=int, default=200, metavar="N",
                   help="the most requests each hypothesis search decides (default 200; 0: exhaustive check only)")
    v.add_argument("--format", choices=("text", "json"), default="text")
    v.add_argument("--brief", action="store_true",
                   help="each violation with its deciding statements, without its derivation from the rules "
                        "(seconds each through pyDatalog in a world of thousands of statements)")
    v.add_argument("--allow-vacuous", action="store_true",
                   help="exit 0 even when an invariant decides no request (by default such an invariant, which "
                        "guards nothing, exits 1)")
    v.set_defaults(run=cmd_verify)


def cmd_verify(args) -> int:
    import json

    from .world import load

    files = args.invariants
    if not files:
        folder = os.path.dirname(args.world[0])
        files = [p for p in (os.path.join(folder, "invariants.yaml"), os.path.join(folder, "invariants.yml"))
                 if os.path.exists(p)][:1]
        if not files:
            raise InvalidInput([Diagnostic("E708", "no invariants: give --invariants FILE (or put invariants.yaml "
                                                   "next to the world)")])
    if args.examples < 0:
        raise InvalidInput([Diagnostic("E705", f"--examples must be 0 or more, not {args.examples}")])
    try:
        invariants: list[Invariant] = []
        diags: list[Diagnostic] = []
        sources: dict[str, str] = {}
        for f in files:
            try:
                invariants += load_invariants(f)
            except InvalidInput as exc:
                diags += exc.diagnostics
                sources.update(exc.sources)
        if diags:
            raise InvalidInput(diags, sources)
        world = load(args.world)
        results = check_invariants(world, invariants, examples=args.examples)
    except MissingDependency as exc:
        print(f"iamlogic: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    violated = [r for r in results if not r.holds]
    vacuous = [r for r in results if r.vacuous]
    if args.format == "json":
        print(json.dumps({"holds": not violated, "vacuous": len(vacuous),
                          "invariants": [r.to_json(not args.brief) for r in results]}, indent=2))
    else:
        for r in results:
            status = "VACUOUS " if r.vacuous else "holds   " if r.holds else "VIOLATED"
            line = (f"{status} {r.invariant.name} ({r.invariant.kind}): {r.decided} request(s) decided exhaustively, "
                    f"{r.searched} by search")
            if r.violations:
                line += f"; {len(r.violations)} violation(s)"
            print(line)
            for n in r.notes:
                print(f"         note: {n}")
        for r in violated:
            for v in r.violations:
                print()
                print(v.render(not args.brief))
        print()
        print(f"{len(results) - len(violated)} of {len(results)} invariant(s) hold"
              + (f", {len(violated)} violated" if violated else "")
              + (f"; {len(vacuous)} decided no request and guard nothing"
                 + (" (--allow-vacuous)" if args.allow_vacuous else " (exit 1; --allow-vacuous accepts them)")
                 if vacuous else ""))
    return EXIT_FAILURE if violated or (vacuous and not args.allow_vacuous) else EXIT_OK
