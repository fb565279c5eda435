"""Analyses over a world: who can, what can, an access matrix, the diff of two worlds, external access.

Every answer here is made of decisions returned by :meth:`iamlogic.World.check_many`; this module
only chooses which requests to ask and reads the world's facts to choose them. It never decides a
request itself, so an analysis cannot disagree with ``check``.

What each analysis asks, and so what it can see (its *scope*):

- **Principals of a world** (:func:`world_principals`): every IAM user, every role (asked as a
  session of the role without session policy, as ``check`` does; a role IAM Identity Center
  provisions as the session of each user who signs in to it), every account's root user, and
  ``anonymous``.
- **Principals named by the world** (:func:`named_principals`): the Principal entries of resource
  policies, trust policies and key policies that are not principals of the world: accounts and
  ARNs of accounts outside the world, role sessions, service principals, web-identity providers.
  A principal of an account outside the world has identity policies the world does not know;
  ``check`` evaluates them as none, which would hide every grant a resource policy makes to it.
  The analyses therefore ask about such principals in a copy of the world where their account is
  declared and grants them every identity permission (``allow * on *``) — what the resource's side
  lets them do, the assumption IAM Access Analyzer makes — and add a warning saying so to their
  decisions.
- **Actions**: the action patterns of the world's statements (Action and NotAction, every policy
  kind), each expanded against the AWS action catalog (:class:`iamlogic.catalog.Catalog`); only
  catalog actions are asked. A pattern whose service part has a wildcard (``*``, ``*:Get*``) is
  not expanded (``*`` alone is 20,000+ actions): when one is present, one *representative* catalog
  action of a service no policy names stands for the actions no policy names.
- **Resources**: the resources the world declares, ``*``, and the ARNs that Resource elements
  write (a wildcard kept as a literal character: ``arn:aws:s3:::b/*`` stands for an object of
  ``b`` that every pattern covering that text covers); values with policy variables are left out.

Cost: the engine decides about 25–50 requests a second (see ``iamlogic.engine``). An analysis
asks principals × actions × resources requests, in batches; give ``principals=``, ``actions=`` or
``resources=`` to narrow it.

>>> import iamlogic
>>> w = iamlogic.loads('''
... account 111122223333 "dev" {
...   user alice { policy P { allow sqs:SendMessage on * } }
...   user bob
... }''')
>>> [p for p, d in who_can(w, "sqs:SendMessage", "arn:aws:sqs:us-east-1:111122223333:q")]
['arn:aws:iam::111122223333:root', 'arn:aws:iam::111122223333:user/alice']
"""

from __future__ import annotations

import contextlib
import itertools
import re
from collections import defaultdict
from dataclasses import dataclass, field, replace
from functools import lru_cache, partial
from typing import Any, Callable, Container, Iterable, Iterator, Mapping, Sequence

from .catalog import Catalog
from .decision import ALLOW, EXPLICIT_DENY, Decision, LayerVerdict, StatementRef
from .batch import in_processes, run_task
from .evaluate import (COGNITO, COGNITO_GUEST_NOTE, REQUEST_POLICY, Undeclared, collector_paused, one_action,
                       plain_pattern)
from .grammar.diagnostics import Diagnostic, InvalidInput
from .matching import resource_match, wildcard_match

__all__ = [
    "ANONYMOUS",
    "Blockers",
    "Change",
    "ExternalAccess",
    "FailedCondition",
    "Undetermined",
    "access_matrix",
    "actions_for_resource",
    "diff",
    "external_access",
    "iter_diff",
    "named_principals",
    "new_access",
    "policy_actions",
    "sample_resources",
    "what_can",
    "who_can",
    "why_not",
    "world_principals",
]

ANONYMOUS = "anonymous"
#: How many requests one call of ``check_many`` decides (a row of a principal and action, whole).
BATCH = 4096
_ALONE = 8  # requests of a part that raised E507 asked each alone (_Asker._run)
_DIFF_BLOCK = 20_000  # requests diff asks under each context before the next ones
_SKIP_UNREAD = True  # diff: a request is not asked again under contexts that vary only keys it did not read
_ACCOUNT = re.compile(r"[0-9]{12}")
_IAM_ARN = re.compile(r"arn:(aws[a-z-]*):iam::([0-9]{12}):(user|role)(/.*)")
_ROOT_ARN = re.compile(r"arn:aws[a-z-]*:iam::([0-9]{12}):root")
_STS_ARN = re.compile(r"arn:(aws[a-z-]*):sts::([0-9]{12}):assumed-role/([^/]+)/(.+)")
#: Condition keys the world determines (iamlogic.evaluate builds them; a request cannot supply them).
_WORLD_KEYS = re.compile(r"(?i)aws:(Principal(Arn|Account|OrgID|OrgPaths|Type|IsAWSService|ServiceName)|username|userid|"
                         r"Resource(Account|OrgID|OrgPaths|Tag/.*))$|[a-z0-9-]+:ResourceTag/.*$")
_PATH_LIKE = re.compile(r"Path|ObjectName|LogGroupName|LogStreamName")
_ADMIN = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
#: Statement kinds whose Principal element grants access.
_GRANTING_KINDS = ("resource", "trust", "key")


# ---------------------------------------------------------------------------------------------
# Reading the world (facts only: never a decision)


def _evaluator(world):
    return world.evaluator()


def _facts(world, relation: str) -> frozenset[tuple]:
    return _evaluator(world).facts(relation)


def _policy_kind(world, stmt: str) -> str | None:
    idx = _evaluator(world).index
    pol = idx.statements.get(stmt, (None,))[0]
    return idx.policies.get(pol, (None,))[0]


def world_principals(world) -> list[str]:
    """Every principal the world declares: users, roles, account roots (ARNs), then ``anonymous``.
    A role that IAM Identity Center provisions stands as the sessions of the users who sign in to it
    (``arn:aws:sts::ACCT:assumed-role/ROLE/USER``, with each user's session tags): its sessions are
    theirs only. Each identity an Amazon Cognito identity pool declares and gives a role (or may:
    E512) follows, by its id: it stands for the session the enhanced flow gives it (the role asked
    as itself stays, for the basic flow and for identities the world does not declare).

    >>> import iamlogic
    >>> world_principals(iamlogic.loads('account 111122223333 "dev" { user alice }'))
    ['arn:aws:iam::111122223333:root', 'arn:aws:iam::111122223333:user/alice', 'anonymous']
    """
    idx = _evaluator(world).index
    out: list[str] = []
    for p in sorted(idx.principals, key=lambda p: (idx.principals[p][1], p)):
        if p in idx.sso_roles:
            out += idx.sso_sessions(p)
        else:
            out.append(p)
    identities = [i for i in idx.cognito_identities if idx.cognito_enhanced.get(i) or i in idx.cognito_unknown_claims]
    return out + sorted(identities) + [ANONYMOUS]


def _account_of(principal: str) -> str | None:
    if _ACCOUNT.fullmatch(principal):
        return principal
    for regex, group in ((_ROOT_ARN, 1), (_IAM_ARN, 2), (_STS_ARN, 2)):
        m = regex.fullmatch(principal)
        if m:
            return m.group(group)
    return None


def named_principals(world) -> list[str]:
    """Principals that the world's resource, trust and key policies name (in Principal elements, and
    in conditions on aws:PrincipalAccount and aws:PrincipalArn) but does not declare.

    Accounts are given as their root ARN; ``*`` and values with wildcards are left out (every
    analysis asks ``anonymous``, and :func:`external_access` a principal of an unnamed account),
    but for a condition's account or ARN pattern one principal it matches (``3*`` gives
    ``300000000000``, ``arn:aws:iam::*:role/deploy`` that role of ``000000000000``).
    A name the evaluator cannot place (a user ARN of a declared account that the account does
    not declare) is left out too.
    """
    ev = _evaluator(world)
    declared = set(ev.index.principals)
    out: dict[str, None] = {}
    named = set(_facts(world, "statement_principal"))
    # and the accounts and user or role ARNs that conditions on aws:PrincipalAccount and
    # aws:PrincipalArn of those policies write
    keys = {cid: (stmt, key.lower()) for cid, stmt, _op, key in _facts(world, "statement_condition")}
    for cid, value in _facts(world, "condition_value"):
        stmt, key = keys.get(cid, (None, None))
        if key in ("aws:principalaccount", "aws:principalarn"):
            value = one_match(value)  # one principal a pattern matches (any other account of it alike)
            if value is not None and (key == "aws:principalaccount" or _IAM_ARN.fullmatch(value)):
                named.add((stmt, "AWS", value))
    for stmt, ptype, value in sorted(named):
        if _policy_kind(world, stmt) not in _GRANTING_KINDS or "*" in value or "?" in value:
            continue
        if ptype == "AWS" and _ACCOUNT.fullmatch(value):
            value = f"arn:aws:iam::{value}:root"
        if ptype == "CanonicalUser" or value in declared:
            continue
        try:
            ev.resolve(value, "sts:GetCallerIdentity", "*")
        except InvalidInput:
            continue
        out.setdefault(value)
    return list(out)


def one_match(pattern: str) -> str | None:
    """A value that the account id or IAM ARN ``pattern`` of a condition matches: its wildcards
    filled (the account part with zeros to twelve digits, the rest with ``x``); None when none fits."""
    if "*" not in pattern and "?" not in pattern:
        return pattern
    parts = pattern.split(":", 5)
    acct = parts[4] if len(parts) == 6 else pattern
    fixed = acct.replace("*", "")
    if len(fixed) > 12:
        return None
    acct = acct.replace("*", "0" * (12 - len(fixed)), 1).replace("*", "").replace("?", "0")
    if not _ACCOUNT.fullmatch(acct):
        return None
    if len(parts) != 6:
        return acct
    filled = ":".join([*(p.replace("*", "x").replace("?", "x") for p in parts[:4]), acct,
                       parts[5].replace("*", "x").replace("?", "x")])
    return filled if wildcard_match(pattern, filled) else None


def _with_anyone(outsiders: dict[str, str]) -> list[str]:
    """The user :data:`ANYONE_USER` of each account of ``outsiders`` (a root user cannot assume a
    role; a user of the account can), added to it; returns those added."""
    added = []
    for acct in sorted(set(outsiders.values())):
        arn = _anyone(acct)[1]
        if arn not in outsiders:
            outsiders[arn] = acct
            added.append(arn)
    return added


def _outsiders(world, principals: Iterable[str]) -> dict[str, str]:
    """The principals of ``principals`` whose account the world does not declare → that account."""
    accounts = _evaluator(world).index.accounts
    out = {}
    for p in principals:
        acct = _account_of(p)
        if acct is not None and acct not in accounts:
            out[p] = acct
    return out


def _named_accounts(world) -> set[str]:
    """The accounts the Principal elements of the world's policies name."""
    return {a for _, _, v in _facts(world, "statement_principal") if (a := _account_of(v))}


def _outsider_account(world, taken: Iterable[str] = ()) -> str:
    """An account id that the world neither declares nor names: it stands for 'any account
    outside the world'."""
    used = set(taken) | set(_evaluator(world).index.accounts) | _named_accounts(world)
    n = 999999999999
    while str(n) in used:
        n -= 1
    return str(n)


#: The user that stands, with the root user, for any principal of an account outside the world (a
#: root user cannot assume a role, a user can).
ANYONE_USER = "any-principal"


def _anyone(acct: str) -> list[str]:
    """The principals that stand for any principal of the outside account ``acct``: its root user
    and the user :data:`ANYONE_USER`, which holds every identity permission."""
    return [f"arn:aws:iam::{acct}:root", f"arn:aws:iam::{acct}:user/{ANYONE_USER}"]


def _names_everyone(world) -> bool:
    """Whether an Allow statement of a resource, trust or key policy names ``*`` (any AWS principal)."""
    idx = _evaluator(world).index
    return any(ptype == "AWS" and value == "*" and _policy_kind(world, stmt) in _GRANTING_KINDS
               and idx.statements.get(stmt, ("", 0, ""))[2] == "Allow"
               for stmt, ptype, value in _facts(world, "statement_principal"))


def policy_actions(world) -> tuple[list[str], bool]:
    """The catalog actions the world's statements name (Action and NotAction patterns expanded),
    and whether some pattern has a wildcard in its service part (so was not expanded)."""
    catalog = _evaluator(world).catalog
    found: dict[str, None] = {}
    wildcard = False
    for _stmt, pattern in sorted(_facts(world, "statement_action") | _facts(world, "statement_not_action")):
        service = pattern.partition(":")[0]
        if "*" in service or "?" in service or ":" not in pattern:
            wildcard = True
            continue
        for action in catalog.expand(pattern):
            found.setdefault(action)
    return list(found), wildcard


def not_action_actions(world, resources: Iterable[str]) -> list[str]:
    """For each statement with NotAction: the first catalog action, of each service of
    ``resources`` (their ARNs' service) and of each service its patterns name, that none of its
    patterns excludes: the actions it covers that :func:`policy_actions` does not name."""
    catalog = _evaluator(world).catalog
    by_stmt: dict[str, list[str]] = defaultdict(list)
    for stmt, pattern in sorted(_facts(world, "statement_not_action")):
        by_stmt[stmt].append(pattern)
    services = {r.split(":")[2].lower() for r in resources if r.startswith("arn:") and r.count(":") >= 5}
    found: dict[str, None] = {}
    for patterns in by_stmt.values():
        named = {p.partition(":")[0].lower() for p in patterns if ":" in p and "*" not in p.partition(":")[0]}
        for service in sorted((services | named) - {""}):
            for action in catalog.expand(f"{service}:*"):
                if not any(wildcard_match(p, action, ignore_case=True) for p in patterns):
                    found.setdefault(action)
                    break
    return list(found)


#: A value of a multivalued condition key that no policy names (:func:`sample_contexts`).
OTHER_VALUE = "iamlogic-other-value"


def sample_contexts(worlds: Iterable[Any], given: Mapping[str, Any] | None = None,
                    statements: Container[str] | None = None) -> list[dict[str, Any]]:
    """The contexts :func:`diff` asks with: ``given`` (or none), then, for the condition keys the
    worlds' policies test that a caller may give for some request (the organization keys of an
    account outside the world, session tags, the tags of a resource the world does not declare,
    environment keys; not those AWS sets from the principal or resource alone), ``given`` with one key set to each
    value of its pool (a policy's own values and their neighbours, as ``iamlogic verify``
    searches: an address inside and just outside each CIDR range, a number and the next, a date
    and the second before and after, ``true`` and ``false``; for a value that is a tag variable,
    the values the worlds give that tag); for a multivalued key also no value,
    the whole pool, and the pool with a value no policy names (:data:`OTHER_VALUE`); then with
    every key set at once to its pool's next value. Each request is asked in each of them that
    gives a key its decisions read (see :func:`diff`) until its decision differs, so the cost
    grows with the number of values the policies name.
    ``statements``: only the keys these statements read (their conditions' keys, and the policy
    variables they hold), each with the same values as when every key is varied: a request whose
    action only these statements match is decided under each such context as under each context
    of all the keys."""
    worlds = list(worlds)
    base = dict(given or {})
    fixed = {k.lower() for k in base}
    pools = [entry for low, entry in key_pools(worlds).items() if low not in fixed]
    rows = max((len(p) for _, _, p in pools), default=0)
    if statements is not None:
        read = _keys_read(worlds, statements)
        # (Amazon Cognito's keys say which identity a session is: every request of the session reads them)
        pools = [entry for entry in pools if entry[0].lower() in read or entry[0].lower().startswith(f"{COGNITO}:")]
    out = [base]
    for key, multi, pool in pools:
        out += [{**base, key: [v] if multi else v} for v in pool]
        if multi:  # a set operator compares every value: none, all of them, and all with one no policy names
            out += [{**base, key: []}, {**base, key: pool}, {**base, key: [*pool, OTHER_VALUE]}]
    for i in range(rows if pools else 0):
        out.append({**base, **{key: ([pool[i % len(pool)]] if multi else pool[i % len(pool)])
                               for key, multi, pool in pools if pool}})
    unique: dict[str, dict] = {}
    for ctx in out:
        unique.setdefault(repr(sorted(ctx.items())), ctx)
    return list(unique.values())


_VARIABLE = re.compile(r"\$\{([^},]+)")


def _keys_read(worlds: Sequence[Any], statements: Container[str] | None, conditions: bool = True) -> set[str]:
    """The lower-case keys ``statements`` (None: every statement) read in the worlds: those their
    conditions test, and those their policy variables name (in any element; ``conditions=False``:
    the policy variables of their Resource, NotResource, Principal and NotPrincipal elements alone)."""
    out: set[str] = set()
    for world in worlds:
        tested = set()
        for cid, stmt, _op, key in _facts(world, "statement_condition") if conditions else ():
            if statements is None or stmt in statements:
                out.add(key.lower())
                tested.add(cid)
        texts = [v for cid, v in _facts(world, "condition_value") if cid in tested]
        for rel in ("statement_resource", "statement_not_resource", "statement_principal",
                    "statement_not_principal"):
            texts += [row[-1] for row in _facts(world, rel) if statements is None or row[0] in statements]
        out.update(m.group(1).strip().lower() for text in texts for m in _VARIABLE.finditer(text))
    return out


def key_pools(worlds: Iterable[Any]) -> dict[str, tuple[str, bool, list[str]]]:
    """The condition keys the worlds' policies test that a caller may give for some request, each
    with its pool of values (see :func:`sample_contexts`): lower-case key -> (key, multivalued,
    values)."""
    from .verify import condition_keys, value_pool

    worlds = list(worlds)
    tags: dict[str, set[str]] = defaultdict(set)  # a tag key -> the values the worlds give it
    for world in worlds:
        for _p, k, v in _facts(world, "principal_tag"):
            tags["aws:principaltag/" + k.lower()].add(v)
        for _r, k, v in _facts(world, "resource_tag"):
            tags["aws:resourcetag/" + k.lower()].add(v)
    pools: dict[str, tuple[str, bool, list[str]]] = {}
    for world in worlds:
        values: dict[str, list[str]] = defaultdict(list)
        for cid, value in _facts(world, "condition_value"):
            values[cid].append(value)
            # a value that is a tag variable (``${aws:PrincipalTag/Team}``): the values of that tag
            m = re.fullmatch(r"\$\{([^},]+)(?:,[^}]*)?\}", value)
            if m:
                values[cid] += sorted(tags.get(m.group(1).strip().lower(), ()))
        keys = condition_keys(sorted(_facts(world, "statement_condition")), values, _evaluator(world).catalog,
                              givable=True)
        for low, (key, family, multi, vals) in keys.items():
            entry = pools.setdefault(low, (key, False, []))
            pool = value_pool(key, family, sorted(vals), [])
            pools[low] = (entry[0], entry[1] or multi, list(dict.fromkeys(entry[2] + pool)))
    return pools


def _representative_action(catalog: Catalog, named: Iterable[str]) -> str | None:
    """A catalog action of a service that no named action belongs to (deterministic)."""
    services = {a.partition(":")[0].lower() for a in named} | {"sts"}
    for candidate in ("ec2:DescribeInstances", "sns:Publish", "logs:GetLogEvents", "cloudwatch:GetMetricData",
                      "sqs:SendMessage", "s3:GetObject"):
        if candidate.partition(":")[0] not in services and catalog.action(candidate):
            return candidate
    for action in catalog.expand("*"):
        if action.partition(":")[0].lower() not in services:
            return action
    return None


def sample_resources(world) -> list[str]:
    """``*``, the resources the world declares, its roles (their trust policies are resource-based
    policies), and the ARNs Resource and NotResource elements write (no variables)."""
    out: dict[str, None] = {"*": None}
    for res in sorted(_evaluator(world).index.resources):
        out.setdefault(res)
    for role, _pol in sorted(_facts(world, "role_trust_policy")):
        out.setdefault(role)
    for _stmt, pattern in sorted(_facts(world, "statement_resource") | _facts(world, "statement_not_resource")):
        if pattern.startswith("arn:") and "${" not in pattern:
            out.setdefault(pattern)
    return list(out)


@lru_cache(maxsize=4)
def _resource_formats(catalog: Catalog) -> list[tuple[re.Pattern[str], tuple[str, ...]]]:
    """Each ARN format of the catalog as a regex, with the actions that take such a resource."""
    by_format: dict[str, list[str]] = {}
    for action in catalog.expand("*"):
        info = catalog.action(action)
        for _type, _required, arn in info.resource_types:
            if arn:
                by_format.setdefault(arn, []).append(info.name)
    out = []
    for fmt, actions in by_format.items():
        parts = re.split(r"(\$\{[^}]*\})", fmt)
        regex = []
        for i, part in enumerate(parts):
            if part.startswith("${") and part.endswith("}"):
                if part == "${Partition}":
                    regex.append("aws[a-z-]*")
                elif all(not p for p in parts[i + 1:]):
                    # The last placeholder: a path-like name may hold '/', other names may not.
                    regex.append(".+" if _PATH_LIKE.search(part) else "[^/]+")
                else:
                    regex.append("[^:/]*")
            else:
                regex.append(re.escape(part))
        out.append((re.compile("".join(regex)), tuple(dict.fromkeys(actions))))
    return out


def actions_for_resource(resource: str, catalog: Catalog | None = None,
                         services: Iterable[str] | None = None) -> list[str]:
    """The catalog actions that take ``resource``: those with a resource type whose ARN format
    matches it; for ``*``, every action of ``services``.

    >>> "s3:GetObject" in actions_for_resource("arn:aws:s3:::b/k"), "s3:ListBucket" in actions_for_resource("arn:aws:s3:::b/k")
    (True, False)
    """
    catalog = catalog or Catalog.default()
    wanted = {s.lower() for s in services} if services is not None else None
    if resource == "*":
        if wanted is None:
            return []
        return [a for s in sorted(wanted) for a in catalog.expand(f"{s}:*")]
    out: dict[str, None] = {}
    for regex, actions in _resource_formats(catalog):
        if regex.fullmatch(resource):
            for a in actions:
                if wanted is None or a.partition(":")[0].lower() in wanted:
                    out.setdefault(a)
    return list(out)


# ---------------------------------------------------------------------------------------------
# Asking (every decision comes from World.check_many)


def _augmented(world, outsiders: Mapping[str, str], extra_accounts: Iterable[str] = ()):
    """A copy of ``world`` declaring each outside account, whose named users and roles hold every
    identity permission. Returns None when there is nothing to add."""
    from .world import World

    accounts: dict[str, list[str]] = {}
    for principal, acct in outsiders.items():
        accounts.setdefault(acct, []).append(principal)
    for acct in extra_accounts:
        accounts.setdefault(acct, []).extend(_anyone(acct)[1:])
    if not accounts:
        return None
    copy = World(world.model, sources=world.sources)
    for acct, principals in sorted(accounts.items()):
        builder = copy.add_account(acct, f"outside-{acct}")
        users: dict[tuple[str, str], None] = {}
        roles: dict[tuple[str, str], None] = {}
        for p in principals:
            m = _IAM_ARN.fullmatch(p)
            if m:
                path, _, name = m.group(4).rpartition("/")
                (users if m.group(3) == "user" else roles).setdefault((name, path + "/"))
            m = _STS_ARN.fullmatch(p)
            if m:
                roles.setdefault((m.group(3), "/"))
        for name, path in users:
            builder.add_user(name, path=path, policies={"OutsideTheWorld": _ADMIN})
        for name, path in roles:
            builder.add_role(name, path=path, policies={"OutsideTheWorld": _ADMIN},
                             trust={"Version": "2012-10-17", "Statement": [{
                                 "Effect": "Allow", "Action": "sts:AssumeRole",
                                 "Principal": {"AWS": f"arn:aws:iam::{acct}:root"}}]})
    copy.evaluator().open_accounts = frozenset(accounts)  # their users' tags are their owners' choice
    return copy


@dataclass(frozen=True)
class Undetermined:
    """A request an analysis could not decide, and why: a policy that could apply reads what the
    world does not give (E507: the unique id of a user or role that declares none, the name of the
    session of a role asked as a role, or the session tags of an IAM Identity Center user). It is
    neither listed as allowed nor taken as denied."""

    principal: str
    action: str
    resource: str
    diagnostic: Diagnostic

    def to_json(self) -> dict[str, Any]:
        return {"principal": self.principal, "action": self.action, "resource": self.resource,
                "diagnostic": self.diagnostic.to_json()}


def _undecidable(exc: InvalidInput) -> bool:
    """What the world does not give (E507), or a Cognito session it does not determine (E512)."""
    return all(d.code in ("E507", "E512") for d in exc.diagnostics)


class _AskedAgain:
    """What derives the layers and proof of a decision made in another process: the request
    decided again, here, once asked for (explanations take the slower path)."""

    def __init__(self, asker: "_Asker", triple: tuple[str, str, str], context: Mapping[str, Any]):
        self.asker, self.triple, self.context = asker, triple, context
        self._decision: Decision | None = None

    def _again(self) -> Decision:
        if self._decision is None:
            self._decision = self.asker.ask([self.triple], self.context)[0]
        return self._decision

    def layers(self):
        return self._again().layers

    def proof(self):
        return self._again().proof()


class _Asker:
    """Decides (principal, action, resource) triples against one world with ``check_many``.

    Principals of accounts outside the world are asked in the augmented copy; principals the
    world cannot place are answered ``None``. A request that reads what the world does not give
    (E507) raises, or, with ``undetermined`` (a list), is answered ``None`` and added to it.
    """

    def __init__(self, world, outsiders: Mapping[str, str] = (), extra_accounts: Iterable[str] = (),
                 undetermined: list[Undetermined] | None = None):
        self.world = world
        self.outsiders = dict(outsiders)
        self._extra = tuple(extra_accounts)
        self._copy = None
        self._valid: dict[str, bool] = {}
        self._targets: dict[str, Any] = {}
        self.undetermined = undetermined

    def _target(self, principal: str):
        found = self._targets.get(principal)
        if found is None:
            found = self.world
            if principal in self.outsiders or _account_of(principal) in self._extra:
                if self._copy is None:
                    self._copy = _augmented(self.world, self.outsiders, self._extra)
                found = self._copy
            self._targets[principal] = found
        return found

    def _placeable(self, principal: str, action: str, resource: str) -> bool:
        if principal not in self._valid:
            try:
                self._target(principal).evaluator().resolve(principal, action, resource)
                self._valid[principal] = True
            except InvalidInput as exc:  # placed, if what fails is the request rather than the principal
                if any(d.code == "E513" for d in exc.diagnostics):  # the question's action or resource
                    raise
                self._valid[principal] = _undecidable(exc)
        return self._valid[principal]

    def ask(self, triples: Sequence[tuple[str, str, str]], context: Mapping[str, Any] | None = None
            ) -> list[Decision | None]:
        """The decision of each triple under ``context`` (None: its principal cannot be placed, or,
        with ``undetermined``, its request cannot be decided)."""
        out = self._each(triples, context, lambda target, asked: target.check_many(asked),
                         lambda target, request: target.check(*request))
        for i, d in enumerate(out):
            if d is not None and self._target(triples[i][0]) is not self.world:
                out[i] = replace(d, warnings=d.warnings + (self._outside(triples[i][0]),))
        return out

    def _outside(self, principal: str) -> str:
        """The warning of a decision for a principal of an account outside the world."""
        acct = _account_of(principal)
        return (f"account {acct} stands for any account outside the world (a policy names '*')"
                if acct in self._extra else
                f"account {acct} is outside the world: its principal is assumed to hold every "
                "identity permission, so this shows what the resource's side allows")

    def decision(self, triple: tuple[str, str, str], verdict: tuple, context: Mapping[str, Any] | None) -> Decision:
        """The decision that :meth:`ask` gives, from the triple's ``verdict`` (of :meth:`verdicts`,
        under ``context``) without deciding it again: its layers and proof are derived (by
        :meth:`ask`) when asked for."""
        outcome, statements, missing, warnings = verdict
        principal, action, resource = triple
        target = self._target(principal)
        if target is not self.world:
            warnings += (self._outside(principal),)
        return Decision(outcome, target.evaluator().caller(principal), action, resource, statements, None, missing,
                        warnings, _AskedAgain(self, triple, dict(context or {})))

    def verdicts(self, triples: Sequence[tuple[str, str, str]], context: Mapping[str, Any] | None,
                 reads: list) -> list[tuple | None]:
        """The verdict of each triple under ``context``: its decision (``Allow``, ``ExplicitDeny``,
        ``ImplicitDeny``), deciding statements, missing context keys and warnings, as
        :meth:`Evaluator.verdicts_many` gives them (None as :meth:`ask` gives it); and in ``reads``,
        a list as long as ``triples``, the context keys it read (:meth:`Evaluator.verdicts_reading`;
        None when not decided)."""
        def run(target, asked):
            with collector_paused():
                return target.evaluator().verdicts_reading([(*a, None, None) for a in asked])

        def one(target, request):
            return target.evaluator().verdicts_reading([(*request, None, None)])[0]

        out = self._each(triples, context, run, one)
        for i, found in enumerate(out):
            if found is not None:
                out[i], reads[i] = found
        return out

    def _each(self, triples: Sequence[tuple[str, str, str]], context: Mapping[str, Any] | None,
              run: Callable, one: Callable) -> list:
        """``run(world, requests)`` on the triples, a chunk at a time, in the world (or the
        augmented copy) that places each principal; ``one(world, request)`` on each request of a
        small part that raised E507 (with ``undetermined``: its request is added there, answered
        None; see :meth:`_run`)."""
        out: list = [None] * len(triples)
        groups: dict[int, tuple[Any, list[int]]] = {}
        last, placed = None, None  # (the triples of a principal come together)
        for i, (p, a, r) in enumerate(triples):
            if p != last:
                last, placed = p, None
                if self._placeable(p, a, r):
                    target = self._target(p)
                    placed = groups.setdefault(id(target), (target, []))[1]
            if placed is not None:
                placed.append(i)
        given = dict(context or {})  # (one for every request: the evaluator reads it, and keeps its own)
        for target, indexes in groups.values():
            for start in range(0, len(indexes), BATCH):
                chunk = indexes[start:start + BATCH]
                for i, d in zip(chunk, self._run(target, [(*triples[i], given) for i in chunk], run, one)):
                    out[i] = d
        return out

    def _run(self, target, asked: list[tuple], run: Callable, one: Callable) -> list:
        """``run(target, asked)``; with ``undetermined``, requests that raised E507 asked again by
        halves, each alone at the last (few undecidable requests among many cost about twice the
        requests, not each request alone)."""
        try:
            return run(target, asked)
        except InvalidInput as exc:
            if self.undetermined is None or not _undecidable(exc):
                raise
        if len(asked) <= _ALONE:
            return [self._one(target, request, one) for request in asked]
        half = len(asked) // 2
        return self._run(target, asked[:half], run, one) + self._run(target, asked[half:], run, one)

    def _one(self, target, request: tuple, one: Callable):
        try:
            return one(target, request)
        except InvalidInput as exc:
            if not _undecidable(exc):
                raise
            self.undetermined.append(Undetermined(*request[:3], exc.diagnostics[0]))
            return None


# ---------------------------------------------------------------------------------------------
# who can, what can, the access matrix


def who_can(world, action: str, resource: str, context: Mapping[str, Any] | None = None, *,
            undetermined: list[Undetermined] | None = None,
            conditional: list[tuple[str, Decision]] | None = None) -> list[tuple[str, Decision]]:
    """Every principal allowed to do ``action`` on ``resource``, with its decision.

    Principals asked: :func:`world_principals` (users, roles as sessions, account roots,
    ``anonymous``) and :func:`named_principals` (accounts and ARNs the resource, trust and key
    policies name, service principals, role sessions); a principal of an account outside the world
    is asked as holding every identity permission (see the module docstring), and so is the user
    :data:`ANYONE_USER` of that account (its root user cannot assume a role). When an Allow of a
    resource, trust or key policy names ``*``, the root user and a user holding every identity
    permission (:data:`ANYONE_USER`) of one account that no policy names are asked too: they stand
    for any account outside the world. Each decision carries
    its deciding statements (:attr:`Decision.statements`) and layers.

    Args:
        world: a :class:`~iamlogic.World`.
        action: ``service:Action``.
        resource: an ARN, or ``*``.
        context: condition keys every request carries (``aws:SourceIp``, …).
        undetermined: a list to which each request that cannot be decided is added, as an
            :class:`Undetermined` (a policy that could apply reads what the world does not give,
            E507); without it, such a request raises :class:`InvalidInput`.
        conditional: a list to which ``(principal, decision)`` is added for each principal denied
            by a decision that reads condition keys the request did not carry
            (:attr:`Decision.missing_context`): given them, it may be allowed.

    Returns:
        ``(principal, decision)`` for every allowed principal, in the order above.
    """
    one_action(action)  # (asked request by request, a pattern would be refused each time: "nobody")
    principals = world_principals(world)
    named = [p for p in named_principals(world) if p not in principals]
    outsiders = _outsiders(world, named)
    named += _with_anyone(outsiders)
    extra: tuple[str, ...] = ()
    if _names_everyone(world):
        extra = (_outsider_account(world, outsiders.values()),)
        named += _anyone(extra[0])
    asker = _Asker(world, outsiders, extra, undetermined)
    everyone = principals + named
    decisions = asker.ask([(p, action, resource) for p in everyone], context)
    if conditional is not None:
        conditional += [(p, d) for p, d in zip(everyone, decisions)
                        if d is not None and not d.allowed and d.missing_context]
    return [(p, d) for p, d in zip(everyone, decisions) if d is not None and d.allowed]


def what_can(world, principal: str, resource: str, context: Mapping[str, Any] | None = None, *,
             services: Iterable[str] | None = None, undetermined: list[Undetermined] | None = None,
             warnings: list[str] | None = None) -> dict[str, dict[str, list[str]]]:
    """The catalog actions ``principal`` may do on ``resource``, by service and access level.

    Scope (what is asked, honestly): for a resource ARN, every catalog action that takes a
    resource of that ARN's shape (a resource type whose ARN format matches it, in any service:
    ``sts:AssumeRole`` for a role ARN); for ``*``, every action of the services the world's
    policies name with a concrete service prefix (``s3:Get*`` names ``s3``; ``*`` names none).
    ``services`` narrows (for an ARN) or sets (for ``*``) the services asked. Actions outside this
    scope are not asked, so not reported, even when a wildcard statement would allow them.
    ``undetermined``: as in :func:`who_can`. ``warnings``: a list that receives the warnings every
    decision asked has (of the principal and the context given: an unknown context key, …).

    Returns:
        ``{service: {access_level: [action, ...]}}`` of the allowed actions, sorted.

    Raises:
        InvalidInput: the principal cannot be placed in the world (E504, …).
    """
    ev = _evaluator(world)
    if resource == "*" and services is None:
        named, _wildcard = policy_actions(world)
        services = sorted({a.partition(":")[0] for a in named})
    actions = actions_for_resource(resource, ev.catalog, services)
    out: dict[str, dict[str, list[str]]] = {}
    if not actions:
        ev.resolve(principal, "sts:GetCallerIdentity", resource)  # still report an unknown principal
        return out
    asker = _Asker(world, _outsiders(world, [principal]), undetermined=undetermined)
    if not asker._placeable(principal, actions[0], resource):
        ev.resolve(principal, actions[0], resource)  # raises the evaluator's own diagnostic
    decisions = asker.ask([(principal, a, resource) for a in actions], context)
    if warnings is not None and (asked := [d for d in decisions if d is not None]):
        shared = set.intersection(*(set(d.warnings) for d in asked))
        warnings += [w for w in asked[0].warnings if w in shared]
    for action, d in zip(actions, decisions):
        if d is not None and d.allowed:
            info = ev.catalog.action(action)
            out.setdefault(info.service, {}).setdefault(info.access_level or "Unknown", []).append(info.name)
    return {s: {lvl: sorted(acts) for lvl, acts in sorted(levels.items())} for s, levels in sorted(out.items())}


def access_matrix(world, principals: Iterable[str], actions: Iterable[str], resources: Iterable[str],
                  context: Mapping[str, Any] | None = None) -> dict[tuple[str, str, str], Decision]:
    """The decision of every (principal, action, resource), in that nesting order.

    Raises:
        InvalidInput: a principal cannot be placed in the world.

    >>> import iamlogic
    >>> w = iamlogic.loads('account 111122223333 "dev" { user alice { policy P { allow s3:GetObject on * } } }')
    >>> m = access_matrix(w, ["alice"], ["s3:GetObject", "s3:PutObject"], ["*"])
    >>> [(a, d.decision) for (p, a, r), d in m.items()]
    [('s3:GetObject', 'Allow'), ('s3:PutObject', 'ImplicitDeny')]
    """
    triples = [(p, a, r) for p in principals for a in actions for r in resources]
    decisions: list[Decision] = []
    for start in range(0, len(triples), BATCH):
        chunk = triples[start:start + BATCH]
        decisions += world.check_many([(p, a, r, dict(context or {})) for p, a, r in chunk])
    return dict(zip(triples, decisions))


# ---------------------------------------------------------------------------------------------
# diff

# What a difference between two worlds' facts can change, for diff's scope (changed_statements).
# Facts no decision reads (neither the rules a decision is derived by nor the evaluator's own code:
# tests/unit/test_analysis.py holds them to that): where a statement is written, what it or an OU
# is called; tag policies (rules/75-tag-policies.dl: which tags comply) and the tags of accounts;
# billing (rules/70-billing.dl); trails and log subscriptions (rules/80-logging.dl); the routes of
# APIs and load balancers, and what Amazon Cognito user pools say of their clients, groups and MFA
# (iamlogic routes); the organization's root id (guardrails).
_UNREAD = frozenset({
    "statement_sid", "statement_source", "ou_name", "tag_policy_key", "tag_policy_value", "tag_policy_required",
    "tag_policy_attached", "account_tag",
    "price_tier", "usage", "reservation", "savings_plan", "sp_rate", "no_discount_sharing",
    "trail", "trail_logging", "trail_multi_region", "trail_organization", "log_subscription",
    "api", "api_route", "route_authorizer", "route_scope", "load_balancer", "lb_rule", "lb_authenticate",
    "user_pool", "pool_client", "pool_client_scope", "pool_user_group", "pool_user_mfa", "cognito_provider",
    "org_root"})
# The organization's tree, its accounts and its management account (no SCP or RCP applies to it):
# which levels' SCPs and RCPs a member account's requests pass (rules/10-organizations.dl), and its
# path (aws:PrincipalOrgPaths, aws:ResourceOrgPaths).
_TREE = frozenset({"account_parent", "ou_parent", "account_org", "organization"})
# The catalog's actions each Action pattern of the world covers: they follow statement_action.
_FOLLOWS_STATEMENTS = frozenset({"action_pattern_covers"})
# Facts of one statement, by the column that holds it (statement_condition: its condition's id is
# first; condition_value is reached through that id).
_OF_STATEMENT = {"statement": 0, "statement_action": 0, "statement_not_action": 0, "statement_resource": 0,
                 "statement_not_resource": 0, "statement_principal": 0, "statement_not_principal": 0,
                 "statement_condition": 1}
# The sources of a policy (rules/20-policies.dl, source_policy) by what they narrow, each with the
# column of its holder: the principals whose requests a policy held there can take part in
# (identity and group policies, boundaries' statements, SCP levels), or the resources (resource
# and trust policies, RCP levels).
_PRINCIPAL_SOURCES = ("identity_policy", "group_policy", "permissions_boundary", "scp_attached")
_RESOURCE_SOURCES = ("resource_policy", "role_trust_policy", "rcp_attached")
# Facts whose only effect on a decision is through the statements of one policy, by the column that
# holds the policy: which sources hold it (an SCP or RCP level allows through the statements of its
# policies, rules/10-organizations.dl), its kind and its version (how its statements read policy
# variables). Not a permissions boundary attached (a principal with one needs its allow for every
# action, rules/40-principals.dl). (A trust policy attached: also which roles Amazon Cognito's
# sessions use, rules/16-cognito.dl, so not where the worlds have identity pools; and a role's
# sessions read its trust statements on sts:TagSession: see _changes.)
_OF_POLICY = {"policy": 0, "policy_version": 0, "scp_attached": 1, "rcp_attached": 1, "identity_policy": 1,
              "group_policy": 1, "resource_policy": 1, "role_trust_policy": 1}
# Facts of one principal or resource, by the column that holds it. A request reads its principal only
# through its identity (rules/20-policies.dl request_source, rules/40-principals.dl; the evaluator's
# context keys and how a Principal entry names it) and its resource only through the resource itself
# (its tags, owner, policy holder, whether the world declares it; an S3 object through its bucket):
# a change to a principal reaches the requests it makes, a change to a resource the requests on it,
# and a principal is a resource too (a role's tags).
_OF_CALLER = {"permissions_boundary": 0, "role_service_linked": 0}  # every action
_OF_TARGET = {"resource": 0, "aws_managed_key": 0, "group": 0}  # every action
_OF_PRINCIPAL = {"principal": 0, "principal_name": 0, "principal_id": 0}  # both, every action
# (group_member: the actions of the group's policies; principal_tag, resource_tag, bucket_abac: the
# actions of the statements that read the tag's key)
# IAM Identity Center: who signs in to which role it provisions, with which session tags
# (rules/15-identity-center.dl sso_signin, Evaluator._sso_session), and which roles IAM may not change
# (rules/55-service-limits.dl protected_change), by the column that holds the organization: a change
# reaches the requests of those roles' sessions, and those on the roles.
_OF_IDENTITY_CENTER = {"sso_user": 0, "sso_group": 0, "sso_group_member": 0, "sso_user_attribute": 0,
                       "sso_session_attribute": 0, "sso_assignment": 0, "sso_role": 1, "directory": 0,
                       "directory_link": 0}
# Which role Amazon Cognito gives an identity's session reads these (rules/16-cognito.dl, the
# evaluator's enhanced flow), and whether Cognito may assume it (a request on the role: its tags; its
# account's RCPs and path, see _changes): where the worlds have identity pools, a change to one of
# them can change every request of Cognito's sessions too (their roles among the callers).
_COGNITO_READS = frozenset({"principal", "principal_name", "principal_id", "role_trust_policy", "principal_tag"})
# Facts a decision reads only through Amazon Cognito's sessions (rules/16-cognito.dl, 17-user-pools.dl:
# the pools, their roles, rules and identities, the claims of the identities' tokens, whether a user
# pool's user can sign in, the guests' session policy): every request of Cognito's sessions, none other.
_COGNITO_FACTS = frozenset({
    "cognito_pool", "cognito_pool_role", "cognito_mapping", "cognito_mapping_rule", "cognito_identity",
    "cognito_identity_claim", "cognito_identity_user", "cognito_identity_amr", "cognito_guest_policy",
    "pool_user", "pool_user_attribute", "pool_user_unconfirmed", "pool_user_disabled", "pool_user_via",
    "user_pool_provider"})
_COGNITO_TRUST = ("Federated", "cognito-identity.amazonaws.com")
# Actions the evaluator asks of a role's trust policy for every request of its sessions: whether the
# session may carry session tags (WorldIndex.tag_session_roles), and whether Amazon Cognito may
# create it (Evaluator._cognito_session)
_SESSION_ACTIONS = ("sts:TagSession", "sts:AssumeRoleWithWebIdentity")


@dataclass(frozen=True)
class _Changes:
    """What differs between two worlds, when it is statements, which sources hold policies, and
    principals and resources (:func:`_changes`)."""

    statements: frozenset[str]  # whose own facts differ
    policies: frozenset[str]  # whose kind or version differs
    held: frozenset[str]  # whose holders differ
    callers: frozenset[str] = frozenset()  # identities whose requests can change, whatever they ask
    targets: frozenset[str] = frozenset()  # resources (an S3 bucket with its objects) likewise
    members: frozenset[tuple[str, str]] = frozenset()  # (user, group) in one world only
    tags: frozenset[tuple[str, str]] = frozenset()  # (principal or resource, lower-case tag key) that differ
    tree: bool = False  # the organization's tree, or which accounts are in it, differ
    accounts: frozenset[str] = frozenset()  # whose path in the organization, or policies at its levels, differ
    declared: frozenset[str] = frozenset()  # accounts declared in one world only (or under another name)
    rcp: frozenset[str] = frozenset()  # services (prefixes) and actions (lower case) RCPs restrict in one world only
    guests: frozenset[str] = frozenset()  # the session policies of Amazon Cognito's guests, in either world


def _changes(before, after) -> _Changes | str:
    """The difference between two worlds' facts (:class:`_Changes`), or the relation of a fact that
    differs and is none of a statement, of which sources hold a policy, of one principal or of one
    resource, of the organization's tree and accounts, of IAM Identity Center, of Amazon Cognito,
    of the services RCPs restrict (see :func:`diff`). Where Amazon Cognito's sessions can change,
    the roles they are sessions of and the identities of the pools are among the callers."""
    ev0, ev1 = _evaluator(before), _evaluator(after)
    changed: set[str] = set()
    policies: set[str] = set()
    held: set[str] = set()
    conditions: set[str] = set()
    callers: set[str] = set()
    targets: set[str] = set()
    members: set[tuple[str, str]] = set()
    tags: set[tuple[str, str]] = set()
    tree = False
    declared: set[str] = set()
    rcp: set[str] = set()
    cognito = any(ev.index.rows.get("cognito_pool") for ev in (ev0, ev1))
    sessions = False  # every request of Amazon Cognito's sessions can change
    guests = {pol for ev in (ev0, ev1) for pol, in ev.index.rows.get("cognito_guest_policy", ())}
    for rel in set(ev0.index.rows) | set(ev1.index.rows):
        if rel in _UNREAD or rel in _FOLLOWS_STATEMENTS:
            continue
        rows0, rows1 = ev0.index.rows.get(rel, ()), ev1.index.rows.get(rel, ())
        if len(rows0) == len(rows1) and set(rows0) == set(rows1):
            continue
        # (the session policies requests gave, kept with the world's facts: diff's requests carry none)
        delta = {row for row in set(rows0) ^ set(rows1) if not str(row[0]).startswith(REQUEST_POLICY)}
        if not delta:
            continue
        if cognito and rel in _COGNITO_READS:
            sessions = True  # (and what the fact is otherwise, below)
        if rel in _COGNITO_FACTS:
            sessions = True
        elif rel in _OF_STATEMENT:
            changed.update(row[_OF_STATEMENT[rel]] for row in delta)
        elif rel == "condition_value":
            conditions.update(row[0] for row in delta)
        elif rel in ("policy", "policy_version"):
            if rel == "policy" and any(row[1] == "session" for row in delta):
                if {row[0] for row in delta if row[1] == "session"} - guests:
                    return "a session policy"
                sessions = True  # (the session policy of Amazon Cognito's guests)
            policies.update(row[0] for row in delta)
        elif rel in _TREE:
            tree = True
        elif rel == "account":
            declared.update(acct for acct, _ in delta)
        elif rel in _OF_IDENTITY_CENTER:
            orgs = {row[_OF_IDENTITY_CENTER[rel]] for row in delta}
            roles = {role for ev in (ev0, ev1) for role, org, *_ in ev.index.rows.get("sso_role", ()) if org in orgs}
            callers |= roles
            targets |= roles
        elif rel in ("rcp_service", "rcp_ineffective_action"):
            rcp.update(row[0] for row in delta)
        elif rel in _OF_POLICY:
            held.update(row[_OF_POLICY[rel]] for row in delta)
        elif rel in _OF_CALLER:
            callers.update(row[_OF_CALLER[rel]] for row in delta)
        elif rel in _OF_TARGET:
            targets.update(row[_OF_TARGET[rel]] for row in delta)
        elif rel in _OF_PRINCIPAL:
            callers.update(row[_OF_PRINCIPAL[rel]] for row in delta)
            targets.update(row[_OF_PRINCIPAL[rel]] for row in delta)
        elif rel == "group_member":
            members.update(delta)
        elif rel in ("principal_tag", "resource_tag"):
            tags.update((holder, key.lower()) for holder, key, _ in delta)
        elif rel == "bucket_abac":  # S3 reads the bucket's tags, or not
            tags.update((bucket, key.lower()) for (bucket,) in delta for ev in (ev0, ev1)
                        for key, _ in ev.index.resource_tags.get(bucket, ()))
        else:
            return rel
    facts = [ev.index.rows for ev in (ev0, ev1)]
    for rows in facts:
        if {h for h, pol in rows.get("resource_policy", ()) if pol in held | policies} & {
                k for k, *_ in rows.get("aws_managed_key", ())}:
            return "an AWS managed key's policy"  # whether its requests are RCPs' (rules/10-organizations.dl)
        changed.update(stmt for cid, stmt, *_ in rows.get("statement_condition", ()) if cid in conditions)
    if conditions - {cid for rows in facts for cid, *_ in rows.get("statement_condition", ())}:
        return "condition_value"  # a condition of no statement
    # the statements a request may see differently: those that differ, and those of the policies whose
    # kind, version or holders differ (an RCP attached to one more level, say)
    touched = changed | {stmt for rows in facts for stmt, pol, *_ in rows.get("statement", ())
                         if pol in policies or pol in held}
    matchers = [_matcher(_patterns((w,), touched)) for w in (before, after)]
    for rows, matches in zip(facts, matchers):
        roles_of: dict[str, set[str]] = defaultdict(set)  # a trust policy -> the roles that hold it
        for role, pol in rows.get("role_trust_policy", ()):
            roles_of[pol].add(role)
        lets_in_cognito = {stmt for stmt, *kind in rows.get("statement_principal", ()) if tuple(kind) == _COGNITO_TRUST}
        for stmt, pol, *_ in rows.get("statement", ()):
            if stmt not in touched:
                continue
            if cognito and (matches(stmt, "sts:AssumeRoleWithWebIdentity")  # (an RCP's, say)
                            or (pol in roles_of and stmt in lets_in_cognito)):
                sessions = True  # (whether Amazon Cognito may create them)
            if pol in roles_of and (stmt in lets_in_cognito or any(matches(stmt, a) for a in _SESSION_ACTIONS)):
                callers |= roles_of[pol]  # a trust statement every request of the role's sessions reads
    views = [_organization(rows) for rows in facts]
    accounts = {acct for acct in {*views[0].paths, *views[1].paths}
                if views[0].path(acct) != views[1].path(acct) or views[0].levels(acct) != views[1].levels(acct)
                or any(views[0].attached[kind].get(node) != views[1].attached[kind].get(node) for kind in ("scp", "rcp")
                       for node in {*views[0].levels(acct), *views[1].levels(acct)})}
    if cognito and accounts:  # (whether Amazon Cognito may assume a role reads its account's RCPs and path)
        sessions = True
    if sessions:
        callers |= _cognito_sessions((ev0, ev1))
    return _Changes(frozenset(changed), frozenset(policies), frozenset(held), frozenset(callers), frozenset(targets),
                    frozenset(members), frozenset(tags), tree, frozenset(accounts), frozenset(declared), frozenset(rcp),
                    frozenset(guests))


def _cognito_sessions(evaluators) -> set[str]:
    """The identities of Amazon Cognito's sessions in either world: the roles its sessions are of
    (a request's identity is its role; ``rules/16-cognito.dl`` cognito_role, the evaluator's
    ``cognito_roles``), and the identities of its pools (a principal that does not resolve to a
    session in either world stands as itself)."""
    return {p for ev in evaluators for p in (*ev.index.cognito_roles, *ev.index.cognito_identities)}


@dataclass(frozen=True)
class _Organization:
    """One world's organizations, as ``rules/10-organizations.dl`` reads them."""

    paths: dict[str, tuple[str, ...]]  # an account in an organization -> the organization, the account, the nodes above
    members: frozenset[str]  # the member accounts (not an organization's management account): SCPs and RCPs apply
    attached: dict[str, dict[str, frozenset[str]]]  # "scp" | "rcp" -> a level -> the policies attached there

    def path(self, acct: str) -> tuple[str, ...] | None:
        """The organization and the levels of an account (aws:PrincipalOrgPaths, aws:ResourceOrgPaths)."""
        return self.paths.get(acct)

    def levels(self, acct: str) -> tuple[str, ...]:
        """The levels whose SCPs and RCPs a member account's requests pass (org_level): none for another."""
        return self.paths[acct][1:] if acct in self.members else ()


def _organization(rows: Mapping[str, Sequence[tuple]]) -> _Organization:
    parent = dict(rows.get("account_parent", ()))
    parent.update(rows.get("ou_parent", ()))
    paths: dict[str, tuple[str, ...]] = {}
    for acct, org in rows.get("account_org", ()):
        chain, node = [acct], parent.get(acct)
        while node is not None and len(chain) <= len(parent):  # (a cycle: the world's checks refuse it, E358)
            chain.append(node)
            node = parent.get(node)
        paths[acct] = (org, *chain)
    management = dict(rows.get("organization", ()))
    members = frozenset(acct for acct, (org, *_) in paths.items() if org in management and acct != management[org])
    attached: dict[str, dict[str, frozenset[str]]] = {}
    for kind in ("scp", "rcp"):
        at: dict[str, set[str]] = defaultdict(set)
        for node, pol in rows.get(f"{kind}_attached", ()):
            at[node].add(pol)
        attached[kind] = {node: frozenset(pols) for node, pols in at.items()}
    return _Organization(paths, members, attached)


def changed_statements(before, after) -> frozenset[str] | None:
    """The statements whose facts differ between two worlds, and those of the policies whose kind,
    version or holders differ (which users, roles, groups, OUs, accounts and resources hold them; a
    role's trust policy among them), when nothing else differs; None when the worlds differ in
    anything else: a principal, a tag, a group's members, the organization's tree, a permissions
    boundary attached, a trust statement that every request of a role's sessions reads (one that names
    Amazon Cognito, or matches ``sts:TagSession`` or ``sts:AssumeRoleWithWebIdentity``), a
    statement on the sessions Amazon Cognito creates, an AWS managed key's policy, a session policy.
    (:func:`diff` narrows some of these too: the requests a principal makes, those on a resource.)

    A statement takes part in a request only when its Action or NotAction matches the request's
    action (``rules/30-statements.dl``), through a source that holds its policy
    (``rules/20-policies.dl``); the rules read a policy through its statements, and the evaluator
    reads statements apart from the rules only for the sessions of a role (the exceptions above).
    So when the worlds differ only in these statements, a request that none of them can take part
    in, in either world, is decided alike in both: :func:`diff` asks only the others.
    """
    found = _changes(before, after)
    if isinstance(found, str) or found.callers or found.targets or found.members or found.tags or found.tree \
            or found.declared or found.rcp:
        return None
    pols = found.policies | found.held
    return found.statements | {stmt for w in (before, after) for stmt, pol, *_ in _facts(w, "statement") if pol in pols}


@dataclass(frozen=True)
class _Region:
    """Requests a changed statement can take part in: its actions, and the principals (or the
    resources) of the sources that hold its policy; None for all of them."""

    actions: frozenset[str]
    principals: frozenset[str] | None
    resources: frozenset[str] | None


def _regions(before, after, found: _Changes, principals: Sequence[str], actions: Sequence[str],
             resources: Sequence[str]) -> list[_Region]:
    """For each changed statement, the requests of the scope it can take part in, in either world:
    a request takes a policy's statements only through a source that holds the policy
    (``rules/20-policies.dl``): the principal's identity or its groups (identity policies,
    permissions boundary), an organization level of the principal's account (SCPs), the resource's
    policy holder (resource and trust policies) or a level of its account (RCPs). For a statement
    that is the same in both worlds, of a policy whose kind and version are too, only the holders
    that differ. A policy that some other fact names (Amazon Cognito's guest policy, say) can take
    part in any request. Each statement also by its resource: the resources its Resource or
    NotResource matches. Then the requests of the principals whose identity is one of
    ``found.callers`` (or given by the name of one: which principal a name is can change with the
    principals), and those on ``found.targets`` (an S3 bucket's objects too), whatever their
    action; the requests of a user in ``found.members`` that its group's statements can take part
    in; and for a tag in ``found.tags``, the requests its principal makes, or on its resource, that
    a statement reading the tag's key can take part in."""
    worlds = (before, after)
    rows = [_evaluator(w).index.rows for w in worlds]
    reading = {key: _statements_reading(worlds, f"tag/{key}") for key in {key for _, key in found.tags}}
    views = [_organization(r) for r in rows]
    moved = sorted(a for a in found.accounts if views[0].path(a) != views[1].path(a))  # whose path differs
    path_readers = {side: set().union(*(_statements_reading(worlds, f"{side}org{key}") for key in ("paths", "id")))
                    for side in ("principal", "resource")} if moved else {}
    readers = set().union(*reading.values(), *path_readers.values())
    policy_of: dict[str, set[str]] = defaultdict(set)  # the changed statements, and those reading a tag
    for r in rows:
        for stmt, pol, *_ in r.get("statement", ()):
            if stmt in found.statements or pol in found.policies or pol in found.held or stmt in readers:
                policy_of[stmt].add(pol)
    wanted = {pol for pols in policy_of.values() for pol in pols}
    named_elsewhere = {value for r in rows for rel, facts in r.items()
                       if rel not in _OF_POLICY and rel not in _PRINCIPAL_SOURCES and rel not in _RESOURCE_SOURCES
                       and rel not in _OF_STATEMENT and rel not in _UNREAD and rel not in _FOLLOWS_STATEMENTS
                       and rel not in ("condition_value", "cognito_guest_policy")
                       for row in facts for value in row if value in wanted}
    # each policy's holders in each world, by source
    holders = [{pol: defaultdict(set) for pol in wanted} for _ in worlds]
    for by, r in zip(holders, rows):
        for rel in (*_PRINCIPAL_SOURCES, *_RESOURCE_SOURCES):
            for holder, pol in r.get(rel, ()):
                if pol in by:
                    by[pol][rel].add(holder)
    members: dict[str, set[str]] = defaultdict(set)  # a group -> its members
    parents: dict[str, set[str]] = defaultdict(set)  # an account or OU -> the node above it
    for r in rows:
        for user, group in r.get("group_member", ()):
            members[group].add(user)
        for child, parent in (*r.get("account_parent", ()), *r.get("ou_parent", ())):
            parents[child].add(parent)

    def levels(acct: str | None) -> set[str]:  # the account and every node above it
        out, todo = set(), [acct] if acct else []
        while todo:
            node = todo.pop()
            if node not in out:
                out.add(node)
                todo.extend(parents.get(node, ()))
        return out

    placed: dict[str, tuple[str | None, str | None]] = {}  # principal -> (identity, account)
    for p in principals:
        placed[p] = (p, _account_of(p))
        for w in worlds:
            try:
                req = _evaluator(w).resolve(p, "sts:GetCallerIdentity", "*")
            except InvalidInput:
                continue
            placed[p] = (req.identity, req.account)
            break
    cognito = _cognito_sessions(_evaluator(w) for w in worlds) if found.guests & wanted else set()
    # resource -> its account (None: the principal's, so any); the first world's that declares it
    # (a resource whose owner differs is a change of its own: found.targets)
    owners: dict[str, str | None] = {}
    for res in resources:
        owner = None
        for w in worlds:  # (an S3 object: its bucket's, as Evaluator._resource_part takes it)
            ev = _evaluator(w)
            owner = owner or ev.index.resources.get(ev._holder(res))
        if owner is None:
            parts = res.split(":", 5)
            owner = parts[4] if len(parts) == 6 and _ACCOUNT.fullmatch(parts[4]) else None
        owners[res] = owner
    # the statements whose requests are looked for: the changed ones, those of the policies of the
    # groups whose members differ, and those that read a tag that differs
    group_pols: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        for group, pol in r.get("group_policy", ()):
            group_pols[group].add(pol)
    of_group = {user_group: {stmt for r in rows for stmt, pol, *_ in r.get("statement", ())
                             if pol in group_pols[user_group[1]]} for user_group in found.members}
    # the organization levels of an account, for its SCPs (its principals' requests) and RCPs (requests
    # on its resources): no statement of a policy at a level denies, and at every level a policy has a
    # statement that allows (rules/10-organizations.dl). Where the policies at its levels differ,
    # those that deny in one world only; and the levels (as the set of policies attached there: two
    # levels alike allow alike) of one world only, but not one whose policies are a superset of
    # another level's of its world (that one implies it), each where no statement that allows
    # whatever the request can allow.
    apart: list[tuple[str, str, set[str], list[tuple[int, list[str]]]]] = []  # (account, kind, denying, levels)
    if found.accounts:
        sure = [_allowing_any(r) for r in rows]
        statements_of: list[dict[str, list[tuple[str, str]]]] = [defaultdict(list) for _ in worlds]
        for w, r in enumerate(rows):
            for stmt, pol, _, effect in r.get("statement", ()):
                statements_of[w][pol].append((stmt, effect))
    for acct in sorted(found.accounts):
        for kind in ("scp", "rcp"):
            at = [{view.attached[kind].get(node, frozenset()) for node in view.levels(acct)} for view in views]
            held_at = [frozenset().union(*sets) for sets in at]
            denying = {stmt for w in (0, 1) for pol in held_at[w] - held_at[1 - w]
                       for stmt, effect in statements_of[w][pol] if effect == "Deny"}
            alone = [(w, [stmt for pol in sorted(q) for stmt, _ in statements_of[w][pol] if stmt in sure[w]])
                     for w in (0, 1) for q in _fewest(at[w]) - _fewest(at[1 - w])]
            if denying or alone:
                apart.append((acct, kind, denying, alone))
    looked = set(policy_of).union(*of_group.values(), *(denying for _, _, denying, _ in apart),
                                  *(stmts for *_, alone in apart for _, stmts in alone))
    matchers = [_matcher(_patterns((w,), looked)) for w in worlds]
    scope = frozenset(resources)
    in_world = [{stmt for stmt, *_ in r.get("statement", ()) if stmt in looked} for r in rows]
    listed = [_resource_patterns(r, looked) for r in rows]
    covered: dict[str, frozenset[str]] = {}  # a Resource pattern -> the resources of the scope it matches

    def matched(pattern: str) -> frozenset[str]:
        if pattern not in covered:
            covered[pattern] = frozenset(r for r in resources if resource_match(pattern, r, escaped=True))
        return covered[pattern]

    def reach(stmt: str) -> tuple[frozenset[str], frozenset[str]]:
        """The actions and the resources of the scope a statement can take part in, in either world:
        its Action or NotAction matches the action, its Resource or NotResource the resource
        (rules/30-statements.dl); a pattern with a policy variable may match any resource."""
        acts = frozenset(a for a in actions if any(m(stmt, a) for m in matchers))
        found_res: set[str] = set()
        for w, (res, not_res) in enumerate(listed):
            if stmt not in in_world[w] or not acts:
                continue
            if stmt not in res and stmt not in not_res:  # no Resource element (a trust policy): any
                return acts, scope
            for pattern in res.get(stmt, ()):
                found_res |= scope if not plain_pattern(pattern) else matched(pattern)
            if stmt in not_res:
                found_res |= scope.difference(*(matched(pattern) for pattern in not_res[stmt] if plain_pattern(pattern)))
        return acts, frozenset(found_res)

    def taking_part(stmt: str, changed: bool) -> list[_Region]:
        """The requests ``stmt`` can take part in through the sources that hold its policies, in
        either world (``changed`` False: only those that hold a policy in one world only)."""
        acts, reached = reach(stmt)
        if not acts or not reached:
            return []
        out: list[_Region] = []
        for pol in sorted(policy_of[stmt]):
            if pol in named_elsewhere:
                out.append(_Region(acts, None, None))
                continue
            if pol in found.guests:  # the session policy of Amazon Cognito's guests: the requests of its sessions
                out.append(_Region(acts, frozenset(p for p in principals if placed[p][0] in cognito), reached))
            held: dict[str, set[str]] = defaultdict(set)
            for rel in (*_PRINCIPAL_SOURCES, *_RESOURCE_SOURCES):
                h0, h1 = holders[0][pol][rel], holders[1][pol][rel]
                # the same statement of the same policy: only where it is held in one world
                held[rel] = h0 | h1 if changed or pol in found.policies else h0 ^ h1
            identities = held["identity_policy"] | held["permissions_boundary"] | {
                m for g in held["group_policy"] for m in members.get(g, ())}
            # (a level that holds the same statement in one world only: the accounts' levels, below)
            nodes = held["scp_attached"] if changed or pol in found.policies else set()
            if identities or nodes:
                out.append(_Region(acts, frozenset(p for p in principals if placed[p][0] in identities
                                                   or nodes & levels(placed[p][1])), reached))
            policy_holders = held["resource_policy"] | held["role_trust_policy"]
            nodes = held["rcp_attached"] if changed or pol in found.policies else set()
            if policy_holders or nodes:
                out.append(_Region(acts, None, frozenset(
                    r for r in reached if r in policy_holders
                    or any(h.startswith("arn:aws:s3:::") and r.startswith(h + "/") for h in policy_holders)
                    or (nodes and (owners[r] is None or nodes & levels(owners[r]))))))
        return out

    out: list[_Region] = []
    for stmt in sorted(policy_of):
        if stmt in found.statements or any(pol in found.policies or pol in found.held for pol in policy_of[stmt]):
            out += taking_part(stmt, stmt in found.statements)

    def making(identities: Container[str]) -> frozenset[str]:  # the principals of the scope that are one
        return frozenset(p for p in principals if placed[p][0] in identities)

    def on(holders: Container[str]) -> frozenset[str]:  # the resources of the scope that are one (or in one)
        return frozenset(r for r in resources if r in holders
                         or (r.startswith("arn:aws:s3:::") and r.split("/", 1)[0] in holders))

    def owned(acct: str) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
        """The principals of the scope in an account, the resources it owns, and those with no owner
        (a request takes one to be its principal's account's)."""
        return (frozenset(p for p in principals if placed[p][1] == acct),
                frozenset(r for r in resources if owners[r] == acct),
                frozenset(r for r in resources if owners[r] is None))

    for acct, kind, denying, alone in apart:
        who, where, unowned = owned(acct)
        pairs = [(who, None)] if kind == "scp" else [(None, where), (who, unowned)]
        for stmt in sorted(denying):
            acts, reached = reach(stmt)
            out += [_Region(acts, p, reached if r is None else reached & r) for p, r in pairs if acts]
        for w, stmts in alone:  # where none of the level's statements that allow whatever the request can allow
            unsure = frozenset(a for a in actions if not any(matchers[w](stmt, a) for stmt in stmts))
            out += [_Region(unsure, p, r) for p, r in pairs if unsure]
    # an account's path (aws:PrincipalOrgPaths, aws:ResourceOrgPaths, their organization's id): the
    # requests of its principals, or on its resources, that a statement reading it can take part in
    for acct in moved:
        who, where, unowned = owned(acct)
        for side, stmts in path_readers.items():
            for stmt in sorted(stmts):
                for g in taking_part(stmt, True):
                    mine = who if g.principals is None else g.principals & who
                    if side == "principal":
                        out.append(_Region(g.actions, mine, g.resources))
                    else:
                        out.append(_Region(g.actions, g.principals, where if g.resources is None else g.resources & where))
                        out.append(_Region(g.actions, mine, unowned if g.resources is None else g.resources & unowned))
    every = frozenset(actions)
    # an account declared in one world only: whether a principal or a resource is of the world's own
    # accounts (Evaluator._absent, _unknown_principal), for every request of its principals or on its
    # resources (those with no owner are its principals' own)
    for acct in sorted(found.declared):
        who, where, _ = owned(acct)
        out += [_Region(every, who, None), _Region(every, None, where)]
    if found.callers:
        # (a principal given by the name of one: which principal a name is can change with the principals)
        names = {idx.names[p][0] for idx in (_evaluator(w).index for w in worlds) for p in found.callers
                 if p in idx.names}
        out.append(_Region(every, making(found.callers) | frozenset(p for p in principals if p in names), None))
    if found.targets:
        out.append(_Region(every, None, on(found.targets)))
    if found.rcp:  # whether RCPs restrict an action (rules/10-organizations.dl rcp_action)
        acts = frozenset(a for a in actions if a.lower() in found.rcp or a.split(":", 1)[0].lower() in found.rcp)
        if acts:
            out.append(_Region(acts, None, None))
    # a user in a group in one world only: the requests it makes that the group's statements can take part in
    for (user, _), stmts in sorted(of_group.items()):
        who = making({user})
        for stmt in sorted(stmts):
            acts, reached = reach(stmt)
            if acts and reached and who:
                out.append(_Region(acts, who, reached))
    # a tag that differs: the requests its principal makes, or on its resource (or principal), that a
    # statement reading the tag's key (in a condition, in a policy variable) can take part in
    for holder, key in sorted(found.tags):
        who, where = making({holder}), on({holder})
        for stmt in sorted(reading[key]):
            for g in taking_part(stmt, True):
                mine = who if g.principals is None else g.principals & who
                if mine:
                    out.append(_Region(g.actions, mine, g.resources))
                there = where if g.resources is None else g.resources & where
                if there:
                    out.append(_Region(g.actions, g.principals, there))
    return out


def _fewest(levels: set[frozenset[str]]) -> set[frozenset[str]]:
    """The levels (each as the policies attached there) that no other level implies: a level allows
    whatever a level with fewer of its policies allows."""
    return {q for q in levels if not any(other < q for other in levels)}


def _allowing_any(rows: Mapping[str, list[tuple]]) -> set[str]:
    """The statements of one world's facts that allow every request their Action or NotAction
    matches, whatever its resource, principal and context (``rules/30-statements.dl``): Allow, with
    Resource ``*``, no NotResource, no Condition, no NotPrincipal, and no Principal or one that names
    everyone (``AWS: *``)."""
    star = {stmt for stmt, pattern in rows.get("statement_resource", ()) if pattern == "*"}
    naming: dict[str, set[tuple]] = defaultdict(set)
    for stmt, *entry in rows.get("statement_principal", ()):
        naming[stmt].add(tuple(entry))
    excluded = ({stmt for stmt, *_ in rows.get("statement_not_resource", ())}
                | {stmt for stmt, *_ in rows.get("statement_not_principal", ())}
                | {stmt for _, stmt, *_ in rows.get("statement_condition", ())})
    return {stmt for stmt, _, _, effect in rows.get("statement", ()) if effect == "Allow" and stmt in star
            and stmt not in excluded and (stmt not in naming or ("AWS", "*") in naming[stmt])}


def _resource_patterns(rows: Mapping[str, list[tuple]], statements: Container[str]
                       ) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """The Resource and the NotResource patterns of ``statements``, in one world's facts."""
    out: tuple[dict[str, list[str]], dict[str, list[str]]] = (defaultdict(list), defaultdict(list))
    for by, rel in zip(out, ("statement_resource", "statement_not_resource")):
        for stmt, pattern in rows.get(rel, ()):
            if stmt in statements:
                by[stmt].append(pattern)
    return out


def _statements_reading(worlds: Sequence[Any], suffix: str) -> set[str]:
    """The statements of the worlds that read a key whose lower-case name ends with ``suffix``: in a
    condition, or through a policy variable in any element (as :func:`_keys_read` finds them)."""
    out: set[str] = set()
    for world in worlds:
        of_condition = {}
        for cid, stmt, _op, key in _facts(world, "statement_condition"):
            of_condition[cid] = stmt
            if key.lower().endswith(suffix):
                out.add(stmt)
        texts = [(of_condition.get(cid), v) for cid, v in _facts(world, "condition_value")]
        for rel in ("statement_resource", "statement_not_resource", "statement_principal",
                    "statement_not_principal"):
            texts += [(row[0], row[-1]) for row in _facts(world, rel)]
        out.update(stmt for stmt, text in texts if isinstance(text, str) and "${" in text
                   and any(m.group(1).strip().lower().endswith(suffix) for m in _VARIABLE.finditer(text)))
    return out


def _patterns(worlds: Iterable[Any], statements: Container[str] | None = None
              ) -> dict[tuple[str, bool], tuple[str, ...]]:
    """(statement, NotAction or not) -> its Action (NotAction) patterns, in the worlds (give one
    world: a NotAction statement matches what none of its own world's patterns match)."""
    by: dict[tuple[str, bool], set[str]] = defaultdict(set)
    for world in worlds:
        for rel, negated in (("statement_action", False), ("statement_not_action", True)):
            for stmt, pattern in _facts(world, rel):
                if statements is None or stmt in statements:
                    by[stmt, negated].add(pattern)
    return {k: tuple(sorted(v)) for k, v in by.items()}


def _matcher(patterns: Mapping[tuple[str, bool], tuple[str, ...]]):
    """A test of whether a statement matches an action by its Action or NotAction patterns (as
    ``rules/30-statements.dl`` matches them), from :func:`_patterns` of one world."""
    def matches(stmt: str, action: str) -> bool:
        listed = patterns.get((stmt, False), ())
        excluded = patterns.get((stmt, True))
        return (any(wildcard_match(p, action, ignore_case=True) for p in listed)
                or (excluded is not None and not any(wildcard_match(p, action, ignore_case=True) for p in excluded)))
    return matches


def _region_rows(regions: Sequence[_Region], principals: Sequence[str], actions: Sequence[str],
                 resources: Sequence[str]) -> Iterator[tuple[str, str, Sequence[str]]]:
    """Each (principal, action) of the scope that some region holds, with the resources of the
    scope it holds them on (in the scope's order)."""
    merged: dict[tuple, set[str]] = defaultdict(set)  # (principals, resources) -> the actions of its regions
    for g in regions:
        merged[g.principals, g.resources] |= g.actions
    groups = [_Region(frozenset(acts), who, where) for (who, where), acts in merged.items()]
    held: dict[tuple[int, ...], list[str]] = {}  # the regions of a row -> the resources they hold
    for p in principals:
        mine = [g for g in groups if g.principals is None or p in g.principals]
        if not mine:
            continue
        for a in actions:
            here = [g for g in mine if a in g.actions]
            if any(g.resources is None for g in here):
                yield p, a, resources
            elif here:
                key = tuple(map(id, here))
                found = held.get(key)
                if found is None:
                    if len(held) >= 1024:
                        held.clear()
                    some = frozenset().union(*(g.resources for g in here))
                    found = held[key] = [r for r in resources if r in some]
                if found:
                    yield p, a, found


def _matching_statements(worlds: Sequence[Any], actions: Sequence[str]) -> set[str]:
    """The statements of the worlds whose Action or NotAction, in their own world, matches one of
    ``actions``."""
    covers: dict[str, bool] = {}  # a pattern -> whether it matches one of the actions

    def some(pattern: str) -> bool:
        if pattern not in covers:
            covers[pattern] = any(wildcard_match(pattern, a, ignore_case=True) for a in actions)
        return covers[pattern]

    out: set[str] = set()
    for world in worlds:
        for (stmt, negated), patterns in _patterns((world,)).items():
            if negated:  # it matches an action none of its patterns matches
                if any(not any(wildcard_match(p, a, ignore_case=True) for p in patterns) for a in actions):
                    out.add(stmt)
            elif any(some(p) for p in patterns):
                out.add(stmt)
    return out


@dataclass(frozen=True)
class Change:
    """One request whose decision differs between two worlds.

    ``before``/``after`` are ``Allow``, ``ExplicitDeny``, ``ImplicitDeny``, or None when the
    principal does not exist in that world.
    """

    principal: str
    action: str
    resource: str
    before: str | None
    after: str | None
    decision_before: Decision | None = field(default=None, compare=False, repr=False)
    decision_after: Decision | None = field(default=None, compare=False, repr=False)
    context: tuple[tuple[str, Any], ...] = ()  # the condition keys asked with, beyond the one given to diff

    @property
    def grants(self) -> bool:
        """New access: allowed after, not before."""
        return self.after == ALLOW and self.before != ALLOW

    @property
    def revokes(self) -> bool:
        """Access lost: allowed before, not after."""
        return self.before == ALLOW and self.after != ALLOW

    @property
    def kind(self) -> str:
        return "new access" if self.grants else "access removed" if self.revokes else "denial changed"

    def to_json(self) -> dict:
        out = {"kind": self.kind, "principal": self.principal, "action": self.action, "resource": self.resource,
               "before": self.before, "after": self.after}
        if self.context:
            out["context"] = dict(self.context)
        behind = self.behind()
        if behind:
            out["statements"] = [s.to_json() for d in behind for s in d.statements]
        return out

    def behind(self) -> list[Decision]:
        """The decisions whose statements make the change: each world's where it allows or denies
        explicitly (an implicit deny has no statement), the old world's first. Access removed by a
        Deny gives both the statement that allowed and the one that now denies."""
        return [d for v, d in ((self.before, self.decision_before), (self.after, self.decision_after))
                if d is not None and v in (ALLOW, EXPLICIT_DENY)]


_KIND_ORDER = {"access removed": 0, "denial changed": 1, "new access": 2}


def diff(world_before, world_after, principals: Iterable[str] | None = None, actions: Iterable[str] | None = None,
         resources: Iterable[str] | None = None, context: Mapping[str, Any] | None = None, *,
         undetermined: list[Undetermined] | None = None, notes: list[str] | None = None,
         jobs: int = 1) -> list[Change]:
    """Every (principal, action, resource) whose decision changes from one world to the other,
    sorted by principal, action and resource: :func:`iter_diff`'s changes, kept. (A change that
    reaches millions of requests is millions of changes, about 1.4 KB each with its decisions:
    :func:`iter_diff` gives them a block at a time.)"""
    with collector_paused():  # (the changes kept are many objects, for the collector to walk again and again)
        found = list(iter_diff(world_before, world_after, principals, actions, resources, context,
                               undetermined=undetermined, notes=notes, jobs=jobs))
    return sorted(found, key=lambda c: (c.principal, c.action, c.resource, _KIND_ORDER[c.kind]))


def iter_diff(world_before, world_after, principals: Iterable[str] | None = None,
              actions: Iterable[str] | None = None, resources: Iterable[str] | None = None,
              context: Mapping[str, Any] | None = None, *, undetermined: list[Undetermined] | None = None,
              notes: list[str] | None = None,
              explain: Callable[[str, str, str | None, str | None], bool] | None = None,
              per_block: Callable[[list[Change]], Iterable[Any]] | None = None,
              progress: Callable[[int, int], None] | None = None, jobs: int = 1) -> Iterator[Any]:
    """Every (principal, action, resource) whose decision changes from one world to the other, as
    they are found: in the scope's order (its principals, then actions, then resources, each in
    the order the scope lists them), a block of requests at a time, so that memory does not grow
    with the number of changes. ``notes`` and ``undetermined`` are filled as the changes are given
    (``notes`` once the last is).

    Both directions are reported (:attr:`Change.grants`, :attr:`Change.revokes`), and a change
    between the two kinds of denial too; for a principal of one world only, what it is allowed.
    The offline counterpart of IAM Access Analyzer's CheckNoNewAccess:
    ``any(c.grants for c in diff(old, new))``.

    Default scope (each part can be given instead):

    - principals: :func:`world_principals` and :func:`named_principals` of both worlds; a principal
      of an account outside a world is asked as holding every identity permission there, and so is
      the user :data:`ANYONE_USER` of that account (its root user cannot assume a role); when an
      Allow of a resource, trust or key policy of either world names ``*``, the root user and the user
      :data:`ANYONE_USER` of one account that neither world names too (they stand for any account
      outside the worlds);
    - actions: :func:`policy_actions` of both worlds (patterns expanded against the catalog, only
      catalog actions), plus one representative action of an unnamed service when a pattern with a
      wildcard service part (``*``) was not expanded or a statement has NotAction, and for a
      NotAction statement the actions of :func:`not_action_actions`;
    - resources: :func:`sample_resources` of both worlds (``*``, declared resources, roles, the
      ARNs that Resource and NotResource elements write);
    - contexts: :func:`sample_contexts` of both worlds (``context``, then values of the condition
      keys their policies test, one key at a time, then all at once). A request is reported once
      for each kind of change (new access, removed access, a change between denials), with the
      first context under which its decision changes that way (:attr:`Change.context`): a request
      allowed under one context and no longer allowed under another is reported both as new and
      as removed access. A change
      that needs two keys at values other than their pools' values of the same rank is not found:
      ``iamlogic verify`` searches more widely;

    Only the requests whose decision can change are asked. When the worlds differ only in
    statements, or in which sources hold a policy (:func:`changed_statements`), those are the
    requests a changed statement can take part in, in either world: its action matches the
    statement's Action or NotAction, and its principal (identity policies, boundaries, SCPs) or
    its resource (resource and trust policies, RCPs) is one the statement's policy reaches; they
    are asked under the values of the keys that the statements matching their actions read. When
    they differ in a principal (its tags, groups, permissions boundary, trust policy, name, id, or
    the principal itself, added or removed) or in a resource (its tags, owner, S3 ABAC, whether the
    world declares it), the requests that principal makes, and those on it, are asked too, every
    action of the scope; for an account declared in one world only, the requests of its principals
    and on its resources; for IAM Identity Center (assignments, members, attributes), those of the
    sessions of the roles it provisions and on those roles; for Amazon Cognito (its identity pools,
    their rules, identities and claims, the users of user pools, the guests' session policy, and,
    where the worlds have identity pools, any role, trust statement or tag it reads to give an
    identity its role, or an account's levels), every request of its sessions too (the roles it
    gives and those whose trust policy admits its tokens, and the pools' identities); for the
    services RCPs restrict (``aws rcp_services``), the requests of those services' actions. When the
    organization's tree differs (an account or an OU moved, an account joining or leaving, another
    management account) or the SCPs and RCPs attached to its levels, the
    requests of an account's principals (SCPs) or on its resources (RCPs) whose levels differ, that
    a Deny statement of a policy at its levels in one world only can take part in, or that a level
    of one world only (as the set of policies attached there) may not allow: those that no
    statement there allowing any request its Action matches (``FullAWSAccess``) allows; and those a
    statement reading the account's path or organization (``aws:PrincipalOrgPaths``,
    ``aws:ResourceOrgPaths``, ``aws:PrincipalOrgID``, ``aws:ResourceOrgID``) can take part in.
    Facts no decision reads (billing, trails, tag policies, the routes of APIs and load balancers)
    change no request, nor do the session policies that requests gave a world (the evaluator keeps
    them with its facts; diff's requests carry none). For anything else (a condition of no
    statement, an AWS managed key's policy) every request of the scope is asked. And whatever the
    worlds differ in, a request is asked under another context only when that context gives a key
    its decisions under the first one read (the conditions of the statements it reached; every key
    when one of those has policy variables). ``notes``, a list, gets a line saying how many
    requests were asked.

    ``undetermined``: as in :func:`who_can`; a request undetermined in either world is not a change.

    ``explain(principal, action, before, after)``: whether a change needs its decisions
    (:attr:`Change.decision_before`, :attr:`Change.decision_after`, the statements behind them);
    the changes it answers False for have none (None for both). Default: every change has them.

    ``per_block(changes)``: what the caller makes of each block's changes (in order, with their
    decisions): their text, say, or a count of them by principal and action. It is called where
    they are decided, and iter_diff gives what it returns instead of the changes. With ``jobs``,
    the decisions stay in the process that made them, and only what ``per_block`` returned
    crosses over.

    A change's decisions come with their statements, missing keys and warnings, from the verdicts
    compared; their layers and proof are derived when asked for (the request decided again).

    ``progress(asked, total)``: called as each block of requests is taken to be asked, with the
    requests taken so far and the number that will be asked (under the first context).

    ``jobs``: the processes to decide in (forked, for a scope of more than one block); the layers
    and proof of a decision made in another process are derived in this one.
    """
    scope_principals = principals is None
    if principals is None:
        ps: dict[str, None] = {}
        for w in (world_before, world_after):
            for p in world_principals(w) + named_principals(w):
                ps.setdefault(p)
        principals = list(ps)
    else:
        principals = list(principals)
    if resources is None:
        res: dict[str, None] = {}
        for w in (world_before, world_after):
            for r in sample_resources(w):
                res.setdefault(r)
        resources = list(res)
    else:
        resources = list(resources)
    if actions is None:
        acts: dict[str, None] = {}
        wildcard = False
        for w in (world_before, world_after):
            named, wild = policy_actions(w)
            not_action = not_action_actions(w, resources)
            wildcard |= wild or bool(not_action)
            for a in (*named, *not_action):
                acts.setdefault(a)
        if wildcard:
            extra = _representative_action(_evaluator(world_before).catalog, acts)
            if extra:
                acts.setdefault(extra)
        actions = list(acts)
    else:
        catalog = _evaluator(world_before).catalog
        spelled = []
        for a in actions:
            one_action(a)
            info = catalog.action(a)
            if info is None:  # a typo would be "no change"
                hint = catalog.suggest_action(a)
                raise InvalidInput([Diagnostic("E513", f"unknown action {a!r}: not in the AWS catalog", help=hint)])
            spelled.append(info.name)  # (as the catalog spells it, as the decisions and the default scope do)
        actions = list(dict.fromkeys(spelled))
    # The same principals are outside in both worlds' copies, so their modelling cannot differ.
    outside = {**_outsiders(world_before, principals), **_outsiders(world_after, principals)}
    declared = set(_evaluator(world_before).index.accounts) | set(_evaluator(world_after).index.accounts)
    outside = {p: a for p, a in outside.items() if a not in declared}
    if scope_principals:
        principals += _with_anyone(outside)
    extra: tuple[str, ...] = ()
    if scope_principals and (_names_everyone(world_before) or _names_everyone(world_after)):
        # a policy names '*': one account that neither world names stands for any account outside
        anyone = _outsider_account(world_before, {*outside.values(), *_evaluator(world_after).index.accounts,
                                                  *_named_accounts(world_after)})
        extra = (anyone,)
        principals += _anyone(anyone)
    differ = _changes(world_before, world_after)
    tested = None  # the statements whose conditions the contexts vary (None: every statement)
    whole = len(principals) * len(actions) * len(resources)
    if isinstance(differ, str):
        triples: Iterable[tuple[str, str, str]] = ((p, a, r) for p in principals for a in actions for r in resources)
        total = whole
        why = f"the worlds differ in {differ}: every request of the scope can change"
    else:
        regions = _regions(world_before, world_after, differ, principals, actions, resources)
        actions = [a for a in actions if any(a in g.actions for g in regions)]
        # a request's context is read only by the statements that match its action
        tested = _matching_statements((world_before, world_after), actions)
        rows = partial(_region_rows, regions, principals, actions, resources)
        triples = ((p, a, r) for p, a, found in rows() for r in found)
        total = sum(len(found) for _, _, found in rows()) if progress is not None else 0
        parts = [f"{len(differ.statements)} statement(s)"] if differ.statements else []
        parts += [f"the kind or version of {len(differ.policies)} polic(ies)"] if differ.policies else []
        parts += [f"the principals, groups, organization levels or resources that hold {len(differ.held)} "
                  "polic(ies)"] if differ.held else []
        parts += [f"{len(differ.callers)} principal(s)"] if differ.callers else []
        parts += [f"{len(differ.targets)} resource(s)"] if differ.targets else []
        parts += [f"{len(differ.members)} group membership(s)"] if differ.members else []
        parts += [f"{len(differ.tags)} tag(s)"] if differ.tags else []
        parts += [f"the organization's levels of {len(differ.accounts)} account(s) (their path or the SCPs and "
                  "RCPs attached there)"] if differ.accounts else []
        parts += [f"{len(differ.declared)} account(s)"] if differ.declared else []
        parts += [f"the services RCPs restrict ({', '.join(sorted(differ.rcp))})"] if differ.rcp else []
        reach = ["that their statements can take part in"] if differ.statements or differ.policies or differ.held else []
        reach += ["that those principals make"] if differ.callers else []
        reach += ["on those resources"] if differ.targets else []
        reach += ["that those members make and their groups' statements can take part in"] if differ.members else []
        reach += ["that a statement reading the tag can take part in, made by its principal or on its resource"
                  ] if differ.tags else []
        reach += ["that those accounts' principals make, or on their resources, that a policy at a level of one "
                  "world only or a statement reading the path can take part in"] if differ.accounts else []
        reach += ["that the principals of those accounts make, or on their resources"] if differ.declared else []
        reach += ["of those services' actions"] if differ.rcp else []
        why = (f"the worlds differ only in {' and '.join(parts)}: only the requests of the scope "
               f"{', or '.join(reach)} can change" if parts else
               "the worlds do not differ in anything a decision reads: no request can change")
    if not (principals and actions and resources):
        if notes is not None:
            notes.append(f"{why}; asked none of the {whole:,} requests of the scope")
        return
    contexts = sample_contexts((world_before, world_after), context, tested)
    unknown: list[Undetermined] | None = [] if undetermined is not None else None
    askers = (_Asker(world_before, outside, extra, undetermined=unknown),
              _Asker(world_after, outside, extra, undetermined=unknown))
    given = dict(context or {})
    fixed = {k.lower() for k in given}
    # the keys a policy variable in a Resource, NotResource, Principal or NotPrincipal element names:
    # which statements a request reaches may depend on them (see below)
    named = _keys_read((world_before, world_after), None, conditions=False)

    def decide(block: list[tuple[str, str, str]]) -> tuple[list[Change], list[Undetermined]]:
        """The changes among a block of requests, in its order; the requests not decided."""
        # (deciding leaves no cyclic garbage: see collector_paused. The collector is on again once
        # what deciding made is freed, the changes alone left for it to walk)
        with collector_paused():
            return changes_in(block)

    def changes_in(block: list[tuple[str, str, str]]) -> tuple[list[Change], list[Undetermined]]:
        lost: list[Undetermined] = []
        found: dict[tuple[str, str, str, str], Change] = {}  # (request, kind of change) -> its first change
        done: set[tuple[str, str, str]] = set()  # requests found granted and revoked: nothing more to look for
        skip: set[tuple[str, str, str]] = set()
        # the keys each request's decisions read (None: any), as an index into the sets of them
        sets: list[frozenset[str] | None] = [None]
        members: list[list[tuple[str, str, str]]] = [block]  # the requests of each set
        for n, ctx in enumerate(contexts):
            if n == 0:
                todo = block
            else:
                # A request is decided alike under a context that differs from the first only in keys its
                # decisions under the first did not read (the statements it reached, and so the keys read,
                # depend on no other key): it is not asked again.
                varied = {k.lower() for k in ctx} - fixed
                # (Amazon Cognito's keys say which identity a session is: every request of it reads them)
                every = any(k.startswith(f"{COGNITO}:") for k in varied)
                wanted = [every or keys is None or not keys.isdisjoint(varied) for keys in sets]
                todo = [t for g, ts in enumerate(members) if wanted[g] for t in ts
                        if not (done or skip) or (t not in done and t not in skip)]
                if not todo:  # no request of the block reads a key this context gives; a later one may
                    if len(done) + len(skip) >= len(block) and all(t in done or t in skip for t in block):
                        break
                    continue
            reads = [[None] * len(todo), [None] * len(todo)]
            before, after = (asker.verdicts(todo, ctx, r) for asker, r in zip(askers, reads))
            if n == 0 and _SKIP_UNREAD:
                index: dict[frozenset[str] | None, int] = {None: 0}
                by_reads: dict[tuple[int, int], int] = {}  # (the requests of a class share their keys' tuple)
                group = []
                for k0, k1 in zip(*reads):
                    g = by_reads.get((id(k0), id(k1)))
                    if g is None:
                        g = by_reads[id(k0), id(k1)] = index.setdefault(
                            None if k0 is None or k1 is None else frozenset((*k0, *k1, *named)), len(index))
                    group.append(g)
                sets = list(index)
                members = [[] for _ in sets]
                for t, g in zip(block, group):
                    members[g].append(t)
            if unknown:
                skip |= {(u.principal, u.action, u.resource) for u in unknown}
                lost += unknown
                unknown.clear()
            extra = tuple(sorted((k, v) for k, v in ctx.items() if k not in given))
            for t, f0, f1 in zip(todo, before, after):
                v0 = f0[0] if f0 is not None else None
                v1 = f1[0] if f1 is not None else None
                # a principal of one world only is a change where it is allowed; its denials are not news
                if v0 != v1 and t not in skip and (ALLOW in (v0, v1) or None not in (v0, v1)):
                    kind = "grants" if v1 == ALLOW else "revokes" if v0 == ALLOW else "denial"
                    key = (*t, kind)
                    if key in found:
                        continue
                    # its decisions, from the verdicts (their statements, missing keys, warnings)
                    d0 = d1 = None
                    if explain is None or explain(t[0], t[1], v0, v1):
                        d0 = askers[0].decision(t, f0, ctx) if f0 is not None else None
                        d1 = askers[1].decision(t, f1, ctx) if f1 is not None else None
                    found[key] = Change(*t, v0, v1, d0, d1, extra)
                    if kind != "denial" and (*t, "revokes" if kind == "grants" else "grants") in found:
                        done.add(t)
        out = [c for t in block for kind in ("revokes", "denial", "grants")  # (as _KIND_ORDER)
               if (c := found.get((*t, kind))) is not None] if found else []
        return (out if per_block is None else list(per_block(out))), lost

    drawn = [0]

    def blocks() -> Iterator[list[tuple[str, str, str]]]:
        """The scope's requests a block at a time (a request is in one block only): bounded memory."""
        requests = iter(triples)
        while True:
            with collector_paused():  # (drawing them leaves no cyclic garbage either)
                block = list(itertools.islice(requests, _DIFF_BLOCK))
            if not block:
                return
            drawn[0] += len(block)
            if progress is not None:
                progress(drawn[0], total)
            yield block

    pending = blocks()
    first = list(itertools.islice(pending, 2))  # one block is decided here: no processes to start
    pending = itertools.chain(first, pending)
    # with jobs, each block in one of that many forked processes (the worlds are theirs by
    # inheritance; the blocks and their changes are pickled), the changes still in the scope's order
    forked = jobs > 1 and len(first) > 1
    results = in_processes(run_task, pending, jobs, decide) if forked else map(decide, pending)
    with contextlib.closing(results) if forked else contextlib.nullcontext():  # (a caller that stops stops them)
        for out, lost in results:
            if undetermined is not None:
                undetermined += lost
            if forked and per_block is None:  # a decision's layers and proof, derived here when asked for
                for c in out:
                    ctx = {**given, **dict(c.context)}
                    for asker, d in zip(askers, (c.decision_before, c.decision_after)):
                        if d is not None:
                            again = _AskedAgain(asker, (c.principal, c.action, c.resource), ctx)
                            object.__setattr__(d, "_source", again)
            yield from out
    if notes is not None:
        notes.append(f"{why}; asked {drawn[0]:,} of the {whole:,} requests of the scope, each under the sample "
                     "contexts that give a key its decisions read")


def new_access(changes: Iterable[Change]) -> list[Change]:
    """The changes that grant access (allowed after, not before)."""
    return [c for c in changes if c.grants]


# ---------------------------------------------------------------------------------------------
# external access


@dataclass(frozen=True)
class ExternalAccess:
    """A principal outside a resource's account that the resource's policy lets in.

    ``scope`` is ``public`` (anonymous), ``outside organization`` (an account in no organization or
    another one, or outside the world), or ``outside account`` (another account of the same
    organization). ``target`` is the ARN asked: the resource, or an ARN its policy writes
    (``arn:aws:s3:::b/*`` for the objects of bucket ``b``).
    """

    resource: str
    target: str
    principal: str
    action: str
    scope: str
    decision: Decision = field(compare=False, repr=False)

    def to_json(self) -> dict:
        return {"resource": self.resource, "target": self.target, "principal": self.principal,
                "action": self.action, "scope": self.scope,
                "statements": [s.to_json() for s in self.decision.statements]}


def external_access(world, *, undetermined: list[Undetermined] | None = None) -> list[ExternalAccess]:
    """For each resource with a resource-based policy (and each role, by its trust policy), the
    principals outside its account, outside its organization, and anonymous that are allowed.

    Scope: the actions the resource's own policy names (its Action patterns expanded against the
    catalog; a pattern with a wildcard service part stands for the actions of the resource's own
    service, ``sts`` for a role), on the resource and on the ARNs its statements write under it.
    Principals: every principal of the world in another account, the accounts and ARNs the policies
    name from outside the world (as holding every identity permission, with the user
    :data:`ANYONE_USER` of each such account), the root user and the user
    :data:`ANYONE_USER` of one account that no policy names (they stand for any account outside the
    world, and catch ``Principal: *``), and
    ``anonymous``. ``undetermined``: as in :func:`who_can`.
    """
    ev = _evaluator(world)
    idx = ev.index
    holders: dict[str, str] = {}  # resource -> policy id
    for res, pol in sorted(_facts(world, "resource_policy")):
        holders.setdefault(res, pol)
    for role, pol in sorted(_facts(world, "role_trust_policy")):
        holders.setdefault(role, pol)
    if not holders:
        return []
    stmts_of: dict[str, list[str]] = {}
    for stmt, (pol, _i, effect) in idx.statements.items():
        if effect == "Allow":
            stmts_of.setdefault(pol, []).append(stmt)
    actions_of: dict[str, list[str]] = {}
    resources_of: dict[str, list[str]] = {}
    for stmt, pattern in _facts(world, "statement_action"):
        actions_of.setdefault(stmt, []).append(pattern)
    for stmt, pattern in _facts(world, "statement_resource"):
        resources_of.setdefault(stmt, []).append(pattern)

    named = named_principals(world)
    outsiders = _outsiders(world, named)
    named += _with_anyone(outsiders)
    anyone = _outsider_account(world, outsiders.values())
    asker = _Asker(world, outsiders, (anyone,), undetermined)
    in_world = [p for p in world_principals(world) if p != ANONYMOUS]

    def account_of_resource(res: str) -> str | None:
        return idx.resources.get(res) or (idx.principals.get(res, (None, None))[1])

    triples: list[tuple[str, str, str]] = []
    meta: list[tuple[str, str]] = []  # (resource, scope)
    for res, pol in sorted(holders.items()):
        owner = account_of_resource(res)
        org = idx.account_org.get(owner)
        service = "sts" if res in idx.principals else (res.split(":")[2] if res.count(":") >= 5 else None)
        acts: dict[str, None] = {}
        targets: dict[str, None] = {res: None}
        for stmt in sorted(stmts_of.get(pol, ())):
            for pattern in sorted(actions_of.get(stmt, ())):
                prefix, sep, name = pattern.partition(":")
                if sep and "*" not in prefix and "?" not in prefix:
                    expanded = ev.catalog.expand(pattern)
                elif service:  # a wildcard service part: the actions of the resource's own service
                    expanded = ev.catalog.expand(f"{service}:{name or '*'}")
                else:
                    expanded = ()
                for a in expanded:
                    acts.setdefault(a)
            for pattern in sorted(resources_of.get(stmt, ())):
                if pattern.startswith(res) and pattern != res and "${" not in pattern:
                    targets.setdefault(pattern)

        def scope_of(acct: str) -> str:
            return "outside account" if org is not None and idx.account_org.get(acct) == org else "outside organization"

        principals: list[tuple[str, str]] = []
        for p in in_world + [n for n in named if n not in in_world]:
            acct = _account_of(p)
            if acct is None or acct == owner:  # services and web identities are not other accounts
                continue
            principals.append((p, scope_of(acct)))
        principals += [*((p, "outside organization") for p in _anyone(anyone)), (ANONYMOUS, "public")]
        for p, scope in principals:
            for a in acts:
                for t in targets:
                    triples.append((p, a, t))
                    meta.append((res, scope))
    decisions = asker.ask(triples, None)
    out = []
    for (p, a, t), (res, scope), d in zip(triples, meta, decisions):
        if d is not None and d.allowed:
            out.append(ExternalAccess(res, t, p, d.action, scope, d))
    return out


# ---------------------------------------------------------------------------------------------
# why not


@dataclass(frozen=True)
class FailedCondition:
    """A condition that did not hold, in a statement that would otherwise have applied."""

    statement: StatementRef
    operator: str
    key: str
    values: tuple[str, ...]
    request_values: tuple[str, ...] | None  # None: the request lacked the key

    def describe(self) -> str:
        wanted = ", ".join(f'"{v}"' for v in self.values)
        have = ("the request lacks the key" if self.request_values is None
                else "the request has " + ", ".join(f'"{v}"' for v in self.request_values))
        return f"{self.operator} {self.key} [{wanted}]: {have}"

    def to_json(self) -> dict:
        return {"statement": self.statement.to_json(), "operator": self.operator, "key": self.key,
                "values": list(self.values),
                "request_values": None if self.request_values is None else list(self.request_values)}


@dataclass(frozen=True)
class Blockers:
    """What stands between a request and an allow, and the smallest changes that would lift it.

    Attributes:
        decision: the decision, from :meth:`World.check`.
        layers: the layers that blocked it (an explicit deny, or no allow), as in
            :meth:`Decision.blockers`.
        failed_conditions: conditions that failed in statements that matched the request
            otherwise (the Allow statements that nearly applied, and the Deny statements that did
            not apply only because of a condition).
        suggestions: one sentence per change that would remove a blocker; every blocker needs its
            own change, so together they are what would allow the request.
    """

    decision: Decision
    layers: tuple[LayerVerdict, ...]
    failed_conditions: tuple[FailedCondition, ...]
    suggestions: tuple[str, ...]

    def render(self) -> str:
        d = self.decision
        if d.allowed:
            return d.summary() + "\n  nothing blocks it"
        lines = [f"{d.decision}: {d.principal} {d.action} {d.resource}", "blocked by:"]
        for v in self.layers:
            lines.append(f"  {v.layer}: {v.verdict}" + (f" — {v.note}" if v.note else ""))
            lines += [f"    {s.label()}" for s in v.statements]
        allow_misses = [f for f in self.failed_conditions if f.statement.effect == "Allow"]
        if allow_misses:
            lines.append("conditions that failed in Allow statements that otherwise match:")
            for f in allow_misses:
                lines += [f"  {f.statement.label()}", f"    {f.describe()}"]
        if d.missing_context:
            lines.append("condition keys the request lacked: " + ", ".join(d.missing_context))
        if self.suggestions:
            lines.append("would allow it:")
            lines += [f"  - {s}" for s in self.suggestions]
        return "\n".join(lines)

    def to_json(self) -> dict:
        return {"decision": self.decision.to_json(), "blocked_by": [v.to_json() for v in self.layers],
                "failed_conditions": [f.to_json() for f in self.failed_conditions],
                "suggestions": list(self.suggestions)}


def _near_misses(world, principal: str, action: str, resource: str, context) -> tuple[FailedCondition, ...]:
    """Statements whose Action, Resource and Principal match the request but a condition fails.

    This asks the rules' own relations (``conditions_reached``: Action, Resource and Principal
    match; ``condition_holds``) for one request, through :meth:`Evaluator.query`. It explains; it
    never decides.
    """
    from .grammar.datalog import Atom, Const, Negation, Query, Var

    ev = _evaluator(world)
    req = ev.resolve(principal, action, resource, context or {})
    r, s, c = Const(req.id), Var("S"), Var("C")
    query = Query((
        Atom("conditions_reached", (r, s)), Atom("candidate", (r, s, Var("L"))),
        Atom("statement_condition", (c, s, Var("Op"), Var("K"))), Negation(Atom("condition_holds", (r, c))),
    ))
    rows = ev.query(query, [req])
    names = query.variables  # S, L, C, Op, K
    out: dict[tuple[str, str], FailedCondition] = {}
    for row in rows:
        b = dict(zip(names, row))
        found = req.context.get(str(b["K"]).lower())
        out.setdefault((b["S"], b["C"]), FailedCondition(
            ev.index.statement_ref(b["S"]), b["Op"], b["K"], tuple(ev.index.condition_values.get(b["C"], ())),
            _shown(ev, found)))
    return tuple(out[k] for k in sorted(out))


def _shown(ev, found) -> tuple[str, ...] | None:
    """A request's values of a key, as a failed condition shows them: the ``aws:userid`` of a
    role given by its ARN (a condition decided whatever its session's name) as ``ROLE-ID:<session>``."""
    if not found:
        return None
    if found[1].__class__ is Undeclared:
        return (f"{ev.index.unique_ids[found[1][0]]}:<session>",)
    return tuple(found[1])


def why_not(world, principal: str, action: str, resource: str, context: Mapping[str, Any] | None = None
            ) -> Blockers:
    """What blocks a request: each layer without an allow, each Deny that applies, each condition
    that failed (and on which key), and the smallest changes that would allow it.

    The decision comes from :meth:`World.check`; the failed conditions from the rules' relations
    for that request. Suggestions are written from the blockers, one per blocker: remove or narrow
    each Deny, add an allow to each layer that has none, supply each missing condition key.

    Raises:
        InvalidInput: the principal cannot be placed in the world.
    """
    d = world.check(principal, action, resource, dict(context or {}))
    if d.allowed:
        return Blockers(d, (), (), ())
    ev = _evaluator(world)
    req = ev.resolve(principal, action, resource, dict(context or {}))
    failed = _near_misses(world, principal, action, resource, dict(context or {}))
    suggestions: list[str] = []
    denying = {s.id for s in d.statements} if d.decision != ALLOW else set()
    for s in d.statements:
        suggestions.append(f"remove or narrow {s.label()}")
    ident = req.identity or d.principal
    holder = req.policy_holder or ev._holder(d.resource)  # the resource whose policy would govern it
    for v in d.blockers():
        if v.verdict != "no allow":
            continue
        if v.layer.startswith(("SCP ", "RCP ")):
            kind, _, node = v.layer.partition(" ")
            suggestions.append(f"attach an {kind} allowing {d.action} at {node}"
                               + (" (or attach FullAWSAccess there again)" if kind == "SCP" else ""))
        elif v.layer == "identity-based policies":
            suggestions.append(f"add `allow {d.action} on \"{d.resource}\"` to an identity policy of {ident}")
        elif v.layer == "resource-based policy":
            what = "the trust policy of" if holder in ev.index.principals else "the resource policy of"
            who = req.role if req.principal_type == "assumed_role" and req.role else (
                "*" if d.principal == ANONYMOUS else d.principal)
            kind = {"service": "service", "web_identity": "federated"}.get(req.principal_type, "aws")
            named = "principal *" if who == "*" else f'principal {kind} "{who}"'
            suggestions.append(f"add `allow {d.action} on \"{d.resource}\" {named}` to {what} {holder}")
        elif v.layer == "permissions boundary":
            suggestions.append(f"add {d.action} on \"{d.resource}\" to the permissions boundary of {ident}")
        elif v.layer == "session policy" and v.note == COGNITO_GUEST_NOTE:
            suggestions.append(f"none for a guest of the enhanced flow: Amazon Cognito's scope-down policy does not "
                               f"allow {d.action}, and its guests' sessions take no other")
        elif v.layer == "session policy":
            suggestions.append(f"pass a session policy that allows {d.action} on \"{d.resource}\"")
    for f in failed:
        if f.statement.effect == "Allow" and f.statement.id not in denying:
            if _WORLD_KEYS.match(f.key):
                suggestions.append(f"{f.key} is determined by the world, not by the request: {f.statement.label()} "
                                   f"admits only principals and resources for which {f.operator} {f.key} holds")
            elif f.request_values is None:
                suggestions.append(f"supply {f.key} (with {f.key}=...) so that {f.operator} {f.key} holds for "
                                   f"{f.statement.label()}")
            else:
                suggestions.append(f"make {f.operator} {f.key} hold for {f.statement.label()}")
    for key in d.missing_context:
        if not any(f.key.lower() == key.lower() for f in failed) and not _WORLD_KEYS.match(key):
            suggestions.append(f"supply {key} (with {key}=...)")
    return Blockers(d, d.blockers(), failed, tuple(dict.fromkeys(suggestions)))
