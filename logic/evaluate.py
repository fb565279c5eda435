"""Requests against a world: the rules of ``rules/*.dl``, and the request builtins they call.

The AWS semantics live in the rule files. Decisions are computed by those rules compiled into
Python (:mod:`iamlogic.compiled`: request-independent relations computed once per world,
the request-dependent ones as functions); the engine (pyDatalog) answers proofs, ``?-`` queries
and ``decide(..., engine=True)``, and a differential test holds the two to the same answers.

This module does what Datalog cannot: it reads the request (who is asking, through which kind of
session), builds its context the way AWS does (``aws:PrincipalArn``, ``aws:PrincipalOrgID``,
``aws:ResourceTag/…`` from the world; keys the caller gives win), and offers the value-level
builtins the rules call:

==========================================  =======================================================
``request(Req, Principal, Action, Resource)``  the requests being decided
``request_principal_type(Req, T)``            user, assumed_role, federated_user, root, anonymous,
                                              service or web_identity
``request_identity(Req, P)``                  the IAM user or role whose policies apply
``request_account(Req, A)``                   the principal's account
``request_resource_account(Req, A)``          the resource's account
``request_session_policy(Req, Pol)``          the session policy passed with the request
``request_policy_holder(Req, R)``             the resource whose resource-based policy governs the
                                              request (an S3 object's bucket), when the world holds
                                              such a policy for it or it is a role (trust policy)
``request_name(Req, How)``                    the names a NotPrincipal must list to exempt the request
``principal_named(Req, Type, Value, How)``    how a Principal entry names the request's principal
``action_match(Pattern, Action)``             IAM action wildcards, case-insensitive
``action_key(Text, Key)``                     the key an action name is looked up by (case folded),
                                              for text without wildcards
``action_glob(Pattern, Scope)``               an Action pattern without a key, matched by action_match
                                              against the actions of its scope: the key of its
                                              service prefix, or ``*`` (a wildcard in the prefix)
``action_scope(Action, Scope)``               the key of an action's service prefix: the scope of
                                              the patterns with a literal prefix that may match it
``resource_matches(Req, Stmt, Pattern)``      ARN matching with policy variables substituted
``resource_scope(Pattern, Scope)``            the scope of a Resource entry: its service and the
                                              first component of its resource part, or ``*``
``request_resource_scope(Req, Stmt, Scope)``  the scopes of the entries of statement Stmt that
                                              may match the request's resource: ``*``, and its
                                              own (the same for every statement: Stmt makes it
                                              read where the rule stands, not once a request)
``condition_holds(Req, Cond)``                one condition under the request's context
``request_kms_key(Req)``                      the request's resource is a KMS key
``request_unknown_role(Req)``                 the request's resource is a role ARN the world lacks
==========================================  =======================================================
"""

from __future__ import annotations

import gc
import hashlib
import itertools
import os
import re
import threading
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib import resources
from operator import attrgetter, itemgetter
from typing import Any, Callable, Iterable, Mapping, Sequence

from .catalog import Catalog
from .compile import policy_facts
from .decision import ALLOW, EXPLICIT_DENY, IMPLICIT_DENY, Decision, LayerVerdict, ProofNode, StatementRef
from .dlcheck import BuiltinSpec
from .engine import Engine, EngineError, row_key
from .grammar.arn import parse_arn
from .grammar.ast import Policy
from .grammar.datalog import (Atom, Comparison, Const, Negation, Program, Query, Rule, Var, aggregate_rows, parse_program,
                               parse_query)
from .grammar.diagnostics import Diagnostic, IamlogicError, InvalidInput, Span
from .grammar.world import UNIQUE_ID_PREFIX
from .matching import (ConditionResult, action_glob_scope, action_key, action_scope, condition_on_unknown_suffix,
                       context_values, evaluate_condition, escaped_resource_match, escaped_resource_matcher,
                       plan_arn_pattern, resource_scope, resource_scopes, substitute, variable_keys, wildcard_match)
from .schema import RELATIONS
from .world import COGNITO_GUEST_POLICY

_ACCOUNT = re.compile(r"[0-9]{12}")
_IAM_ARN = re.compile(r"arn:(aws[a-z-]*):iam::([0-9]{12}):(user|role|root)(.*)")
_STS_ARN = re.compile(r"arn:(aws[a-z-]*):sts::([0-9]{12}):(assumed-role|federated-user)/(.+)")
_KMS_KEY = re.compile(r"arn:aws[a-z-]*:kms:[^:]*:[0-9]*:key/.+")
_ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::[0-9]{12}:role/.+")
_KMS_ALIAS = re.compile(r"arn:aws[a-z-]*:kms:[^:]*:[0-9]*:alias/.+")
# the KMS operations authorized on an alias itself, by IAM policies (an alias has no policy); each
# also needs the key's permission, asked apart (KMS developer guide, alias-access.html)
_ALIAS_ACTIONS = frozenset({"kms:CreateAlias", "kms:DeleteAlias", "kms:UpdateAlias"})
#: The keys Amazon Cognito sets in its sessions, and the name of a session of its enhanced flow
#: (Amazon Cognito developer guide: role-trust-and-permissions, authentication-flow).
COGNITO = "cognito-identity.amazonaws.com"
COGNITO_SUB, COGNITO_AUD, COGNITO_AMR = (f"{COGNITO}:{k}" for k in ("sub", "aud", "amr"))
COGNITO_KEYS = (COGNITO_SUB, COGNITO_AUD, COGNITO_AMR)
COGNITO_SESSION = "CognitoIdentityCredentials"
COGNITO_GUEST_NOTE = (f"Amazon Cognito's scope-down policy for guests ({COGNITO_GUEST_POLICY}), applied in its enhanced "
                      "flow; a caller cannot pass another")

_WEB_IDENTITY_PROVIDERS = ("cognito-identity.amazonaws.com", "accounts.google.com", "graph.facebook.com",
                           "www.amazon.com")

BUILTIN_SPECS: dict[str, BuiltinSpec] = {
    "request": BuiltinSpec(inputs=(), outputs=(0, 1, 2, 3), fields=("caller", "action", "resource")),
    "request_principal_type": BuiltinSpec(inputs=(0,), outputs=(1,), attribute="principal_type"),
    "request_identity": BuiltinSpec(inputs=(0,), outputs=(1,), attribute="identity"),
    "request_account": BuiltinSpec(inputs=(0,), outputs=(1,), attribute="account"),
    "request_resource_account": BuiltinSpec(inputs=(0,), outputs=(1,), attribute="resource_account"),
    "request_session_policy": BuiltinSpec(inputs=(0,), outputs=(1,), attribute="session_policy"),
    "request_policy_holder": BuiltinSpec(inputs=(0,), outputs=(1,), attribute="policy_holder"),
    "request_name": BuiltinSpec(inputs=(0,), outputs=(1,)),
    "principal_named": BuiltinSpec(inputs=(0, 1, 2), outputs=(3,)),
    "action_match": BuiltinSpec(inputs=(0, 1)),
    "action_key": BuiltinSpec(inputs=(0,), outputs=(1,)),
    "action_glob": BuiltinSpec(inputs=(0,), outputs=(1,)),
    "action_scope": BuiltinSpec(inputs=(0,), outputs=(1,)),
    "action_service": BuiltinSpec(inputs=(0,), outputs=(1,)),
    "action_changes_iam": BuiltinSpec(inputs=(0,)),
    "claim_matches": BuiltinSpec(inputs=(0, 1, 2)),
    "resource_matches": BuiltinSpec(inputs=(0, 1, 2)),
    "resource_scope": BuiltinSpec(inputs=(0,), outputs=(1,)),
    "request_resource_scope": BuiltinSpec(inputs=(0, 1), outputs=(2,)),
    "condition_holds": BuiltinSpec(inputs=(0, 1)),
    "request_kms_key": BuiltinSpec(inputs=(0,)),
    "request_unknown_role": BuiltinSpec(inputs=(0,)),
    # Declared in the schema as facts (``iamlogic facts`` prints them); the engine answers it from
    # the catalog instead of loading tens of thousands of facts for a pattern like "*".
    "action_pattern_covers": BuiltinSpec(inputs=(0,), outputs=(1,)),
    # Integer arithmetic: add(X, Y, Z) is Z = X + Y; divide rounds down (a divisor of 0 is an error).
    "add": BuiltinSpec(inputs=(0, 1), outputs=(2,)),
    "subtract": BuiltinSpec(inputs=(0, 1), outputs=(2,)),
    "multiply": BuiltinSpec(inputs=(0, 1), outputs=(2,)),
    "divide": BuiltinSpec(inputs=(0, 1), outputs=(2,)),
    "lowercase": BuiltinSpec(inputs=(0,), outputs=(1,)),
    "tag_value_matches": BuiltinSpec(inputs=(0, 1)),
}


#: The builtins that read the request: every relation that calls one depends on the request.
REQUEST_BUILTINS = frozenset(name for name in BUILTIN_SPECS
                             if name not in ("action_match", "action_key", "action_glob", "action_scope",
                                             "resource_scope", "action_service",
                                             "action_changes_iam", "claim_matches", "action_pattern_covers",
                                             "add", "subtract", "multiply", "divide", "lowercase",
                                             "tag_value_matches"))


# The request builtins whose answers requests of one principal and action share, as the rules read
# them (name -> the columns after the request they agree on): Evaluator._derive solves such
# requests together. The request's action; the principal's type (and so the names it goes by),
# identity and account; the session policy. (How a Principal entry names the caller is shared too,
# by Evaluator._v_principal_named: _derive's groups also agree on the caller, role and federating
# user it reads.)
_SHARED = {"request": (2,), "request_principal_type": (1,), "request_identity": (1,), "request_account": (1,),
           "request_session_policy": (1,), "request_name": (1,)}
_SESSION_POLICY = attrgetter("session_policy")
_GIVEN_LIMIT = 4096  # contexts given whose reading is kept (Evaluator._given_reads)
_SCALARS = frozenset({str, bool, int, float})  # the values of a context whose reading is kept
# the entries of the compiled rules' answer that a decision is made of (Evaluator._decision)
_VERDICT_ENTRIES = ("decision", "denies", "allows", "rcp_passed_over", "needs_resource", "grant", "reached")
_UNNAMED = "-"  # the id of requests that no decision, proof or query names (verdicts_many)
_TOGETHER = 8  # requests of one principal and action solved together from this many on
_SCOPES = object()  # the key of a vector's requests grouped by the scopes of their resource (its memo)
_DECIDING = ("decision", "reached", "denies", "allows", "needs_resource", "grant",
             "rcp_passed_over")  # what _decision reads
# Condition keys that AWS alone sets, from the principal and the resource (IAM user guide,
# reference_policies_condition-keys: "This key is included in the request context ..."): when the
# world does not give one, the request does not carry it, whatever the caller says.
_AWS_SET = frozenset(k.lower() for k in (
    "aws:PrincipalArn", "aws:PrincipalAccount", "aws:PrincipalOrgID", "aws:PrincipalOrgPaths", "aws:PrincipalType",
    "aws:username", "aws:PrincipalIsAWSService", "aws:PrincipalServiceName", "aws:ResourceAccount",
    "aws:ResourceOrgID", "aws:ResourceOrgPaths"))
# Keys AWS sets only for some callers (IAM user guide, reference_policies_condition-keys): the
# source of a service's call on behalf of a resource's owner (aws:SourceArn, …: "only if accessing a
# resource triggers an AWS service to call another service") for service principals, the source
# identity for role sessions (set when the role was assumed).
SERVICE_SOURCE_KEYS = frozenset(k.lower() for k in (
    "aws:SourceArn", "aws:SourceAccount", "aws:SourceOrgID", "aws:SourceOrgPaths"))
SOURCE_IDENTITY_KEY = "aws:sourceidentity"
# Keys whose absence the world decides by the resource (Evaluator._absent), besides resource tags.
_RESOURCE_SIDE = ("aws:resourceorg", "s3:existingobjecttag/")
_LACKS_EXPLICIT_ALLOW = ("a role trust policy or KMS key policy must allow the principal explicitly; none does (a "
                         "role the world does not declare at the ARN asked, path and name as written, has none here)")
_RCP_SERVICES_NOTE = ("they restrict the services of the world's 'aws rcp_services', else of iamlogic's list "
                      "(catalog.RCP_SERVICES), and never kms:RetireGrant; if AWS lists this service today, "
                      "declare it in 'aws rcp_services'")
_PRINCIPAL_ACTION = itemgetter(0, 1)  # of the arguments of Evaluator.decide_one
#: How the id of a session policy given with a request starts (and so each of its facts: its
#: statements' and conditions' ids start with its own); the evaluator adds its facts to the world's.
REQUEST_POLICY = "session-policy:"


def _row_key(item: tuple) -> tuple:
    """What the requests of a row share (see Evaluator._verdicts_many): their context and session
    policy, the same objects (equal dicts may still differ: True == 1), and their federating user."""
    return id(item[3]), id(item[4]), item[5]


_VECTOR_MEMOS = 64  # sets of resources decided together whose pattern matches and parts are kept (Evaluator._derive)
_PART_LIMIT = 1 << 16  # entries of each per-evaluator store (principals, resources, conditions, names)


_paused = threading.Lock()
_pauses = [0, False]  # blocks of collector_paused under way (in any thread); whether they turned the collector off


@contextmanager
def collector_paused():
    """The garbage collector off for the block, and as it was before once the last such block
    under way in any thread ends. Deciding leaves no cyclic garbage (blocks of matrix rows and of
    unrelated requests left none), so reference counting frees what decisions leave behind; the
    collector would only walk, again and again, what the evaluator keeps (its memos, the decision
    cache) and the decisions being made. A cycle made meanwhile is collected once it runs again.

    The mark that these blocks turned the collector off is set before it is turned off and cleared
    after it is on again, so that an exception between the two steps (Ctrl-C) leaves it set, and
    the next block to end turns the collector on."""
    counted = False
    try:
        with _paused:
            if _pauses[0] == 0 and gc.isenabled():
                _pauses[1] = True
                gc.disable()
            _pauses[0] += 1
            counted = True  # (no interrupt lands between these two: neither calls)
        yield
    finally:
        if counted:
            with _paused:
                _pauses[0] -= 1
                if _pauses[0] == 0 and _pauses[1]:
                    gc.enable()
                    _pauses[1] = False


@contextmanager
def frozen_for_run():
    """What is loaded so far (the worlds) in the collector's permanent generation for the block:
    the collections that the answers cause do not walk it (nor, in forked workers, touch its pages
    and copy them), the use the gc docs name. A caller that froze objects itself keeps them frozen."""
    frozen = gc.get_freeze_count()
    gc.freeze()
    try:
        yield
    finally:
        if not frozen:
            gc.unfreeze()


def _forked() -> None:
    """In a child process: no block of collector_paused is under way there (its parent's threads
    are not), and the lock may have been held by one of them when the parent forked."""
    global _paused
    _paused = threading.Lock()
    _pauses[0] = 0


os.register_at_fork(after_in_child=_forked)


class Undeclared(tuple):
    """The value of a context key that AWS always sets and the world does not give, as a
    request's context holds it: ``(principal, given_as_role)``, for the unique id of a user or a
    role session in ``aws:userid`` (or the session's name, when a role is given as the principal),
    or the issue time of a session's credentials in ``aws:TokenIssueTime``. A condition or policy
    variable that reads it is an error (E507), never a missing key: AWS would have compared the
    value; ``Null`` on it is decided (the key is present)."""

    __slots__ = ()


def _undeclared(key: str, found: Undeclared, ref: StatementRef) -> InvalidInput:
    owner, by_role = found
    if key.lower().startswith(f"{COGNITO}:"):
        return InvalidInput([Diagnostic(
            "E507", f"unsupported: {_label(ref)} reads {key}, which Amazon Cognito sets from the identity of a "
                    f"session of {owner}; the identity is not named",
            Span(ref.file, ref.line, ref.col) if ref.file else None,
            help=f"name an identity the world declares: its id as the principal, or a session (arn:aws:sts::ACCOUNT:"
                 f"assumed-role/ROLE/{COGNITO_SESSION}) with {COGNITO_SUB}=…")])
    if key.lower() == "aws:tokenissuetime":
        return InvalidInput([Diagnostic(
            "E507", f"unsupported: {_label(ref)} reads {key}, the time the temporary credentials of {owner} were "
                    "issued, which AWS sets on every request they sign and the world does not give",
            Span(ref.file, ref.line, ref.col) if ref.file else None,
            help=f"give the key as context ({key}=2026-01-01T00:00:00Z)")])
    if key.lower().startswith("aws:principaltag/"):
        return InvalidInput([Diagnostic(
            "E507", f"unsupported: {_label(ref)} reads {key}, a session tag that IAM Identity Center sets from the "
                    f"attributes of the user who signs in to {owner}; given as a role, its user is not known",
            Span(ref.file, ref.line, ref.col) if ref.file else None,
            help="give a user's session as the principal (arn:aws:sts::ACCOUNT:assumed-role/ROLE/USER)")])
    if by_role:
        what = f"the name of the session of {owner} (given as a role)"
        how = "give the session's ARN as the principal (arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION)"
    else:
        kind = "user" if ":user/" in owner else "role"
        what = f"the unique id of {owner}"
        how = f"declare it (id \"{UNIQUE_ID_PREFIX[kind]}…\" in the {kind}'s block)"
    return InvalidInput([Diagnostic("E507", f"unsupported: {_label(ref)} reads {key}, and {what} is not in the world",
                                    Span(ref.file, ref.line, ref.col) if ref.file else None,
                                    help=f"{how}, or give the key as context ({key}=…)")])


def _label(ref: StatementRef) -> str:
    return ref.label() if ref.file is None else ref.label().rsplit(" (", 1)[0]


def plain_pattern(pattern: str) -> bool:
    """A Resource pattern without policy variables (nor escapes): it is its own escaped form, and
    whether it matches depends on the resource alone."""
    return "$" not in pattern and "\\" not in pattern


def _inputs(principal: str, action: str, resource: str, context: Mapping[str, Any] | None,
            session_policy: Policy | None, federating_user: str | None) -> tuple:
    """The arguments a request was resolved from, to resolve it again: one flat tuple, the context
    as key, value, key, value… (lists as tuples). A flat tuple of strings is one the garbage
    collector stops tracking at its first pass."""
    flat = [principal, action, resource, session_policy, federating_user]
    for k, v in (context or {}).items():
        flat += (k, v if type(v) is str or not isinstance(v, (list, set, frozenset)) else tuple(v))
    return tuple(flat)


@lru_cache(maxsize=1)
def compiled_rules():
    """The request-dependent rules compiled into Python, or None when the compiler refuses them."""
    from .compiled import CompiledRules, Unsupported

    declared = {name: rel.arity for name, rel in RELATIONS.items() if name not in BUILTIN_SPECS}
    entries = {}
    for name, query in _detail_queries().items():
        (atom,) = query.body
        entries[name] = atom
    try:
        return CompiledRules(rules(), declared, BUILTIN_SPECS, REQUEST_BUILTINS, entries)
    except Unsupported:
        return None


@lru_cache(maxsize=1)
def _detail_widths() -> dict[str, int]:
    """The columns after the request of each detail query."""
    return {name: len(q.body[0].args) - 1 for name, q in _detail_queries().items()}


def _raw(rows: list[tuple], width: int):
    """Rows as the compiled rules give them: a bool, a set of values or a set of tuples."""
    if width == 0:
        return bool(rows)
    if width == 1:
        return {v for (v,) in rows}
    return set(rows)


@lru_cache(maxsize=1)
def _detail_queries() -> dict[str, Query]:
    """The queries a decision is read from, parsed once."""
    return {name: parse_query(text) for name, text in Evaluator._DETAILS.items()}


@lru_cache(maxsize=1)
def rules() -> Program:
    """The AWS evaluation rules: every ``rules/*.dl`` file, in name order, as one program (parsed
    once, then kept between runs: :func:`iamlogic.grammar.cache.pickled`)."""
    from .grammar import cache

    files = [f for f in sorted(resources.files(__package__).joinpath("rules").iterdir(), key=lambda f: f.name)
             if f.name.endswith(".dl")]
    texts = [(f.name, f.read_text(encoding="utf-8")) for f in files]

    def parse() -> Program:
        programs = [parse_program(text, f"rules/{name}") for name, text in texts]
        return Program(tuple(r for p in programs for r in p.rules), "rules", "")

    grammar = resources.files(cache.__package__)  # the parser, and the classes of what it makes
    sources = [f"{name}\n{text}".encode() for name, text in texts] + [
        grammar.joinpath(f).read_bytes() for f in ("datalog.lark", "datalog.py", "diagnostics.py")]
    return cache.pickled("rules", sources, parse, Program)


# ---------------------------------------------------------------------------------------------
# The world, indexed for the builtins


class WorldIndex:
    """Python indexes over a world's facts, for the builtins and for building decisions."""

    def __init__(self, facts: Iterable[tuple]):
        self.rows: dict[str, list[tuple]] = defaultdict(list)  # relation -> its tuples (the compiled rules' tables)
        by = self.rows
        for f in facts:
            by[f[0]].append(tuple(f[1:]))
        self.principals = {p: (t, a) for p, t, a in by["principal"]}
        self.names = {p: (n, path) for p, n, path in by["principal_name"]}
        self.unique_ids = dict(by["principal_id"])
        self.principal_tags = defaultdict(list)
        for p, k, v in by["principal_tag"]:
            self.principal_tags[p].append((k, v))
        self.roles_by_name = {(a, self.names[p][0]): p for p, (t, a) in self.principals.items() if t == "role"}
        self.users_by_name = {(a, self.names[p][0]): p for p, (t, a) in self.principals.items() if t == "user"}
        self.resources = {r: a for r, a in by["resource"]}
        self.resource_tags = defaultdict(list)
        for r, k, v in by["resource_tag"]:
            self.resource_tags[r].append((k, v))
        self.abac_buckets = {r for (r,) in by["bucket_abac"]}
        self.groups = {g for g, _a, _n in by["group"]}  # (IAM groups take no tags)
        self.account_org = {a: o for a, o in by["account_org"]}
        self.orgs = set(self.account_org.values())
        self.accounts = {a for a, _ in by["account"]}
        self.parent = {a: n for a, n in by["account_parent"]}
        self.parent.update({c: p for c, p in by["ou_parent"]})
        self.policies = {p: (k, n) for p, k, n in by["policy"]}
        self.versions = {p: v for p, v in by["policy_version"]}
        self.statements = {s: (p, i, e) for s, p, i, e in by["statement"]}
        self.sids = {s: sid for s, sid in by["statement_sid"]}
        self.sources = {s: (f, line, col) for s, f, line, col in by["statement_source"]}
        self.conditions = {c: (s, op, key) for c, s, op, key in by["statement_condition"]}
        self.conditions_of: dict[str, list[str]] = defaultdict(list)
        for c, s, _, _ in by["statement_condition"]:
            self.conditions_of[s].append(c)
        self.condition_values = defaultdict(list)
        for c, v in by["condition_value"]:
            self.condition_values[c].append(v)
        self.conditions_with_variables = {c for c, values in self.condition_values.items()
                                          if any(not isinstance(v, str) or "$" in v for v in values)}
        self.variable_keys: dict[str, tuple[str, ...]] = {}  # a condition -> the keys its policy variables name
        self.boundaries = {p for p, _ in by["permissions_boundary"]}
        self.policy_holders = {h for h, _ in by["resource_policy"]}
        self.node_names = {n: name for n, name in by["ou_name"]}
        self.attached = {k: frozenset(by[f"{k}_attached"]) for k in ("scp", "rcp")}  # (node, policy)
        self.depth: dict[str, int] = {}  # organization level (root, OU, account) -> nodes above it
        self.level_names: dict[str, str] = {}  # level -> how a decision names it
        for node in {*self.accounts, *self.parent, *self.parent.values()}:
            depth, above = 0, self.parent.get(node)
            while above is not None:
                depth, above = depth + 1, self.parent.get(above)
                if depth > len(self.parent):  # the world's checks refuse such a world (E358)
                    raise IamlogicError(f"internal error: the levels above {node} form a cycle")
            self.depth[node] = depth
            name = self.node_names.get(node)
            self.level_names[node] = (f"account {node}" if node in self.accounts
                                      else f"{name} ({node})" if name else node)
        self._refs: dict[str | tuple[str, str], StatementRef] = {s: self._statement_ref(s) for s in self.statements}
        # IAM Identity Center: its roles (-> organization), who signs in to each (role -> users: the
        # evaluator fills it from the rule sso_signin), and each user's session tags
        self.sso_roles = {role: org for role, org, _, _ in by["sso_role"]}
        self.sso_signin: dict[str, frozenset[str]] = {}
        keys = defaultdict(set)
        for org, key in by["sso_session_attribute"]:
            keys[org].add(key)
        self.sso_attributes = {org: tuple(sorted(k)) for org, k in keys.items()}
        self.sso_session_tags: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
        for org, user, key, value in by["sso_user_attribute"]:
            if key in keys[org]:
                self.sso_session_tags[(org, user)].append((key, value))

        # Amazon Cognito identity pools: each pool (-> account, name, basic flow, guests), each identity
        # (-> pool, provider: "" for a guest), the extra entries of its amr claim, the guests' session
        # policy; the evaluator fills from the rules of 16-cognito.dl the roles each identity gets in
        # the enhanced flow, the identities whose role rests on a claim they lack, and the roles whose
        # sessions are Cognito's (those a pool names or that trust Amazon Cognito's tokens)
        self.cognito_pools = {pool: (acct, name, classic == "true", guests == "true")
                              for pool, acct, name, classic, guests in by["cognito_pool"]}
        self.cognito_identities = {i: (pool, provider) for pool, i, provider in by["cognito_identity"]}
        self.cognito_amr: dict[str, list[str]] = defaultdict(list)
        for i, v in by["cognito_identity_amr"]:
            self.cognito_amr[i].append(v)
        self.cognito_guest_policy = by["cognito_guest_policy"][0][0] if by["cognito_guest_policy"] else None
        # the roles whose trust policy has an Allow statement letting in Amazon Cognito with conditions on
        # both aud and amr: what AWS STS requires of the basic flow into another account
        lets_in = {st for st, kind, value in by["statement_principal"] if kind == "Federated" and value == COGNITO}
        self.cognito_conditioned = frozenset(
            role for role, pol in by["role_trust_policy"]
            if any({self.conditions[c][2].lower() for c in self.conditions_of.get(st, ())} >= {COGNITO_AUD, COGNITO_AMR}
                   for st in lets_in if self.statements[st][0] == pol and self.statements[st][2] == "Allow"))
        # the roles whose trust policy has an Allow statement listing sts:TagSession: the only ones
        # whose sessions may carry session tags
        tagging = {st for st, pattern in by["statement_action"] if wildcard_match(pattern, "sts:TagSession", ignore_case=True)}
        self.tag_session_roles = frozenset(
            role for role, pol in by["role_trust_policy"]
            if any(self.statements[st][0] == pol and self.statements[st][2] == "Allow" for st in tagging))
        self.cognito_enhanced: dict[str, frozenset[str]] = {}
        self.cognito_unknown_claims: dict[str, list[str]] = {}
        self.cognito_blocked: dict[str, list[str]] = {}  # an identity whose user pool user cannot sign in -> why
        self.cognito_roles: frozenset[str] = frozenset()

    def sso_sessions(self, role: str) -> list[str]:
        """The sessions of a role IAM Identity Center provisions: one for each user who signs in to it."""
        acct, name = self.principals[role][1], self.names[role][0]
        return [f"arn:aws:sts::{acct}:assumed-role/{name}/{user}" for user in sorted(self.sso_signin.get(role, ()))]

    def add_policy(self, pol_id: str, facts: list[tuple]) -> None:
        """Index a policy added after load (a session policy)."""
        for f in facts:
            rel, args = f[0], tuple(f[1:])
            self.rows[rel].append(args)
            if rel == "policy":
                self.policies[args[0]] = (args[1], args[2])
            elif rel == "policy_version":
                self.versions[args[0]] = args[1]
            elif rel == "statement":
                self.statements[args[0]] = (args[1], args[2], args[3])
            elif rel == "statement_sid":
                self.sids[args[0]] = args[1]
            elif rel == "statement_source":
                self.sources[args[0]] = tuple(args[1:])
            elif rel == "statement_condition":
                self.conditions[args[0]] = tuple(args[1:])
                self.conditions_of[args[1]].append(args[0])
            elif rel == "condition_value":
                self.condition_values[args[0]].append(args[1])
                if not isinstance(args[1], str) or "$" in args[1]:
                    self.conditions_with_variables.add(args[0])

    def value_key(self, cond: str) -> str | None:
        """The context key (lower case) whose value alone decides condition ``cond``; None when
        the condition has policy variables (other keys count too)."""
        return None if cond in self.conditions_with_variables else self.conditions[cond][2].lower()

    def keys_read(self, cond: str) -> tuple[str, ...]:
        """The context keys (lower case) whose values decide condition ``cond``: its key, and the
        keys its values' policy variables name (Evaluator._lookup reads them from the context)."""
        if cond not in self.conditions_with_variables:
            return (self.conditions[cond][2].lower(),)
        found = self.variable_keys.get(cond)
        if found is None:
            found = self.variable_keys[cond] = tuple(dict.fromkeys((
                self.conditions[cond][2].lower(),
                *(k for v in self.condition_values.get(cond, ()) if isinstance(v, str) for k in variable_keys(v)))))
        return found

    def org_path(self, acct: str) -> str | None:
        """``o-…/r-…/ou-…/`` for a member account (aws:PrincipalOrgPaths / aws:ResourceOrgPaths)."""
        org = self.account_org.get(acct)
        if org is None:
            return None
        chain, node = [], self.parent.get(acct)
        while node is not None:
            chain.append(node)
            node = self.parent.get(node)
        return "/".join([org, *reversed(chain)]) + "/"

    def statement_ref(self, stmt: str) -> StatementRef:
        found = self._refs.get(stmt)
        if found is None:
            found = self._refs[stmt] = self._statement_ref(stmt)
        return found

    def layer_ref(self, stmt: str, layer: str) -> StatementRef:
        """The statement as it decides in a layer: a policy used as a permissions boundary is of
        the kind ``boundary`` there, whatever it is attached as."""
        if layer != "boundary":
            return self.statement_ref(stmt)
        found = self._refs.get((stmt, layer))
        if found is None:
            found = self._refs[(stmt, layer)] = replace(self.statement_ref(stmt), policy_kind="boundary")
        return found

    def _statement_ref(self, stmt: str) -> StatementRef:
        pol, index, effect = self.statements[stmt]
        kind, name = self.policies.get(pol, ("?", pol))
        file, line, col = self.sources.get(stmt, (None, None, None))
        return StatementRef(stmt, pol, name, kind, index, effect, self.sids.get(stmt), file, line, col)


# ---------------------------------------------------------------------------------------------
# Requests


@dataclass(eq=False, slots=True)
class Request:
    """One request, resolved against the world: who asks, through what, with which context."""

    id: str
    caller: str  # as evaluated: a user/root ARN, a session ARN, a service name, "anonymous"
    action: str
    resource: str
    principal_type: str
    account: str | None = None
    identity: str | None = None  # the IAM user/role whose policies apply
    role: str | None = None  # the role of an assumed-role session
    federating_user: str | None = None
    resource_account: str | None = None
    session_policy: str | None = None
    policy_holder: str | None = None  # the holder of the resource-based policy that governs it (or the role)
    kms_key: bool | None = False  # the resource is a KMS key (None: a KMS alias)
    unknown_role: bool = False  # a role ARN the world does not declare (its trust policy is not known)
    context: dict[str, tuple[str, tuple[str, ...], bool]] = field(default_factory=dict)  # lower key -> (key, values, given as list)
    missing: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)
    conditions: dict[str, Any] = field(default_factory=dict, repr=False)  # condition id -> its result
    inputs: tuple = field(default=(), repr=False)  # the arguments it was resolved from (to resolve it again)

    def names(self) -> tuple[str, ...]:
        return _NAMES.get(self.principal_type, ("caller",))


# The names a request goes by, for NotPrincipal, by the type of its principal.
_NAMES = {"user": ("account", "caller"), "assumed_role": ("account", "role", "caller"),
          "federated_user": ("account", "caller"), "root": ("account",)}


def _request_attribute(name: str):
    """The request builtin ``name`` that answers one attribute of the request (its spec's
    ``attribute``): the row ``(req, value)`` when the request has it (and it equals ``value``, when
    given). It reads the request as :meth:`Evaluator._req` does, without the call: these run several
    times in every decision."""

    attr = BUILTIN_SPECS[name].attribute
    get = attrgetter(attr)

    def builtin(self, req, value) -> tuple:
        if req.__class__ is Request:
            v = get(req)
        else:  # Evaluator._req, inlined
            r = self._requests.get(req)
            v = get(r) if r is not None else None
        if v is None or value is not None and value != v:
            return ()
        return ((req, v),)

    builtin.__name__ = f"_b_request_{attr}"
    return builtin


def _vector_attribute(attr: str):
    """The request builtin of one attribute of the resource's part of a request (see
    _request_attribute) over requests decided together (Solver.solve_many): each value with the
    mask of the requests of ``mask`` that have it.

    What the world says of a resource depends on the resource and the principal's account alone
    (Evaluator._resource_part), and requests decided together share their principal: the answer
    for all of them is kept with the vector's resources (its memo), by the principal's account."""

    def builtin(vec, mask: int, value) -> list:
        key = (attr, value, vec.requests[0].account) if mask == vec.all else None
        if key is not None and key in vec.memo:
            return vec.memo[key]
        found: dict = {}
        for bit, r in vec.each(mask):
            v = getattr(r, attr)
            if v is not None and (value is None or value == v):
                found[v] = found.get(v, 0) | bit
        rows = [((None, v), m) for v, m in found.items()]
        if key is not None:
            vec.memo[key] = rows
        return rows

    return builtin


# keys whose value the world may not give but whose presence it knows (Evaluator._undeclared_condition)
_KNOWN_PRESENT = frozenset({"aws:userid", "aws:tokenissuetime"})
_ORG_ID = re.compile(r"o-[a-z0-9]{10,32}")  # an organization's id (AWS Organizations API, Organization Id)


def _outside_org(value: str, orgs) -> bool:
    """Whether ``value`` (of aws:PrincipalOrgID, or a path of aws:PrincipalOrgPaths) can be the
    organization of an account outside the world: the id of an organization the world does not
    declare."""
    org = value.split("/", 1)[0]
    return bool(_ORG_ID.fullmatch(org)) and org not in orgs


def _plain_keys(read: tuple[tuple, ...]) -> dict | None:
    """The keys of a context given (:meth:`Evaluator._read_given`) as :meth:`Evaluator._given`
    adds them when none asks for a check (each known to the AWS catalog and the caller's to give):
    lower key -> (key, values, given as a list); None when one asks for a check."""
    if any(kind for *_, kind in read):
        return None
    return {low: (key, values, as_list) for key, low, values, as_list, _ in read}


def one_action(action: str) -> None:
    """E513 for an action that is not one action, ``service:Action`` (a pattern, no service part):
    a request names one action, and so does a question of the analyses."""
    service, colon, name = action.partition(":")
    if not service or not name or ":" in name or any(c in action for c in "*? \t\n"):
        raise InvalidInput([Diagnostic("E513", f"the action of a request is service:Action, without wildcards: "
                                               f"{action!r}")])


class DecisionCache:
    """Decisions of one evaluator by request (see ``World.check_many``); a world that changes gets
    a new evaluator, so a cached decision is never one of another world. Bounded: cleared when full."""

    def __init__(self, limit: int = 1 << 18):
        self._found: dict = {}
        self.limit = limit
        self.get = self._found.get

    def put(self, key, decision) -> None:
        if len(self._found) >= self.limit:
            self._found.clear()
        self._found[key] = decision

    def clear(self) -> None:
        self._found.clear()

    def __len__(self) -> int:
        return len(self._found)


class _Derivation:
    """What a decision keeps to give its layer verdicts and its proof on demand: the arguments of
    its request, to derive them again (the world of an evaluator never changes), by the path that
    decided it. One small object and a flat tuple: the fewer objects a cached decision holds, the
    less the garbage collector has to walk."""

    __slots__ = ("_evaluator", "_req_id", "_inputs", "_outcome", "_engine")

    def __init__(self, evaluator: "Evaluator", req_id: str, inputs: tuple, outcome: str, engine: bool):
        self._evaluator, self._req_id, self._inputs, self._outcome, self._engine = (
            evaluator, req_id, inputs, outcome, engine)

    def layers(self) -> list[LayerVerdict]:
        return self._evaluator._layers_again(self._req_id, self._inputs, self._engine)

    def proof(self) -> ProofNode:
        return self._evaluator._prove_again(self._req_id, self._inputs, self._outcome)


class Evaluator:
    """Decides requests against one world with the rules of ``rules/*.dl``.

    One evaluator owns one :class:`~iamlogic.engine.Engine` (built on first use, see
    :attr:`engine`), so two worlds never share facts; calls are serialized by a lock, so threads
    may share an evaluator. ``compiled=False`` decides with the engine alone (the rules as
    pyDatalog runs them); so does a program the compiler refuses. :attr:`decisions` is the cache
    ``World.check``/``check_many`` keep decisions in.
    """

    def __init__(self, facts: Sequence[tuple], catalog: Catalog | None = None, *, compiled: bool = True):
        self.catalog = catalog or Catalog.default()
        self.index = WorldIndex(facts)
        self._compiled = compiled_rules() if compiled else None
        if self._compiled is not None:  # the entries a decision is made of (_decision), from the solver's answer
            self._verdict_entries = itemgetter(*map(self._compiled.entry_names.index, _VERDICT_ENTRIES))
        self._solver = None
        self.decisions = DecisionCache()
        self._requests: dict[str, Request] = {}
        self._counter = itertools.count(1)
        self._key_kinds: dict[str, Any] = {}  # lower-case context key given -> Evaluator._key_kind
        self._given_reads: dict[tuple, tuple] = {}  # a context given -> (_read_given of it, _plain_keys of that)
        #: Accounts that stand for accounts outside the world (added by an analysis): the tags of
        #: their users are the caller's to give, as their owners choose them.
        self.open_accounts: frozenset[str] = frozenset()
        self._principal_parts: dict[tuple, tuple] = {}  # (principal, federating user) -> what the world says of it
        self._resource_parts: dict = {}  # resource, or (resource, principal's account) -> its holder, owner, keys
        self._leaf_verdicts: dict = {}  # (id of a leaf of the solver's tree, action) -> (the leaf, its _class_verdict)
        self._owner_keys: dict = {}  # (account, on S3) -> the context keys of a resource it owns (_resource_part)
        self._object_tag_actions: dict[str, bool] = {}  # action -> whether S3 gives it s3:ExistingObjectTag
        self._condition_memo: dict[tuple, Any] = {}  # (condition without variables, its key's value) -> result
        self._named_memo: dict[tuple, tuple] = {}  # (the principal, Principal entry) -> how the entry names it
        self._vector_memos: dict[tuple, dict] = {}  # resources decided together -> what is kept for them (solve_many)
        self._lock = threading.RLock()
        self._cognito_trust: dict[tuple[str, str], Decision] = {}  # (role, identity) -> its trust decision
        self._session_warnings: dict[str, tuple[str, ...]] = {}  # session policy id -> its warnings, as notes
        self._cognito_basic: dict[str, tuple[str, ...]] = {}  # identity -> the roles of its basic flow
        self._declared = {name: rel.arity for name, rel in RELATIONS.items() if name not in BUILTIN_SPECS}
        self._engine: Engine | None = None
        self.program = rules()
        self._rules_by_head: dict[str, list[Rule]] = defaultdict(list)
        for r in self.program.rules:
            self._rules_by_head[r.head.relation].append(r)
        self._sessions_by_rules()
        if self._compiled is not None:
            self._bind()  # at load: the request-independent relations and every index
        else:
            self.engine  # decisions need the engine: built at load
        for arn in self.index.principals:  # at load: what the world says of its principals and resources
            self._principal_part(arn, None)
        for arn in self.index.resources:
            self._resource_part(arn, None)
        for relation in ("statement_resource", "statement_not_resource"):  # and how each ARN pattern is matched
            for _, pattern in self.index.rows.get(relation, ()):
                if plain_pattern(pattern):  # as _b_resource_matches reads it
                    plan_arn_pattern(pattern, escaped=True)

    def _sessions_by_rules(self) -> None:
        """Who may have a session of which role, as the rules derive it (computed at load, by the
        compiled rules' evaluator): who signs in to each role IAM Identity Center provisions
        (``sso_signin``); which role each identity pool gives each identity in the enhanced flow,
        which identities' role rests on a claim they lack, and which roles' sessions are Amazon
        Cognito's (``cognito_enhanced``, ``cognito_unknown_claim``, ``cognito_role``)."""
        idx = self.index
        wanted = ({"sso_signin"} if idx.sso_roles else set()) | (
            {"cognito_enhanced", "cognito_unknown_claim", "cognito_role", "cognito_identity_blocked"}
            if idx.cognito_pools else set())
        if not wanted:
            return
        from .compiled import _strata, materialize

        pure = {name: getattr(self, f"_b_{name}") for name in BUILTIN_SPECS if name not in REQUEST_BUILTINS}
        rows = materialize(_strata(wanted, self._rules_by_head), self._rules_by_head, BUILTIN_SPECS, self._table, pure)
        by: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        for user, role in rows.get("sso_signin", ()):
            by["sso_signin"][role].add(user)
        for relation in ("cognito_enhanced", "cognito_unknown_claim", "cognito_identity_blocked"):
            for identity, value in rows.get(relation, ()):
                by[relation][identity].add(value)
        idx.sso_signin = {role: frozenset(users) for role, users in by["sso_signin"].items()}
        idx.cognito_enhanced = {i: frozenset(roles) for i, roles in by["cognito_enhanced"].items()}
        idx.cognito_unknown_claims = {i: sorted(claims) for i, claims in by["cognito_unknown_claim"].items()}
        idx.cognito_blocked = {i: sorted(why) for i, why in by["cognito_identity_blocked"].items()}
        idx.cognito_roles = frozenset(role for role, in rows.get("cognito_role", ()))

    @property
    def engine(self) -> Engine:
        """The engine (pyDatalog) over this world's facts and every rule, built on first use:
        proofs, ``?-`` queries and ``decide(engine=True)`` need it; decisions by the compiled rules
        do not, and a world loaded only to decide never holds it."""
        if self._engine is None:
            with self._lock:
                if self._engine is None:
                    builtins = {name: (spec, getattr(self, f"_b_{name}")) for name, spec in BUILTIN_SPECS.items()}
                    engine = Engine(self._declared, builtins)
                    engine.add_facts((rel, *row) for rel, rows in list(self.index.rows.items())
                                     if rel in self._declared for row in rows)
                    engine.add_program(self.program)
                    self._engine = engine
        return self._engine

    def facts(self, relation: str) -> frozenset[tuple]:
        """Every tuple of a relation: a declared one from the world's facts, a derived one from
        the engine."""
        if relation in self._declared:
            return frozenset(self.index.rows.get(relation, ()))
        return self.engine.materialize(relation)

    # -- builtins ----------------------------------------------------------------------------------
    # Request builtins answer with a tuple of rows (declared, so the compiled rules take it as it is).
    # The compiled rules pass the Request itself as ``req``; the engine passes its id.
    def _req(self, req) -> "Request | None":
        return req if req.__class__ is Request else self._requests.get(req)

    def _b_request(self, req, principal, action, resource) -> tuple:
        if req.__class__ is Request and principal is None and action is None and resource is None:
            return ((req, req.caller, req.action, req.resource),)  # as the compiled rules ask
        if req is not None:
            r = self._req(req)
            found = ((req, r),) if r is not None else ()
        else:
            found = tuple((r.id, r) for r in self._requests.values())
        return tuple((q, r.caller, r.action, r.resource) for q, r in found
                     if (principal is None or principal == r.caller) and (action is None or action == r.action)
                     and (resource is None or resource == r.resource))

    _b_request_principal_type = _request_attribute("request_principal_type")
    _b_request_identity = _request_attribute("request_identity")
    _b_request_account = _request_attribute("request_account")
    _b_request_resource_account = _request_attribute("request_resource_account")
    _b_request_session_policy = _request_attribute("request_session_policy")
    _b_request_policy_holder = _request_attribute("request_policy_holder")

    def _b_request_name(self, req, value) -> tuple:
        r = req if req.__class__ is Request else self._requests.get(req)  # Evaluator._req, inlined
        if r is None:
            return ()
        names = r.names()
        if value is None:  # (every name, as the compiled rules ask: one row a name)
            return tuple(zip(itertools.repeat(req), names))
        return ((req, value),) if value in names else ()

    def _b_principal_named(self, req, ptype, pvalue, how) -> tuple:
        r = req if req.__class__ is Request else self._requests.get(req)  # Evaluator._req, inlined
        if r is None:
            return ()
        found = self._ways(r, ptype, pvalue)
        if not found:
            return ()
        if how is None:  # (as the compiled rules ask; most entries name a principal one way)
            if len(found) == 1:
                return ((req, ptype, pvalue, found[0]),)
            return tuple([(req, ptype, pvalue, f) for f in found])
        return tuple([(req, ptype, pvalue, f) for f in found if f == how])

    def _ways(self, r: Request, ptype: str, pvalue: str) -> tuple[str, ...]:
        """:meth:`_named`, kept for the principal: how an entry names a principal depends on the
        principal alone (a CanonicalUser entry, never matched, leaves a warning on each request)."""
        if ptype == "CanonicalUser":
            return tuple(self._named(r, ptype, pvalue))
        key = (r.principal_type, r.account, r.caller, r.role, r.federating_user, ptype, pvalue)
        found = self._named_memo.get(key)
        if found is None:
            if len(self._named_memo) > _PART_LIMIT:
                self._named_memo.clear()
            found = self._named_memo[key] = tuple(self._named(r, ptype, pvalue))
        return found

    def _named(self, r: Request, ptype: str, value: str) -> list[str]:
        """How one entry of a Principal element names the request's principal (aws-semantics §1.3)."""
        out = []
        if ptype == "AWS":
            if value == "*":
                return ["any"]
            acct = value if _ACCOUNT.fullmatch(value) else None
            m = _IAM_ARN.fullmatch(value)
            if m and m.group(3) == "root" and not m.group(4):
                acct = m.group(2)
            if acct is not None and r.account == acct:
                out.append("account")
            if r.principal_type not in ("root",) and value == r.caller:
                out.append("caller")
            if r.principal_type == "assumed_role" and value == r.role:
                out.append("role")
            if r.principal_type == "federated_user" and value == r.federating_user:
                out.append("federating_user")
        elif ptype == "Service" and r.principal_type == "service" and value.lower() == r.caller.lower():
            out.append("caller")
        elif ptype == "Federated" and r.principal_type == "web_identity" and value == r.caller:
            out.append("caller")
        elif ptype == "CanonicalUser":
            r.notes.append("a CanonicalUser principal was not matched: canonical user ids are not modelled")
        return out

    def _b_action_match(self, pattern, action) -> bool:
        return wildcard_match(pattern, action, ignore_case=True)

    def _b_action_key(self, text, key) -> tuple:
        found = action_key(text)
        return ((text, found),) if found is not None and (key is None or key == found) else ()

    @staticmethod
    def _arithmetic(name: str, x, y, z, op) -> tuple:
        if type(x) is not int or type(y) is not int:
            raise IamlogicError(f"{name}({x!r}, {y!r}, _): arithmetic is on integers")
        if name == "divide" and y == 0:
            raise IamlogicError(f"divide({x!r}, 0, _): a division by zero")
        found = op(x, y)
        if not -(1 << 256) < found < (1 << 256):  # (a recursive rule that squares would fill the memory;
            # pico-USD products of the billing rules stay far below)
            raise IamlogicError(f"{name}({x!r}, {y!r}, _): the result is beyond 2^256, the range of arithmetic here")
        return ((x, y, found),) if z is None or z == found else ()

    def _b_add(self, x, y, z) -> tuple:
        return self._arithmetic("add", x, y, z, int.__add__)

    def _b_subtract(self, x, y, z) -> tuple:
        return self._arithmetic("subtract", x, y, z, int.__sub__)

    def _b_multiply(self, x, y, z) -> tuple:
        return self._arithmetic("multiply", x, y, z, int.__mul__)

    def _b_divide(self, x, y, z) -> tuple:
        return self._arithmetic("divide", x, y, z, int.__floordiv__)

    @staticmethod
    def _b_lowercase(text, low) -> tuple:
        found = text.lower() if isinstance(text, str) else None
        return ((text, found),) if found is not None and (low is None or low == found) else ()

    @staticmethod
    def _b_tag_value_matches(pattern, value) -> bool:
        """A tag policy's allowed value: the value itself, or with a final ``*`` every value that
        starts with what comes before it (case-sensitive) — AWS Organizations, tag policy syntax."""
        if pattern.endswith("*"):
            return value.startswith(pattern[:-1])
        return value == pattern

    @staticmethod
    def _b_action_service(action, service) -> tuple:
        prefix, colon, _ = action.partition(":")
        found = prefix.lower()
        return ((action, found),) if colon and (service is None or service == found) else ()

    def _b_action_changes_iam(self, action) -> bool:
        """An IAM action that is not read-only (nor iam:PassRole, which changes nothing): what AWS
        refuses on a protected role. An IAM action the catalog does not know counts as a change."""
        low = action.lower()
        if not low.startswith("iam:") or low == "iam:passrole":
            return False
        info = self.catalog.action(action)
        return info is None or info.access_level not in ("Read", "List")

    @staticmethod
    def _b_claim_matches(op, value, text) -> bool:
        """An identity pool's role-mapping rule on a claim of the token (Amazon Cognito API reference,
        MappingRule.MatchType: Equals, NotEqual, Contains, StartsWith; case-sensitive)."""
        if op == "equals":
            return text == value
        if op == "not_equals":
            return text != value
        if op == "contains":
            return value in text
        if op == "starts_with":
            return text.startswith(value)
        raise EngineError(f"unknown match type of a role-mapping rule: {op!r}")

    @staticmethod
    def _b_action_glob(pattern, scope) -> tuple:
        found = action_glob_scope(pattern)
        return ((pattern, found),) if found is not None and (scope is None or scope == found) else ()

    @staticmethod
    def _b_action_scope(action, scope) -> tuple:
        found = action_scope(action)
        return ((action, found),) if found is not None and (scope is None or scope == found) else ()

    @staticmethod
    def _b_resource_scope(pattern, scope) -> tuple:
        found = resource_scope(pattern)
        return ((pattern, found),) if scope is None or scope == found else ()

    def _b_request_resource_scope(self, req, stmt, scope) -> tuple:
        r = self._req(req)
        if r is None:
            return ()
        return tuple((req, stmt, s) for s in resource_scopes(r.resource) if scope is None or scope == s)

    @staticmethod
    def _v_request_resource_scope(vec, mask: int, stmt, scope) -> list:
        """request_resource_scope over requests decided together: (row, mask) pairs, the requests
        grouped by the scope of their resource once for the vector (its memo)."""
        groups = vec.memo.get(_SCOPES)
        if groups is None:
            groups = vec.memo[_SCOPES] = {}
            for bit, r in vec.each(vec.all):
                for s in resource_scopes(r.resource):
                    groups[s] = groups.get(s, 0) | bit
        first = vec.requests[0]
        return [((first, stmt, s), m & mask) for s, m in groups.items() if m & mask and (scope is None or scope == s)]

    def _b_resource_matches(self, req, stmt, pattern) -> bool:
        r = req if req.__class__ is Request else self._requests.get(req)  # Evaluator._req, inlined
        if r is None:
            return False
        if "$" not in pattern and "\\" not in pattern:  # plain_pattern(pattern), inline: every decision comes here
            return escaped_resource_matcher(pattern)(r.resource)
        version = self.index.versions.get(self.index.statements[stmt][0])
        try:
            escaped = substitute(pattern, self._lookup(r, stmt), version=version, wildcards=True)
        except InvalidInput:  # a variable the world does not give (Undeclared)
            if not self._may_match(r, stmt, pattern, version):
                return False  # whatever its value
            raise
        if escaped is None:
            return False
        return escaped_resource_match(escaped, r.resource)

    @staticmethod
    def _t_resource_matches(read, stmt, pattern) -> Callable[[Request], bool] | None:
        """resource_matches(req, stmt, pattern) as a function of the request alone, for the
        solver's tree of calls (whose requests are Request objects): a pattern without policy
        variables or escapes reads nothing but the request's resource; None for any other."""
        if not plain_pattern(pattern):
            return None
        matcher = escaped_resource_matcher(pattern)
        return lambda r: matcher(r.resource)

    def _t_principal_named(self, read, ptype, pvalue, how) -> Callable[[Request], tuple] | None:
        """principal_named(req, ptype, pvalue, None) as the solver's tree reads it (the columns
        ``read`` of its rows: the entry and the way), as a function of the request alone. None
        for a CanonicalUser entry (which leaves a note on the request), a way given, or other
        columns read."""
        if read != (1, 2, 3) or how is not None or ptype == "CanonicalUser":
            return None
        ways = self._ways

        def test(r: Request) -> tuple:
            found = ways(r, ptype, pvalue)
            if len(found) == 1:
                return ((ptype, pvalue, found[0]),)
            return tuple([(ptype, pvalue, way) for way in found])

        return test

    def _may_match(self, r: Request, stmt: str, pattern: str, version: str | None) -> bool:
        """Whether some value of the variables the world does not give could make ``pattern`` match
        the request's resource. Such a value is a unique id: it starts with its kind's prefix, and a
        role session's is the role's id (when declared), ``:`` and the session's name (IAM guide,
        reference_identifiers, "Unique identifiers"; reference_policies_variables). So each is read
        as that prefix and ``*``. True (cannot tell) when one stands before the ARN's resource part,
        where a value holding ``:`` would move the segments."""
        hole, known = "\x00", self._lookup(r, stmt)
        values: list[str] = []

        def lookup(key: str):
            found = r.context.get(key.lower())
            if found is None or found[1].__class__ is not Undeclared:
                return known(key)
            owner, by_role = found[1]
            kind = "user" if ":user/" in owner else "role"
            if key.lower() != "aws:userid":  # a session tag of an Identity Center user: any value
                values.append("*")
                return (hole,)
            uid = self.index.unique_ids.get(owner) or UNIQUE_ID_PREFIX[kind] + "*"
            values.append(uid if kind == "user" else uid + ":*")
            return (hole,)

        escaped = substitute(pattern, lookup, version=version, wildcards=True)
        if escaped is None:  # another variable does not resolve: the pattern matches nothing
            return False
        if escaped.count(":", 0, escaped.index(hole)) < 5:
            return True
        parts = escaped.split(hole)
        return escaped_resource_match("".join(p + v for p, v in zip(parts, values)) + parts[-1], r.resource)

    def _lookup(self, r: Request, stmt: str):
        """The policy variables' values for ``r``, as a statement reads them."""
        def lookup(key: str):
            found = r.context.get(key.lower())
            if found is None:
                return None
            if found[1].__class__ is Undeclared:
                raise _undeclared(key, found[1], self.index.statement_ref(stmt))
            info = self.catalog.condition_key(found[0])
            if (info is not None and info.multivalued) or len(found[1]) != 1:
                return None
            return found[1]

        return lookup

    def _b_condition_holds(self, req, cond) -> bool:
        r = req if req.__class__ is Request else self._requests.get(req)  # Evaluator._req, inlined
        return r is not None and bool(self._condition(r, cond).holds)

    def _t_condition_holds(self, read, cond) -> Callable[[Request], bool]:
        """condition_holds(req, cond) as a function of the request alone, for the solver's tree
        of calls (whose requests are Request objects)."""
        condition = self._condition
        return lambda r: bool(condition(r, cond).holds)

    def _condition(self, r: Request, cond: str):
        """One condition under the request's context (evaluated once per request)."""
        result = r.conditions.get(cond)
        if result is None:
            stmt, operator, key = self.index.conditions[cond]
            found = r.context.get(key.lower())
            if found is not None and found[1].__class__ is Undeclared:
                result = self._undeclared_condition(operator, cond, found[1])
                if result is None:
                    raise _undeclared(key, found[1], self.index.statement_ref(stmt))
                r.conditions[cond] = result
                return result
            # without policy variables, a condition's result depends on its key's value alone
            memo = None if cond in self.index.conditions_with_variables else (cond, found)
            result = self._condition_memo.get(memo) if memo is not None else None
            if result is None:
                version = self.index.versions.get(self.index.statements[stmt][0])
                info = self.catalog.condition_key(key)
                multivalued = info.multivalued if info is not None else bool(found and found[2])
                result = evaluate_condition(
                    operator, tuple(self.index.condition_values.get(cond, ())), found[1] if found else None,
                    multivalued=multivalued, lookup=self._lookup(r, stmt), version=version)
                if memo is not None:
                    if len(self._condition_memo) > _PART_LIMIT:
                        self._condition_memo.clear()
                    self._condition_memo[memo] = result
            r.conditions[cond] = result
        return result

    def _undeclared_condition(self, operator: str, cond: str, found: Undeclared) -> ConditionResult | None:
        """A condition on a key whose value the world does not give, decided where it can be:
        ``Null`` on a key every such request carries (``aws:userid``, ``aws:TokenIssueTime``), a
        comparison of ``aws:TokenIssueTime`` as for a request without it (a missing key the caller
        may give, as ``aws:CurrentTime``), and a condition on the ``aws:userid`` of a role given by
        its ARN when the role's id is declared and the answer is the same whatever the session's
        name (``StringNotLike "ROLE-ID:*"``); None when it is not (E507)."""
        key = self.index.conditions[cond][2].lower()
        values = tuple(self.index.condition_values.get(cond, ()))
        if key in _KNOWN_PRESENT:
            if operator.lower() == "null":  # the key is present, whatever its value
                return ConditionResult("false" in {v.lower() for v in values})
            if key == "aws:tokenissuetime":  # decided as without it, and reported missing (the caller gives it)
                return evaluate_condition(operator, values, None)
        owner, by_role = found
        uid = self.index.unique_ids.get(owner) if by_role else None
        if uid is None or self.index.conditions[cond][2].lower() != "aws:userid":
            return None
        holds = condition_on_unknown_suffix(operator, tuple(self.index.condition_values.get(cond, ())), f"{uid}:")
        return None if holds is None else ConditionResult(holds)

    def _condition_report(self, r: Request, reached: Iterable[str]) -> None:
        """Missing keys, type errors and named choices of the conditions of the statements the
        request reached (Action, Resource and Principal matched), whatever order rules ran in."""
        conditions_of = self.index.conditions_of
        for stmt in sorted(conditions_of.keys() & reached):
            for cond in conditions_of[stmt]:
                _, operator, key = self.index.conditions[cond]
                result = self._condition(r, cond)
                if result.missing_key and not self._absent(r, key.lower()):  # a key the caller could give
                    r.missing.add(key)
                for e in result.type_errors:
                    r.notes.append(f"condition {operator} {key}: {e}")
                for c in result.choices:
                    r.notes.append(f"named choice used: {c}")

    def _b_action_pattern_covers(self, pattern, action):
        for a in self.catalog.expand(pattern):
            if action is None or a == action:
                yield (pattern, a)

    def _v_principal_named(self, vec, mask: int, ptype, pvalue, how) -> list:
        """principal_named over requests decided together: they share their principal (see
        :meth:`_derive`), so the first of ``mask`` is asked for all (a CanonicalUser entry, which
        leaves a note on each request, is asked of each)."""
        if ptype == "CanonicalUser":
            return [(row, bit) for bit, r in vec.each(mask) for row in self._b_principal_named(r, ptype, pvalue, how)]
        first = vec.requests[(mask & -mask).bit_length() - 1]
        return [(row, mask) for row in self._b_principal_named(first, ptype, pvalue, how)]

    def _v_resource_matches(self, vec, mask: int, stmt, pattern) -> int:
        """resource_matches over requests decided together (Solver.solve_many): the mask of those
        of ``mask`` whose resource the pattern matches. Without variables a pattern's answer
        depends on the resource alone, and is kept for the vector's resources (its memo)."""
        if not plain_pattern(pattern):
            return sum(bit for bit, r in vec.each(mask) if self._b_resource_matches(r, stmt, pattern))
        seen = vec.memo.get(pattern)
        if seen is None:
            seen = vec.memo[pattern] = [0, 0]  # the requests asked about, those matched
        todo = mask & ~seen[0]
        if todo:
            match = escaped_resource_matcher(pattern)
            for bit, r in vec.each(todo):
                if match(r.resource):
                    seen[1] |= bit
            seen[0] |= todo
        return seen[1] & mask

    def _v_condition_holds(self, vec, mask: int, cond) -> int:
        """condition_holds over requests decided together: the mask of those of ``mask`` whose
        context the condition holds for. Without policy variables a condition's result is a
        function of its key's value (see :meth:`_condition`), so the requests are asked by value."""
        low = self.index.value_key(cond)
        if low is None:
            return sum(bit for bit, r in vec.each(mask) if self._condition(r, cond).holds)
        by_value: dict = {}  # a value of the key (None: absent) -> whether the condition holds
        out = 0
        for bit, r in vec.each(mask):
            found = r.context.get(low)
            holds = by_value.get(found)
            if holds is None:
                holds = by_value[found] = bool(self._condition(r, cond).holds)
            if holds:
                out |= bit
        return out

    def _b_request_kms_key(self, req) -> bool:
        r = self._req(req)  # (once a request: not worth inlining)
        return r is not None and r.kms_key is True  # (None: a KMS alias)

    def _b_request_unknown_role(self, req) -> bool:
        r = self._req(req)
        return r is not None and r.unknown_role

    # -- requests -------------------------------------------------------------------------------
    def resolve(self, principal: str, action: str, resource: str, context: Mapping[str, Any] | None = None,
                session_policy: Policy | None = None, federating_user: str | None = None) -> Request:
        """Read a request against the world; raises InvalidInput for a principal it cannot place."""
        with self._lock:
            return self._resolve(principal, action, resource, context, session_policy, federating_user)

    def _resolve(self, principal, action, resource, context, session_policy, federating_user,
                 req_id: str | None = None) -> Request:
        req = self._request(self._head(principal, action, federating_user), resource, context, session_policy,
                            req_id)
        req.inputs = _inputs(principal, action, resource, context, session_policy, federating_user)
        return req

    def _head(self, principal: str, action: str, federating_user: str | None) -> tuple:
        """What a request's principal and action resolve to, which the requests of a row share:
        (what the world says of the principal, see :meth:`_principal_part`; the action as the
        catalog spells it; the notes of both; the principal as given; whether the catalog lists no
        resource type for the action, which AWS then authorizes on "*" alone)."""
        # What the world says of the principal and of the resource is read once per world and kept
        # (the world of an evaluator never changes); each request gets its own copy.
        part = self._principal_parts.get((principal, federating_user))
        if part is None:
            part = self._principal_part(principal, federating_user)
        info = self.catalog.action(action)
        if info is not None:
            return part, info.name, part[6], principal, not info.resource_types
        one_action(action)
        suggestion = self.catalog.suggest_action(action)
        return part, action, (*part[6], f"unknown action {action!r}: not in the AWS catalog"
                                        + (f" ({suggestion})" if suggestion else "")), principal, False

    def _request(self, head: tuple, resource, context, session_policy, req_id: str | None = None) -> Request:
        """A request on ``resource`` by the principal and action of ``head`` (:meth:`_head`); its
        ``inputs`` are left to the caller."""
        return self._row_requests(head, (resource,), context, session_policy, req_id)[0]

    def _row_requests(self, head: tuple, resources: Sequence[str], context, session_policy,
                      req_id: str | None = None) -> list[Request]:
        """:meth:`_request` on each of ``resources`` (a row of an access matrix is made here)."""
        (caller, ptype, account, identity, role, fed, _, pre, post), action, notes, principal, bare = head
        parts, resource_part = self._resource_parts, self._resource_part
        kms_action = action.startswith("kms:") and action not in _ALIAS_ACTIONS
        reads_tags = None
        out = []
        for resource in resources:
            rpart = parts.get(resource) or parts.get((resource, account)) or resource_part(resource, account)
            holder, owner, kms_key, unknown_role, rnotes, rctx, object_tags = rpart
            if kms_key is None and kms_action:
                raise InvalidInput([Diagnostic("E513", f"unsupported: {action} on a KMS alias ({resource}): KMS "
                                                       "authorizes it on the key the alias names, under the key's "
                                                       "policy, and the world does not map aliases to keys; ask on "
                                                       "the key's ARN")])
            ctx = {**pre, **rctx, **post}
            if object_tags:
                if reads_tags is None:
                    reads_tags = self._reads_object_tags(action)
                if not reads_tags:
                    for key in object_tags:
                        del ctx[key]
            # every field in one call; the context: the keys the world derives (principal,
            # resource), then the caller's (_given)
            out.append(Request(f"req{next(self._counter)}" if req_id is None else req_id, caller, action, resource,
                               ptype, account, identity, role, fed, owner, None, holder, kms_key, unknown_role, ctx,
                               set(), [*notes, *rnotes], {}))
        if bare:  # an action on no particular resource
            for req in out:
                if req.resource != "*":
                    req.notes.append(f"{action} acts on no particular resource (the AWS catalog lists no resource "
                                     f"type for it): AWS authorizes it on \"*\", so only a statement whose Resource "
                                     f"matches \"*\" allows it; this answer is for {req.resource}, a request AWS "
                                     "does not make — ask on \"*\"")
        cognito = role is not None and role in self.index.cognito_roles
        if session_policy is None and not context and not cognito:
            return out
        if session_policy is not None:
            if ptype not in ("assumed_role", "federated_user"):
                raise InvalidInput([Diagnostic("E501", f"a session policy needs a session principal (an assumed-role "
                                                       f"or federated-user ARN), not {principal}")])
            added = self._add_session_policy(session_policy)
            for req in out:
                req.session_policy = added
                req.notes += self._session_warnings.get(added, ())
        reading = None  # the context given, as _given reads it (the same for every request of the row)
        for req in out:
            given = context
            if cognito:
                if principal in self.index.cognito_identities:  # an identity: its session of the enhanced flow
                    given = {**(given or {}), COGNITO_SUB: principal}
                    by_role = False
                else:
                    by_role = principal != caller
                given = self._cognito_session(req, by_role, given or {})
            if given:
                if given is context and reading is None:
                    # most callers give few distinct contexts: each of single values is read once
                    # (keyed with the values' types, since True == 1 and the two read differently;
                    # a list or tuple, whose items could differ so, is read each time)
                    key = None
                    types = tuple(map(type, context.values()))
                    if _SCALARS.issuperset(types):
                        key = (tuple(context.items()), types)
                        reading = self._given_reads.get(key)
                    if reading is None:
                        read = self._read_given(context)
                        reading = (read, _plain_keys(read))
                        if key is not None:
                            if len(self._given_reads) >= _GIVEN_LIMIT:
                                self._given_reads.clear()
                            self._given_reads[key] = reading
                if given is context:
                    self._given(req, given, *reading)
                else:
                    self._given(req, given)
        return out

    def _principal_part(self, principal: str, federating_user: str | None) -> tuple:
        """What the world says of a principal (its type, identity, account, notes, context keys),
        kept for the evaluator."""
        probe = Request("", principal, "", "", "")
        self._principal(probe, principal, federating_user)
        by_role = (probe.principal_type == "assumed_role" and probe.caller != principal  # a role ARN or name
                   and principal not in self.index.cognito_identities)
        pre, post = self._principal_context(probe, by_role)
        part = (probe.caller, probe.principal_type, probe.account, probe.identity, probe.role,
                probe.federating_user, tuple(probe.notes), pre, post)
        if len(self._principal_parts) > _PART_LIMIT:
            self._principal_parts.clear()
        self._principal_parts[(principal, federating_user)] = part
        return part

    def _principal(self, req: Request, text: str, federating_user: str | None) -> None:
        idx = self.index
        if text.startswith(("arn:aws-", "arn:*")) and not re.match(r"arn:aws:iam::[0-9]{12}:(saml|oidc)-provider/", text):
            raise InvalidInput([Diagnostic("E513", f"unsupported: a principal of partition {text.split(':')[1]} "
                                                   f"({text}); the world is of the aws partition")])
        if text in ("anonymous", "*"):
            req.principal_type, req.caller = "anonymous", "anonymous"
            return
        m = _IAM_ARN.fullmatch(text)
        if m:
            acct, kind, rest = m.group(2), m.group(3), m.group(4)
            req.account = acct
            if kind == "root":
                req.principal_type, req.identity = "root", f"arn:aws:iam::{acct}:root"
                return
            if text not in idx.principals:
                self._unknown_principal(req, text, acct)
                req.principal_type = "user" if kind == "user" else "assumed_role"
                req.identity = text if kind == "user" else None
                if kind == "role":
                    req.role = text
                    req.caller = f"arn:aws:sts::{acct}:assumed-role/{rest.rsplit('/', 1)[-1]}/iamlogic"
                return
            if kind == "user":
                req.principal_type, req.identity = "user", text
            else:  # a role acts through a session: evaluate as one without session policy
                req.principal_type, req.identity, req.role = "assumed_role", text, text
                req.caller = f"arn:aws:sts::{acct}:assumed-role/{idx.names[text][0]}/iamlogic"
                req.notes.append(f"a role acts through a session: evaluated as {req.caller}")
            return
        m = _STS_ARN.fullmatch(text)
        if m:
            acct, kind, rest = m.group(2), m.group(3), m.group(4)
            req.account = acct
            if kind == "assumed-role":
                if "/" not in rest:
                    raise InvalidInput([Diagnostic("E502", f"an assumed-role ARN names a role and a session: "
                                                           f"arn:aws:sts::{acct}:assumed-role/ROLE/SESSION, not {text}")])
                role_name = rest.split("/", 1)[0]
                role = idx.roles_by_name.get((acct, role_name))
                req.principal_type = "assumed_role"
                if role is None:
                    self._unknown_principal(req, f"role {role_name}", acct)
                    role = f"arn:aws:iam::{acct}:role/{role_name}"
                req.identity, req.role = role, role
            else:
                req.principal_type = "federated_user"
                federating_user = self._federating_user(text, acct, federating_user)
                if federating_user not in idx.principals:
                    self._unknown_principal(req, federating_user, acct)
                req.identity = req.federating_user = federating_user
            return
        if text in idx.cognito_identities:  # a declared identity: the session the enhanced flow gives it
            req.caller = self._cognito_enhanced_session(text)
            self._principal(req, req.caller, federating_user)
            return
        if _ACCOUNT.fullmatch(text):
            req.principal_type, req.account, req.identity = "root", text, f"arn:aws:iam::{text}:root"
            req.caller = req.identity
            return
        if text in _WEB_IDENTITY_PROVIDERS or re.fullmatch(r"arn:aws[a-z-]*:iam::[0-9]{12}:(saml|oidc)-provider/.+", text):
            req.principal_type = "web_identity"
            return
        if re.fullmatch(r"[a-z0-9.-]+\.amazonaws\.com(\.cn)?", text):
            req.principal_type = "service"
            return
        # a unique user or role name
        found = [p for p, (name, _) in idx.names.items() if name == text]
        if len(found) == 1:
            req.caller = found[0]
            self._principal(req, found[0], federating_user)
            return
        names = sorted({n for n, _ in idx.names.values()})
        from .grammar.diagnostics import did_you_mean

        why = "is ambiguous: " + ", ".join(sorted(found)) if found else "is not a principal of the world"
        raise InvalidInput([Diagnostic("E504", f"principal {text!r} {why}",
                                       help=did_you_mean(text, names) if not found else "give the ARN")])

    def _federating_user(self, session: str, acct: str, given: str | None) -> str:
        """The ARN of the IAM user who called GetFederationToken for a federated-user session of
        account ``acct``: given as an ARN or as the name of a user of that account. AWS STS takes
        only an IAM user's long-term credentials (or the root user's, not modelled) for it."""
        if given is None:
            raise InvalidInput([Diagnostic(
                "E503", f"a federated-user session ({session}) needs the IAM user that called "
                        "GetFederationToken (federating_user / --federating-user)")])
        if not given.startswith("arn:"):
            found = self.index.users_by_name.get((acct, given))
            if found is None:
                from .grammar.diagnostics import did_you_mean

                names = sorted(n for a, n in self.index.users_by_name if a == acct)
                raise InvalidInput([Diagnostic("E504", f"federating user {given!r} is not a user of account {acct}",
                                               help=did_you_mean(given, names) or "give the user's ARN")])
            return found
        m = _IAM_ARN.fullmatch(given)
        if m and m.group(2) == acct and m.group(3) == "root":
            raise InvalidInput([Diagnostic("E503", f"unsupported: a federated-user session of the root user "
                                                   f"({given}) is not modelled")])
        if not m or m.group(2) != acct or m.group(3) != "user":
            raise InvalidInput([Diagnostic(
                "E503", f"{given} cannot have federated {session}: GetFederationToken takes the long-term "
                        f"credentials of an IAM user of account {acct}",
                help=f"give a user of account {acct}, by its ARN or its name (AWS STS API reference, "
                     "GetFederationToken)")])
        return given

    def _unknown_principal(self, req: Request, what: str, acct: str) -> None:
        if acct in self.index.accounts:
            from .grammar.diagnostics import did_you_mean

            names = [p for p, (_, a) in self.index.principals.items() if a == acct]
            raise InvalidInput([Diagnostic("E504", f"{what} is not a principal of account {acct}",
                                           help=did_you_mean(what, names))])
        req.notes.append(f"account {acct} is not in the world: the identity policies of {what} are unknown "
                         "and evaluated as none")

    def _holder(self, resource: str) -> str:
        """The resource whose policy governs requests on ``resource``: an S3 object's bucket (the
        object declared or not: objects have no policy of their own)."""
        if resource.startswith("arn:") and ":s3:::" in resource and "/" in resource:
            bucket = resource.split("/", 1)[0]
            if bucket in self.index.resources:
                return bucket
        return resource

    def _resource_part(self, resource: str, account: str | None) -> tuple:
        """The policy holder, the owner account, notes and context keys of a resource, for a principal
        of ``account`` (the owner of a resource the world does not place), kept for the evaluator."""
        idx, notes, ctx = self.index, [], {}
        if resource.startswith("arn:aws:s3:::") and "/" in resource and "*" not in resource and "?" not in resource \
                and resource not in idx.resources and resource not in idx.resource_tags:
            # an object the world does not declare, without tags of its own (facts given to an
            # evaluator may tag what they do not declare), of a bucket the world declares:
            # all that follows reads the bucket alone (holder, owner, keys), so it gets the
            # bucket's part (a service checking rows meets a new object on most requests). Its
            # ARN is well-formed: its first five parts are the bucket's, and its resource part
            # is not empty.
            bucket = resource.split("/", 1)[0]
            if idx.resources.get(bucket) is not None:
                part = self._resource_parts.get(bucket) or self._resource_part(bucket, account)
                if len(self._resource_parts) > _PART_LIMIT:
                    self._resource_parts.clear()
                self._resource_parts[resource] = part
                return part
        if resource != "*" and resource not in idx.principals and isinstance(problem := parse_arn(resource), str):
            raise InvalidInput([Diagnostic("E513", f"the resource of a request is an ARN or *: {resource!r}: {problem}")])
        partition = resource.split(":")[1] if resource.startswith("arn:") else "aws"
        if partition != "aws" and "*" not in partition and "?" not in partition:
            raise InvalidInput([Diagnostic("E513", f"unsupported: a resource of partition {partition} "
                                                   f"({resource}); the world's principals are of the aws partition, "
                                                   "and no request crosses partitions")])
        if resource != "*" and ("*" in resource or "?" in resource):
            notes.append(f"the resource {resource} holds a wildcard: a request names one resource, so this answer is "
                         "for a resource of that literal name, not for every resource it covers (a statement on "
                         "some of them, such as a Deny on a narrower pattern, does not match it); ask on each "
                         "resource")
        holder = self._holder(resource)
        owner = idx.resources.get(holder)
        if owner is None and resource in idx.principals:
            owner = idx.principals[resource][1]
        if owner is None:
            parts = resource.split(":", 5)
            if len(parts) == 6 and _ACCOUNT.fullmatch(parts[4]):
                owner = parts[4]
        key = resource  # what follows depends on the principal's account only when the owner is unknown
        if owner is None:
            key = (resource, account)
            if account is not None:
                owner = account
                if resource != "*":
                    notes.append(f"the owner of {resource} is not in the world or its ARN: taken to be the "
                                 f"principal's account {account}")

        def put(key: str, value: Any) -> None:
            values, as_list = context_values(value)
            ctx[key.lower()] = (key, values, as_list)

        if owner is not None:  # the keys of the owner account, the same for each of its resources
            on_s3 = resource.startswith("arn:aws:s3:::")
            owned = self._owner_keys.get((owner, on_s3))
            if owned is None:
                put("aws:ResourceAccount", owner)
                if on_s3:
                    put("s3:ResourceAccount", owner)  # the bucket owner's (S3 condition keys)
                if owner in idx.account_org:
                    put("aws:ResourceOrgID", idx.account_org[owner])
                    put("aws:ResourceOrgPaths", [idx.org_path(owner)])
                if len(self._owner_keys) > _PART_LIMIT:
                    self._owner_keys.clear()
                self._owner_keys[(owner, on_s3)] = dict(ctx)
            else:
                ctx.update(owned)
        service = resource.split(":")[2] if resource.count(":") >= 5 else None
        object_tags: tuple[str, ...] = ()
        if resource.startswith("arn:aws:s3:::"):
            # S3 evaluates aws:ResourceTag against a general purpose bucket's tags, for requests on
            # the bucket and on its objects, only once ABAC is enabled on the bucket (S3 user guide,
            # buckets-tagging.html); an object's own tags are s3:ExistingObjectTag, which S3 gives
            # only the actions that list it (GetObject, not PutObject or DeleteObject: _request)
            bucket = resource.split("/", 1)[0]
            tags = idx.resource_tags.get(bucket, ()) if bucket in idx.abac_buckets else ()  # (W308)
            if bucket != resource:
                for k, v in idx.resource_tags.get(resource, ()):
                    put(f"s3:ExistingObjectTag/{k}", v)
                    object_tags += (f"s3:existingobjecttag/{k.lower()}",)
        else:
            tags = idx.resource_tags.get(resource) or idx.principal_tags.get(resource, ())
        for k, v in tags:
            put(f"aws:ResourceTag/{k}", v)
            if service and service not in ("aws", "s3"):
                put(f"{service}:ResourceTag/{k}", v)
        # the holder only when a policy of it can govern the request: the rules read no more of the
        # resource than they need (see rules/20-policies.dl)
        if holder not in idx.policy_holders and idx.principals.get(holder, ("",))[0] != "role":
            holder = None
        unknown_role = resource not in idx.principals and bool(_ROLE_ARN.fullmatch(resource))
        # (a KMS alias: None, see _request)
        kms_key = True if _KMS_KEY.fullmatch(resource) else None if _KMS_ALIAS.fullmatch(resource) else False
        part = holder, owner, kms_key, unknown_role, tuple(notes), ctx, object_tags
        if len(self._resource_parts) > _PART_LIMIT:
            self._resource_parts.clear()
        self._resource_parts[key] = part
        return part

    def _add_session_policy(self, policy: Policy) -> str:
        from .grammar.json_policy import policy_to_json
        import json

        digest = hashlib.sha1(json.dumps(policy_to_json(policy), sort_keys=True).encode()).hexdigest()[:12]
        pol_id = f"{REQUEST_POLICY}{digest}"
        if pol_id not in self.index.policies:
            from .validate import validate_policy

            found = validate_policy(policy, "session", catalog=self.catalog)
            errors = [d for d in found if d.code.startswith("E")]
            if errors:  # not a session policy AWS STS would take (a Principal element, …)
                raise InvalidInput(errors)
            self._session_warnings[pol_id] = tuple(f"session policy: {d.code}: {d.message}" for d in found)
            facts = list(policy_facts(pol_id, "session", "session policy", policy))
            self.index.add_policy(pol_id, facts)
            if self._engine is not None:
                self._engine.add_facts(facts)
            self._solver = None
            self.decisions.clear()
        return pol_id

    def _principal_context(self, req: Request, by_role: bool) -> tuple[dict, dict]:
        """The context keys the world determines for the principal: those that AWS sets before
        the resource's keys, and those after them. ``by_role``: the principal was given as a role,
        whose session (and its name) is not known."""
        idx, pre, post = self.index, {}, {}

        def put(ctx: dict, key: str, value: Any) -> None:
            values, as_list = context_values(value)
            ctx[key.lower()] = (key, values, as_list)

        t = req.principal_type
        if t in ("user", "assumed_role", "federated_user", "root"):
            arn = {"user": req.identity, "assumed_role": req.role, "root": req.identity,
                   "federated_user": req.caller}[t]
            put(pre, "aws:PrincipalArn", arn)
            put(pre, "aws:PrincipalAccount", req.account)
            put(pre, "aws:PrincipalType", {"user": "User", "assumed_role": "AssumedRole",
                                           "federated_user": "FederatedUser", "root": "Account"}[t])
            put(pre, "aws:PrincipalIsAWSService", "false")
            if req.account in idx.account_org:
                put(pre, "aws:PrincipalOrgID", idx.account_org[req.account])
                put(pre, "aws:PrincipalOrgPaths", [idx.org_path(req.account)])
            if t == "user":
                put(pre, "aws:username", idx.names.get(req.identity, (req.identity.rsplit("/", 1)[-1],))[0])
            if t in ("user", "assumed_role", "federated_user"):  # a federated user's are its IAM user's
                for k, v in idx.principal_tags.get(req.identity, ()):
                    put(pre, f"aws:PrincipalTag/{k}", v)
            if t == "assumed_role" and req.role in idx.sso_roles:
                self._sso_session(req, by_role, pre)
        elif t == "service":
            put(pre, "aws:PrincipalIsAWSService", "true")
            put(pre, "aws:PrincipalServiceName", req.caller)
        elif t == "anonymous":
            put(pre, "aws:PrincipalType", "Anonymous")
        if t == "anonymous":
            put(post, "aws:userid", "anonymous")
        elif t == "root":
            put(post, "aws:userid", req.account)
        elif t == "federated_user":
            put(post, "aws:userid", f"{req.account}:{req.caller.rsplit('/', 1)[-1]}")
        elif t in ("user", "assumed_role"):
            # a user's unique id; a role session's is the role's, then the session's name (IAM guide:
            # reference_policies_variables, "Information available in requests")
            owner = req.identity if t == "user" else req.role
            uid = idx.unique_ids.get(owner)
            if by_role or uid is None:
                post["aws:userid"] = ("aws:userid", Undeclared((owner, by_role)), False)
            else:
                put(post, "aws:userid", uid if t == "user" else f"{uid}:{req.caller.rsplit('/', 1)[-1]}")
        if t in ("assumed_role", "federated_user"):
            # temporary credentials sign a session's requests: AWS sets the time they were issued (IAM
            # guide, reference_policies_condition-keys, aws:TokenIssueTime), which the world does not
            # know (Null on it is decided; a comparison reads the caller's value, else none)
            post["aws:tokenissuetime"] = ("aws:TokenIssueTime", Undeclared((req.caller, False)), False)
        return pre, post

    def _sso_session(self, req: Request, by_role: bool, pre: dict) -> None:
        """The session tags of a session of a role IAM Identity Center provisions: the attributes for
        access control of the user it is named for (IAM Identity Center user guide, configure-abac).
        Its sessions are its assigned users' only. For the role given as the principal, whose user is
        not known, each such tag is a value the world does not give (E507 when a policy reads it)."""
        idx = self.index
        org = idx.sso_roles[req.role]
        if by_role:
            for k in idx.sso_attributes.get(org, ()):
                pre[f"aws:principaltag/{k}".lower()] = (f"aws:PrincipalTag/{k}", Undeclared((req.role, True)), False)
            return
        user = req.caller.rsplit("/", 1)[-1]
        if user not in idx.sso_signin.get(req.role, ()):
            users = sorted(idx.sso_signin.get(req.role, ()))
            raise InvalidInput([Diagnostic(
                "E508", f"{req.caller} is not a session IAM Identity Center can create: '{user}' is not assigned the "
                        f"permission set of {req.role}",
                help=f"its users: {', '.join(users)}" if users else "no user is assigned its permission set")])
        for k, v in idx.sso_session_tags.get((org, user), ()):
            pre[f"aws:principaltag/{k}".lower()] = (f"aws:PrincipalTag/{k}", (v,), False)

    @staticmethod
    def _sso_given(req: Request, given: Mapping[str, Any]) -> dict[str, Any]:
        """The caller's context keys but the session tags, which IAM Identity Center sets."""
        out = {}
        for key, value in given.items():
            if key.lower().startswith("aws:principaltag/"):
                req.notes.append(f"context key {key} is set by IAM Identity Center for its sessions; the value "
                                 "given was not used")
            else:
                out[key] = value
        return out

    def _cognito_session(self, req: Request, by_role: bool, given: Mapping[str, Any]) -> dict[str, Any]:
        """The keys Amazon Cognito sets in a session of a role it gives identities:
        ``cognito-identity.amazonaws.com:sub`` (the identity), ``:aud`` (its pool), ``:amr``
        (``unauthenticated``, or ``authenticated``, its provider and the entries the world declares).
        The identity is the one the caller names by ``…:sub``; the flow is the session's name:
        ``CognitoIdentityCredentials`` for the enhanced flow, any other for the basic flow.
        Raises E509 for a session Amazon Cognito does not create (an identity the world does not
        declare, a role the pool does not give it, a trust policy that does not admit its token),
        E512 for one whose role or session policy the world does not determine. Returns the
        caller's keys but Cognito's."""
        idx, rest, sub = self.index, {}, None
        for key, value in given.items():
            low = key.lower()
            if low == COGNITO_SUB:
                sub = value
            elif low.startswith(f"{COGNITO}:"):
                req.notes.append(f"context key {key} is set by Amazon Cognito from the identity; the value given "
                                 "was not used")
            else:
                rest[key] = value
        if sub is None:  # an identity not named: each key is a value the world does not give (E507 when read)
            for key in COGNITO_KEYS:
                req.context[key.lower()] = (key, Undeclared((req.role, by_role)), key == COGNITO_AMR)
            return rest

        def refuse(code: str, what: str, help: str | None = None) -> InvalidInput:
            return InvalidInput([Diagnostic(code, what, help=help)])

        found = idx.cognito_identities.get(sub) if isinstance(sub, str) else None
        if found is None:
            raise refuse("E509", f"{sub!r} is not an identity of an identity pool of the world; the sessions of "
                                 f"{req.role} are Amazon Cognito's", "declare it in its pool: identity \"…\" via "
                                 "\"PROVIDER\" (or guest)")
        if by_role:
            raise refuse("E509", f"which session of {req.role} identity {sub} has depends on the flow",
                         "give the session as the principal: arn:aws:sts::ACCOUNT:assumed-role/ROLE/"
                         f"{COGNITO_SESSION} (the enhanced flow) or another session name (the basic flow)")
        self._cognito_token(sub)
        pool, provider = found
        pool_acct, name, classic, _ = idx.cognito_pools[pool]
        login = "a guest" if provider == "" else f"signed in through {provider}"
        if req.caller.rsplit("/", 1)[-1] == COGNITO_SESSION:  # the enhanced flow: the pool chooses the role
            self._cognito_claims_known(sub)
            roles = idx.cognito_enhanced.get(sub, frozenset())
            if req.role not in roles:
                raise refuse("E509", f"{req.caller} is not a session Amazon Cognito creates for identity {sub} "
                                     f"({login}): identity pool '{name}' gives it "
                                     + (", ".join(sorted(roles)) if roles else "no role"),
                              "the basic flow (a session not named CognitoIdentityCredentials) lets the app choose "
                              "the role" if classic else None)
            if req.session_policy is not None:
                raise refuse("E509", "Amazon Cognito's enhanced flow takes no session policy from the caller")
            if provider == "":
                if idx.cognito_guest_policy is None:
                    raise refuse("E512", f"unsupported: Amazon Cognito limits a guest's session by AWS's "
                                         f"{COGNITO_GUEST_POLICY}, which the world does not declare",
                                 f"declare its current version: aws policy {COGNITO_GUEST_POLICY} {{ … }} (AWS "
                                 "managed policy reference)")
                req.session_policy = idx.cognito_guest_policy
        elif not classic:
            raise refuse("E509", f"identity pool '{name}' does not allow the basic (classic) flow: its sessions are "
                                 f"named {COGNITO_SESSION}", "add classic_flow to the pool, or name the session "
                                                              f"{COGNITO_SESSION}")
        elif idx.principals[req.role][1] != pool_acct and req.role not in idx.cognito_conditioned:
            raise refuse("E509", f"AWS STS refuses the basic flow into {req.role}, a role of another account than "
                                 f"identity pool '{name}', unless its trust policy has conditions on {COGNITO_AUD} "
                                 f"and {COGNITO_AMR} (Amazon Cognito developer guide: "
                                 "identity-pools-security-best-practices)")
        keys = self.cognito_keys(sub)
        trust = self._cognito_trust.get((req.role, sub))
        if trust is None:
            trust = self._cognito_trust[(req.role, sub)] = self.decide_one(
                COGNITO, "sts:AssumeRoleWithWebIdentity", req.role, keys)
        if trust.decision != "Allow":
            raise refuse("E509", f"the trust policy of {req.role} does not let Amazon Cognito give it to identity "
                                 f"{sub} ({login}): sts:AssumeRoleWithWebIdentity is {trust.decision}",
                         f"why not {COGNITO} sts:AssumeRoleWithWebIdentity {req.role} with "
                         + ", ".join(f"{k}={v}" if isinstance(v, str) else f"{k}=[{', '.join(v)}]"
                                     for k, v in keys.items()))
        for key, value in keys.items():
            values, as_list = context_values(value, key)
            req.context[key] = (key, values, as_list)
        return rest

    def _cognito_claims_known(self, identity: str) -> None:
        """Raises E512 when the role the enhanced flow gives ``identity`` rests on a not_equals rule
        on a claim its token lacks."""
        claims = self.index.cognito_unknown_claims.get(identity)
        if claims:
            pool = self.index.cognito_pools[self.index.cognito_identities[identity][0]]
            raise InvalidInput([Diagnostic(
                "E512", f"unsupported: identity pool '{pool[1]}' has a not_equals rule on {claims[0]}, which the "
                        f"token of identity {identity} lacks; AWS does not document the outcome",
                help="declare the claim on the identity (claims { … })")])

    def _cognito_token(self, identity: str) -> None:
        """Raises E509 when ``identity`` is a user of a user pool who cannot sign in to it: Amazon
        Cognito gives it no token, so no session (``cognito_identity_blocked``, 16-cognito.dl)."""
        why = self.index.cognito_blocked.get(identity)
        if why:
            raise InvalidInput([Diagnostic(
                "E509", f"identity {identity} gets no credentials: its user pool user cannot sign in "
                        f"({', '.join(why)}), so it has no token to give its identity pool")])

    def _cognito_enhanced_session(self, identity: str) -> str:
        """The session the enhanced flow gives a declared identity:
        ``arn:aws:sts::ACCT:assumed-role/ROLE/CognitoIdentityCredentials``."""
        idx = self.index
        self._cognito_token(identity)
        self._cognito_claims_known(identity)
        roles = idx.cognito_enhanced.get(identity)
        if not roles:
            pool, provider = idx.cognito_identities[identity]
            raise InvalidInput([Diagnostic(
                "E509", f"identity pool '{idx.cognito_pools[pool][1]}' gives identity {identity} "
                        f"({'a guest' if provider == '' else 'signed in through ' + provider}) no role")])
        (role,) = roles  # the enhanced flow gives one role: the first rule that matches, or a default
        return f"arn:aws:sts::{idx.principals[role][1]}:assumed-role/{idx.names[role][0]}/{COGNITO_SESSION}"

    def cognito_basic_roles(self, identity: str) -> tuple[str, ...]:
        """The roles a declared identity can take in the basic flow: none when its pool does not
        allow it, else each role whose basic-flow session of the identity Amazon Cognito and AWS STS
        create (see :meth:`_cognito_session`)."""
        idx = self.index
        if identity in self._cognito_basic:
            return self._cognito_basic[identity]
        out: list[str] = []
        classic = idx.cognito_pools[idx.cognito_identities[identity][0]][2]
        for role in sorted(idx.cognito_roles) if classic else ():
            session = f"arn:aws:sts::{idx.principals[role][1]}:assumed-role/{idx.names[role][0]}/basic-flow"
            try:
                self.resolve(session, "sts:GetCallerIdentity", "*", {COGNITO_SUB: identity})
            except InvalidInput:  # a session they do not create (E509)
                continue
            out.append(role)
        found = self._cognito_basic[identity] = tuple(out)
        return found

    def cognito_keys(self, identity: str) -> dict[str, Any]:
        """The keys of the token Amazon Cognito issues a declared identity: ``…:sub`` (the identity),
        ``…:aud`` (its pool), ``…:amr`` (``unauthenticated``, or ``authenticated``, its provider and
        the entries the world declares)."""
        pool, provider = self.index.cognito_identities[identity]
        amr = ["unauthenticated"] if provider == "" else ["authenticated", provider,
                                                         *self.index.cognito_amr.get(identity, ())]
        return {COGNITO_SUB: identity, COGNITO_AUD: pool, COGNITO_AMR: amr}

    def _read_given(self, given: Mapping[str, Any], check: bool = True) -> tuple[tuple, ...]:
        """The caller's context keys as :meth:`_given` reads them (the same for every request of a
        row): (key, in lower case, values, given as a list, what :meth:`_key_kind` says of it).
        ``check``: E514 for a key given twice."""
        lows = [key.lower() for key in given]
        if check and len(set(lows)) != len(lows):  # condition keys are case-insensitive
            seen: dict[str, str] = {}
            for key in given:
                if seen.setdefault(key.lower(), key) != key:
                    raise InvalidInput([Diagnostic("E514", f"context key {key} is given twice (as {seen[key.lower()]}): "
                                                           "condition key names are case-insensitive")])
        kinds = self._key_kinds
        out = []
        for (key, value), low in zip(given.items(), lows):
            if value.__class__ is str:  # (context_values of a string, inline: most values are one)
                values, as_list = (value,), False
            else:
                values, as_list = context_values(value, key)
            kind = kinds.get(low)
            if kind is None:
                kind = kinds[low] = self._key_kind(key)
            out.append((key, low, values, as_list, kind))
        return tuple(out)

    def _given(self, req: Request, given: Mapping[str, Any], read: tuple[tuple, ...] | None = None,
               plain: dict | None = None) -> None:
        """The caller's context keys, added to the keys the world derives for the request
        (principal, resource): they win where the world does not determine the key. ``read``:
        :meth:`_read_given` of ``given``, when the caller has it, and ``plain``: its
        :func:`_plain_keys`."""
        ctx = req.context
        # The caller supplies what the world cannot: environment keys, session tags (which override
        # the principal's tags), tags of resources the world does not declare. Properties of the
        # principal and the resource that the world determines cannot be overridden.
        if plain is not None and ctx.keys().isdisjoint(plain):
            # the usual: no key given asks for more than the loop below's last line (nor does one
            # of an Identity Center session: those it drops, principal tags, are never plain)
            ctx.update(plain)
        else:
            if read is None:
                read = self._read_given(given)
            if req.role in self.index.sso_roles:  # its session tags are Identity Center's
                read = self._read_given(self._sso_given(req, given), check=False)
            derived = set(ctx)
            for key, low, values, as_list, kind in read:
                if kind or low in derived:  # (most keys: known to the catalog, the caller's to give, not derived)
                    if req.principal_type == "assumed_role" and low.startswith("aws:principaltag/") and \
                            not self._session_tags(req):
                        req.notes.append(f"session tag {key} not used: the trust policy of {req.role} does not allow "
                                         "sts:TagSession, and AWS STS refuses a session with tags it does not allow")
                        continue
                    if low in derived and ctx[low][1].__class__ is not Undeclared and not (
                            low.startswith("aws:principaltag/")
                            and req.principal_type in ("assumed_role", "federated_user")):
                        if values != ctx[low][1]:  # (a session's tags win)
                            req.notes.append(f"context key {key} is determined by the world "
                                             f"({', '.join(ctx[low][1])}); the value given was not used")
                        continue
                    if kind and kind[0]:
                        req.notes.append(kind[0])
                    if kind and kind[1] and low not in derived and self._absent(req, low):
                        why = ("only when a service calls on behalf of a resource's owner"
                               if low in SERVICE_SOURCE_KEYS else
                               "only in a role session whose AssumeRole call set it" if low == SOURCE_IDENTITY_KEY
                               else "from the principal or the resource")
                        req.notes.append(f"context key {key} is not the caller's to give (AWS sets it {why}, and the "
                                         "world says this request does not carry it); the value given was not used")
                        continue
                    if low in ("aws:principalorgid", "aws:principalorgpaths") and req.account in self.open_accounts \
                            and not all(_outside_org(v, self.index.orgs) for v in values):
                        req.notes.append(f"context key {key}: account {req.account} stands for an account outside the "
                                         "world, in another organization than the world's, with an id of its form "
                                         "(o- and 10 to 32 lower-case letters or digits); the value given was not used")
                        continue
                ctx[low] = (key, values, as_list)
        if req.action.startswith("sts:AssumeRole"):  # what the call passes along, AWS authorizes apart
            lows = {low for _, low, *_ in read}
            if any(k.startswith("aws:requesttag/") or k in ("aws:tagkeys", "sts:transitivetagkeys") for k in lows):
                req.notes.append("the call passes session tags: AWS also authorizes sts:TagSession on the role for "
                                 "it (the role's trust policy must allow it), which this decision does not include; "
                                 "ask sts:TagSession too")
            if "sts:sourceidentity" in lows:
                req.notes.append("the call sets a source identity: AWS also authorizes sts:SetSourceIdentity on the "
                                 "role for it (the role's trust policy must allow it), which this decision does not "
                                 "include; ask sts:SetSourceIdentity too")

    def _key_kind(self, key: str) -> tuple[str | None, bool] | int:
        """What :meth:`_given` checks of a context key given: 0 when nothing; else the warning for a
        key the AWS catalog does not know (a typo is no key at all: a condition on the key meant
        reads it as absent), or None, and whether the world may say that the request does not
        carry the key (:meth:`_absent`)."""
        low = key.lower()
        warning = None
        if self.catalog.condition_key(key) is None:
            hint = self.catalog.suggest_condition_key(key)
            warning = f"unknown context key {key!r}: not in the AWS catalog" + (f" ({hint})" if hint else "")
        closed = low in _AWS_SET or low in SERVICE_SOURCE_KEYS or low == SOURCE_IDENTITY_KEY or \
            low.startswith("aws:principaltag/") or "resourcetag/" in low or low.startswith("s3:existingobjecttag/")
        return (warning, closed) if warning or closed else 0

    def _session_tags(self, req: Request) -> bool:
        """Whether a role session may carry the session tags given: its role's trust policy allows
        sts:TagSession (AWS STS refuses the session otherwise), or the world does not declare the
        role, or Amazon Cognito or an account an analysis adds for the outside world makes it."""
        idx = self.index
        return req.role not in idx.principals or req.role in idx.tag_session_roles or \
            req.role in idx.cognito_roles or req.account in self.open_accounts

    def _absent(self, req: Request, low: str) -> bool:
        """Whether a key the request does not carry is one the caller cannot supply because the
        world says AWS does not set it: a key AWS alone sets from the principal or the resource
        (:data:`_AWS_SET`; the organization keys of an account the world does not declare stay the
        caller's to give), a principal tag of a caller that is not a session (a session's tags are
        the caller's to pass; so are the tags of a user the world does not declare), a tag of a
        resource the world declares; the source of a call (aws:SourceArn, …) that no service makes,
        the source identity of a caller that is not a role session."""
        idx, t = self.index, req.principal_type
        if low in ("aws:principalorgid", "aws:principalorgpaths"):
            return t in ("anonymous", "service", "web_identity") or (
                req.account in idx.accounts and req.account not in self.open_accounts)
        if low in ("aws:resourceorgid", "aws:resourceorgpaths"):
            return req.resource_account is None or req.resource_account in idx.accounts
        if low in _AWS_SET:
            return True
        if low in SERVICE_SOURCE_KEYS:
            return t != "service"
        if low == SOURCE_IDENTITY_KEY:
            return t != "assumed_role"
        if low.startswith("aws:principaltag/"):
            return t in ("anonymous", "service", "web_identity", "root") or (
                t == "user" and req.identity in idx.principals and req.account not in self.open_accounts)
        if "resourcetag/" in low:
            return self._tags_declared(req.resource)
        if low.startswith("s3:existingobjecttag/"):
            return req.resource in idx.resources or not self._reads_object_tags(req.action)
        return False

    def _tags_declared(self, resource: str) -> bool:
        """Whether the world decides the tags AWS evaluates for ``resource`` (aws:ResourceTag): it
        declares the resource, or the bucket of an S3 object (S3 evaluates the bucket's tags), or
        it is an IAM group of the world (groups take no tags: IAM user guide, id_tags)."""
        if resource.startswith("arn:aws:s3:::"):
            resource = resource.split("/", 1)[0]
        return resource in self.index.resources or resource in self.index.principals or resource in self.index.groups

    def _reads_object_tags(self, action: str) -> bool:
        """Whether S3 gives requests of ``action`` the key s3:ExistingObjectTag: the AWS catalog lists
        it for the action (S3 user guide, tagging-and-policies.html: not for PutObject or DeleteObject)."""
        found = self._object_tag_actions.get(action)
        if found is None:
            info = self.catalog.action(action)
            found = self._object_tag_actions[action] = info is not None and any(
                k.lower().startswith("s3:existingobjecttag/") for k in info.condition_keys)
        return found

    # -- decisions ------------------------------------------------------------------------------
    _DETAILS = {
        "decision": "?- decision(Req, D).",
        "denies": "?- denies(Req, Stmt, Layer).",
        "allows": "?- allows(Req, Stmt, Layer).",
        "scp_level": "?- scp_level(Req, Node).",
        "scp_blocks": "?- scp_level_blocks(Req, Node).",
        "rcp_level": "?- rcp_level(Req, Node).",
        "rcp_blocks": "?- rcp_level_blocks(Req, Node).",
        "grant": "?- resource_grant(Req, Stmt, How).",
        "identity": "?- identity_allows(Req).",
        "boundary_ok": "?- boundary_ok(Req).",
        "has_boundary": "?- request_has_boundary(Req).",
        "session_ok": "?- session_ok(Req).",
        "session_principal": "?- session_principal(Req).",
        "needs_resource": "?- needs_resource_allow(Req).",
        "granted": "?- granted(Req).",
        "reached": "?- conditions_reached(Req, Stmt).",
        "refused": "?- service_refuses(Req, Why).",
        "bucket_owner": "?- bucket_owner_policy_call(Req).",
        "rcp_passed_over": "?- rcp_passed_over(Req, Stmt).",
    }

    def forget(self) -> None:
        """Drop every answer kept for a request: the decision cache, and the compiled rules' tree
        of calls (what the world says does not depend on requests, and stays)."""
        with self._lock:
            self.decisions.clear()
            self._leaf_verdicts.clear()
            if self._solver is not None:
                self._solver.forget()

    def caller(self, principal: str, federating_user: str | None = None) -> str:
        """The principal of a request as its decision names it (:attr:`Decision.principal`: the ARN
        of a principal given by name, say); raises InvalidInput for one the world cannot place."""
        with self._lock:
            part = self._principal_parts.get((principal, federating_user))
            return (part or self._principal_part(principal, federating_user))[0]

    def prepare(self) -> int:
        """Work out before the first request what the world answers to every request alike: for
        each principal of the world and each action its policies name (without wildcards), and
        for each resource with a resource-based policy, the statements that list the action (see
        :class:`~iamlogic.compiled.Solver`; a role's trust policy is left to the first request).
        A request then pays only for what is its own. No decision changes. Returns the number of
        requests solved for it: stops early, with what it has, once the memo of those answers is
        half full (about half a million answers; see :meth:`~iamlogic.compiled.Solver.warm`)."""
        with self._lock:
            if self._compiled is None:
                return 0
            if self._solver is None:
                self._bind()
            actions = sorted({info.name for _, pattern in self._table("statement_action")
                              if "*" not in pattern and "?" not in pattern
                              and (info := self.catalog.action(pattern)) is not None})
            principals = sorted(self.index.principals)
            # (the resource side: any principal asks; the statements kept depend on the policy alone)
            asks = [(p, a, "*") for p in principals for a in actions]
            if principals:
                asks += [(principals[0], a, holder) for holder in sorted(self.index.policy_holders) for a in actions]
            solved = 0
            for principal, action, resource in asks:
                try:
                    if not self._solver.warm(self._resolve(principal, action, resource, None, None, None)):
                        break
                except InvalidInput:  # it cannot be placed, or reads what the world does not give (E507):
                    continue  # no answer is given, and what it reached stays kept
                solved += 1
            return solved

    @property
    def path(self) -> str:
        """How decisions are computed: ``compiled`` (the rules compiled into Python) or ``engine``."""
        return "compiled" if self._compiled is not None else "engine"

    def decide(self, requests: list[Request], *, engine: bool = False, together: int = _TOGETHER) -> list[Decision]:
        """Decide requests: by the compiled rules, or with ``engine=True`` (or when the rules could
        not be compiled) by asking pyDatalog each detail relation once for all of them.
        ``together``: see :meth:`_derive`."""
        engine = engine or self._compiled is None
        with self._lock:
            found = self._derive(requests, engine, together, _DECIDING)
        return [self._decision(r, g, engine) for r, g in zip(requests, found)]

    def decide_one(self, principal: str, action: str, resource: str, context: Mapping[str, Any] | None = None,
                   session_policy: Policy | None = None, federating_user: str | None = None) -> Decision:
        """Resolve and decide one request (what :meth:`resolve` and :meth:`decide` do, in one step)."""
        with self._lock:
            r = self._resolve(principal, action, resource, context, session_policy, federating_user)
            if self._compiled is None:
                return self._decision(r, self._derive([r], True)[0], True)
            if self._solver is None:
                self._bind()
            # _derive of one request, inline: the path of every single decision
            solver = self._solver
            reused = solver.reused
            found = solver.solve_raw(r, (r.caller, r.action))
            g = dict(zip(_VERDICT_ENTRIES, self._verdict_entries(found)))
            if solver.reused == reused:
                return self._decision(r, g, False)
            # the entries of a leaf of the solver's tree, which the requests reaching it share: so
            # do their outcome, deciding statements and notes (_class_verdict reads the entries
            # and the action); the leaf is held with them, so that its id names no other meanwhile
            key = (id(found), r.action)
            kept = self._leaf_verdicts.get(key)
            if kept is None:
                if len(self._leaf_verdicts) >= _PART_LIMIT:
                    self._leaf_verdicts.clear()
                kept = self._leaf_verdicts[key] = (found, self._class_verdict(r, g))
            return self._decision(r, g, False, kept[1])

    def decide_many(self, items: Sequence[tuple]) -> list[Decision]:
        """Resolve and decide requests given as the arguments of :meth:`decide_one` (principal,
        action, resource, context, session policy, federating user): a run of consecutive
        requests of one principal and action is decided together (see :meth:`_derive`)."""
        return self._decide_many(items, False)

    def _decide_many(self, items: Sequence[tuple], reading: bool) -> list:
        with self._lock:
            engine = self._compiled is None
            out: list = []
            for _, run in itertools.groupby(items, key=_PRINCIPAL_ACTION):
                run = list(run)
                if engine or len(run) < _TOGETHER:
                    # each decided as soon as it is resolved (decide_one, inline: 1 % of a batch
                    # of unique requests): few objects live long enough to reach the garbage
                    # collector's oldest generation
                    for item in run:
                        r = self._resolve(*item)
                        g = self._derive([r], engine)[0]
                        out.append((self._decision(r, g, engine), self._report_keys(g["reached"])) if reading
                                   else self._decision(r, g, engine))
                else:
                    requests = [self._resolve(*item) for item in run]
                    found = self._derive(requests, engine, only=_DECIDING)
                    out += ([(self._decision(r, g, engine), self._report_keys(g["reached"]))
                             for r, g in zip(requests, found)] if reading else
                            [self._decision(r, g, engine) for r, g in zip(requests, found)])
            return out

    def verdicts_many(self, items: Sequence[tuple]) -> list[tuple[str, tuple[StatementRef, ...], tuple[str, ...],
                                                                   tuple[str, ...]]]:
        """What :meth:`decide_many` decides, as tuples instead of :class:`Decision` objects: for
        each request its decision, deciding statements, missing context keys and warnings.
        Requests that the compiled rules do not tell apart (most of an access-matrix row) share
        the work of their answer, and its tuple when they have the same missing keys and warnings."""
        return self._verdicts_many(items, False)

    def verdicts_reading(self, items: Sequence[tuple]) -> list[tuple[tuple, tuple[str, ...]]]:
        """:meth:`verdicts_many`, each verdict with the context keys (lower case) that the
        conditions of the statements its request reached read (Action, Resource and Principal
        matched; :meth:`_report_keys`: their keys, and those their policy variables name): a
        request asked again with other values of other keys gets the same decision, as long as the
        statements it reaches do not depend on them (a policy variable in a Resource or Principal
        element)."""
        return self._verdicts_many(items, True)

    def _verdicts_many(self, items: Sequence[tuple], reading: bool) -> list:
        with self._lock:
            if self._compiled is None:
                return [((d.decision, d.statements, d.missing_context, d.warnings), keys) if reading else
                        (d.decision, d.statements, d.missing_context, d.warnings)
                        for d, keys in self._decide_many(items, True)]
            out: list = []
            for (principal, action), run in itertools.groupby(items, key=_PRINCIPAL_ACTION):
                heads: dict = {}  # federating user -> the head of its requests
                requests = []
                # consecutive requests with the same context and session policy (the same objects)
                # and federating user are made as a row
                for _, row in itertools.groupby(run, key=_row_key):
                    row = list(row)
                    _, _, _, context, session_policy, fed = row[0]
                    head = heads.get(fed)
                    if head is None:
                        head = heads[fed] = self._head(principal, action, fed)
                    requests += self._row_requests(head, [item[2] for item in row], context, session_policy,
                                                   _UNNAMED)
                out += self._verdicts(requests, len(heads) == 1, reading)
            return out

    def verdicts_row(self, principal: str, action: str, resources: Sequence[str], context: Mapping[str, Any] | None = None,
                     session_policy: Policy | None = None, federating_user: str | None = None) -> list[tuple]:
        """:meth:`verdicts_many` of one principal and action on each of ``resources``, with the
        same context, session policy and federating user (a row of an access matrix)."""
        with self._lock:
            if self._compiled is None:
                return self.verdicts_many([(principal, action, r, context, session_policy, federating_user)
                                           for r in resources])
            head = self._head(principal, action, federating_user)
            return self._verdicts(self._row_requests(head, resources, context, session_policy, _UNNAMED), True)

    def _verdicts(self, requests: list[Request], one_head: bool, reading: bool = False) -> list[tuple]:
        """The verdicts of :meth:`verdicts_many` for requests of one principal and action
        (``one_head``: of one federating user too); ``reading``: each with the keys its decision
        read (see :meth:`verdicts_reading`)."""
        names = self._compiled.entry_names
        reached = names.index("reached")
        # one head, and no session policy (given, or set by Amazon Cognito)
        uniform = one_head and not any(map(_SESSION_POLICY, requests))  # (an id, never empty, or None)
        solved = self._solved(requests, only=_DECIDING, uniform=uniform)
        members: dict[int, list[int]] = {}  # id of an entries tuple (alive in solved) -> its requests
        for i, found in enumerate(solved):
            members.setdefault(id(found), []).append(i)
        out: list = [None] * len(requests)
        # (one head: classes that reached the same statements read the same keys, and a request's
        # missing keys and warnings follow from what _verdict reads of it and the class's warnings)
        by_reached: dict[frozenset[str], tuple] = {}
        for positions in members.values():  # a class: requests that no entry tells apart
            found = solved[positions[0]]
            g = dict(zip(names, found))
            outcome, statements, notes = self._class_verdict(requests[positions[0]], g)
            plain = (outcome, statements, (), ())
            same = by_reached.get(hit := frozenset(found[reached])) if uniform else None
            if same is None:
                keys = self._report_keys(found[reached])
                same = (keys, any(k.startswith(_RESOURCE_SIDE) or "resourcetag/" in k for k in keys), {})
                if uniform:
                    by_reached[hit] = same
            keys, tags, reports = same
            # (its verdict without missing keys and warnings, or None when its conditions or its
            # class may give some; the detail relations; the class's warnings; each verdict by its
            # missing keys and warnings; the context keys its conditions read; each verdict by
            # the request's values of those keys and its notes; whether those are keys of the
            # resource; the missing keys and warnings by the class's warnings and those values)
            c = (None if found[reached] or notes else plain, g, notes, {((), ()): plain}, keys, {}, tags, reports)
            if c[0] is not None:
                for i in positions:
                    r = requests[i]
                    out[i] = plain if not r.notes else self._verdict(r, c)
            elif not c[6]:  # (most of a matrix row: the values of the keys decide)
                by_values = c[5]
                for i in positions:
                    r = requests[i]
                    v = by_values.get((*map(r.context.get, keys), *r.notes))
                    out[i] = v if v is not None else self._verdict(r, c)
            else:
                for i in positions:
                    out[i] = self._verdict(requests[i], c)
            if reading:
                for i in positions:
                    out[i] = (out[i], keys)
        return out

    def _verdict(self, r: Request, c: tuple) -> tuple:
        """The verdict of request ``r`` of a class ``c`` of :meth:`_verdicts`."""
        plain, g, notes, variants, keys, by_values, tags, reports = c
        if plain is not None and not r.notes:
            return plain
        # what the condition report reads of a request: the values of those keys (each condition's
        # result is a function of the values of its key and of the keys its policy variables name),
        # the request's notes, and whether the world declares its resource and the resource's
        # account (see _absent)
        seen = (*map(r.context.get, keys), *r.notes)
        if tags:
            seen += (r.resource in self.index.resources or r.resource in self.index.principals,
                     self._tags_declared(r.resource), r.action,
                     r.resource_account is None or r.resource_account in self.index.accounts)
        v = by_values.get(seen)
        if v is not None:
            return v
        parts = reports.get((notes, seen))
        if parts is None:
            parts = reports[notes, seen] = self._request_verdict(r, g, notes)
        v = variants.get(parts)  # the same tuple for the same missing keys and warnings
        if v is None:
            plain = variants[((), ())]
            v = variants[parts] = (plain[0], plain[1], *parts)
        by_values[seen] = v
        return v

    def _report_keys(self, reached: Iterable[str]) -> tuple[str, ...]:
        """The context keys (lower case) that the condition report of a request that reached
        ``reached`` reads (see :meth:`_condition_report`): the keys of their conditions, and those
        their policy variables name."""
        idx = self.index
        keys: dict[str, None] = {}
        for stmt in idx.conditions_of.keys() & reached:
            for cond in idx.conditions_of[stmt]:
                keys.update(dict.fromkeys(idx.keys_read(cond)))
        return tuple(keys)

    def _derive(self, requests: list[Request], engine: bool, together: int = _TOGETHER,
                only: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """The detail relations of each request (see :meth:`_decision`): by the compiled rules
        (:meth:`_solved`), or by the engine, which is asked each detail relation once for all the
        requests. ``together`` and ``only``: see :meth:`_solved`."""
        if not engine:
            names = self._compiled.entry_names
            return [dict(zip(names, found)) for found in self._solved(requests, together, only)]
        self._requests = {r.id: r for r in requests}
        try:
            rows = {name: self.engine.query(q) for name, q in _detail_queries().items()}
        finally:
            self._requests = {}
        grouped: dict[str, dict[str, list[tuple]]] = defaultdict(lambda: defaultdict(list))
        for name, found in rows.items():
            for row in found:
                grouped[row[0]][name].append(row[1:])
        return [{name: _raw(grouped[r.id][name], width) for name, width in _detail_widths().items()}
                for r in requests]

    def _solved(self, requests: list[Request], together: int = _TOGETHER,
                only: Iterable[str] | None = None, uniform: bool = False) -> list[tuple]:
        """The entries of the compiled rules for each request (in the order of
        ``CompiledRules.entry_names``). Requests of one principal and action (that agree on what
        the shared request builtins of :data:`_SHARED` and ``principal_named`` answer) are solved
        together when there are at least ``together`` of them (Solver.solve_many), each other
        request alone. ``only``: the entries the caller reads (requests solved together have
        None for the others). ``uniform``: the caller knows that the requests agree on those
        answers (one principal, action and federating user, no session policy). Requests that no
        entry tells apart may get the same tuple."""
        if self._solver is None:
            self._bind()
        solve = self._solver.solve_raw
        # (alone: requests of one caller and action are the ones likely to share the solver's work)
        if len(requests) < together:
            return [solve(r, (r.caller, r.action)) for r in requests]
        if uniform:
            return self._together(requests, only)
        groups: dict[tuple, list[int]] = defaultdict(list)
        for i, r in enumerate(requests):
            groups[(r.action, r.principal_type, r.identity, r.account, r.session_policy, r.caller, r.role,
                    r.federating_user)].append(i)
        out: list = [None] * len(requests)
        for members in groups.values():
            if len(members) >= together:
                for i, found in zip(members, self._together([requests[i] for i in members], only)):
                    out[i] = found
        for i, r in enumerate(requests):
            if out[i] is None:
                out[i] = solve(r, (r.caller, r.action))
        return out

    def _together(self, group: list[Request], only: Iterable[str] | None) -> list[tuple]:
        """Solver.solve_many for requests that agree on the shared request builtins, with the memo
        kept for their resources."""
        resources = tuple(r.resource for r in group)
        memo = self._vector_memos.get(resources)
        if memo is None:
            if len(self._vector_memos) >= _VECTOR_MEMOS:
                self._vector_memos.clear()
            memo = self._vector_memos[resources] = {}
        return self._solver.solve_many(group, memo, only)

    def query(self, query: Query | str, requests: Iterable[Request] = ()) -> list[tuple]:
        """Answer a read-only Datalog query over the world's facts and every rule, by the engine.

        The requests given (from :meth:`resolve`) are in scope: their ``id`` is the ``Req`` that
        the request builtins and the request-dependent relations (``candidate``, ``action_ok``,
        ``condition_holds``, ``decision``, …) know. Without requests those relations are empty.
        Text is parsed by iamlogic's Datalog grammar, never run as Python.
        """
        with self._lock:
            self._requests = {r.id: r for r in requests}
            try:
                return self.engine.query(query)
            finally:
                self._requests = {}

    def _bind(self) -> None:
        """Build the compiled rules' tables for this world (again after a session policy is added)."""
        with self._lock:
            builtins = {name: getattr(self, f"_b_{name}") for name in BUILTIN_SPECS}
            kms, unknown_role = _vector_attribute("kms_key"), _vector_attribute("unknown_role")
            self._solver = self._compiled.bind(self._table, builtins, _SHARED, {
                "resource_matches": self._v_resource_matches, "principal_named": self._v_principal_named,
                "condition_holds": self._v_condition_holds, "request_resource_scope": self._v_request_resource_scope,
                "request_kms_key": lambda vec, mask: sum(m for _, m in kms(vec, mask, True)),
                "request_unknown_role": lambda vec, mask: sum(m for _, m in unknown_role(vec, mask, True)),
                "request_policy_holder": _vector_attribute("policy_holder"),
                "request_resource_account": _vector_attribute("resource_account")},
                {"resource_matches": self._t_resource_matches, "principal_named": self._t_principal_named,
                 "condition_holds": self._t_condition_holds})
            self._vector_memos.clear()

    def _table(self, relation: str) -> Iterable[tuple]:
        """Every tuple of a declared relation (the compiled rules compute the derived ones)."""
        return self.index.rows.get(relation, ())

    def _decision(self, r: Request, g: Mapping[str, Any], engine: bool, verdict: tuple | None = None) -> Decision:
        """The decision of a request from the detail relations derived for it (each a bool when it
        has no column after the request, a set of values for one, a set of tuples for more), by the
        engine or not; ``verdict``: their :meth:`_class_verdict`, when the caller has it."""
        outcome, statements, notes = verdict or self._class_verdict(r, g)
        missing, notes = self._request_verdict(r, g, notes)
        # A decision may live long in the cache: for its layers and its proof it keeps the
        # arguments of its request (derived again on demand), not the request.
        return Decision(outcome, r.caller, r.action, r.resource, statements, None, missing, notes,
                        _Derivation(self, r.id, r.inputs, outcome, engine))

    def _class_verdict(self, r: Request, g: Mapping[str, Any]
                       ) -> tuple[str, tuple[StatementRef, ...], tuple[str, ...]]:
        """What the detail relations alone say of a request's decision (requests with the same
        relations share it): the outcome, the deciding statements, and its warnings: the request
        lacks the explicit allow that a role trust policy or a KMS key policy must give; an RCP
        lists its action, on a service RCPs do not restrict."""
        outcomes = g["decision"]
        if len(outcomes) != 1:  # the rules make exactly one; anything else is a defect, never an answer
            raise IamlogicError(f"internal error: the rules gave {sorted(outcomes) or 'no'} decision for "
                                f"{r.caller} {r.action} {r.resource}")
        (outcome,) = outcomes
        ref = self.index.layer_ref
        if outcome == EXPLICIT_DENY:
            statements = tuple([ref(s, layer) for s, layer in sorted(g["denies"])])
        elif outcome == ALLOW:
            statements = tuple([ref(s, layer) for s, layer in sorted(g["allows"])])
        else:
            statements = ()
        notes = ()
        if g["rcp_passed_over"]:
            notes = tuple([f"{self.index.statement_ref(s).label()} lists {r.action}, which RCPs do not restrict: "
                           f"{_RCP_SERVICES_NOTE}" for s in sorted(g["rcp_passed_over"])])
        if outcome == IMPLICIT_DENY and g["needs_resource"] and not g["grant"]:
            notes += (_LACKS_EXPLICIT_ALLOW,)
        return outcome, statements, notes

    def _request_verdict(self, r: Request, g: Mapping[str, Any],
                         notes: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The missing context keys and the warnings of a request's decision (``notes``: those of
        its class, from :meth:`_class_verdict`)."""
        self._condition_report(r, g["reached"])
        r.notes += notes
        return (tuple(sorted(r.missing)) if r.missing else (),
                tuple(dict.fromkeys(r.notes)) if r.notes else ())

    def _again(self, req_id: str, inputs: tuple) -> Request:
        """A request resolved again, under its own id, from the arguments it was given."""
        principal, action, resource, session_policy, federating_user = inputs[:5]
        context = {inputs[i]: inputs[i + 1] for i in range(5, len(inputs), 2)} if len(inputs) > 5 else None
        with self._lock:
            return self._resolve(principal, action, resource, context, session_policy, federating_user, req_id)

    def _prove_again(self, req_id: str, inputs: tuple, outcome: str) -> ProofNode:
        """The proof of a decision, for its request resolved again."""
        return self.prove_decision(self._again(req_id, inputs), outcome)

    def _layers_again(self, req_id: str, inputs: tuple, engine: bool) -> list[LayerVerdict]:
        """The layer verdicts of a decision, from the relations derived again for its request."""
        with self._lock:
            r = self._again(req_id, inputs)
            return self._layers(r, self._derive([r], engine)[0])

    def _layers(self, r: Request, g: dict[str, Any]) -> list[LayerVerdict]:
        """One verdict per layer, from the relations derived for a request."""
        idx = self.index
        by_layer: dict[str, dict[str, list[StatementRef]]] = defaultdict(lambda: defaultdict(list))
        for stmt, layer in sorted(g["denies"], key=row_key):
            by_layer[layer]["deny"].append(idx.layer_ref(stmt, layer))
        for stmt, layer in sorted(g["allows"], key=row_key):
            by_layer[layer]["allow"].append(idx.layer_ref(stmt, layer))

        def verdict(layer: str, name: str, required: bool, note: str = "") -> LayerVerdict:
            d, a = by_layer[layer]["deny"], by_layer[layer]["allow"]
            if d:
                return LayerVerdict(name, "deny", tuple(d))
            if a:
                return LayerVerdict(name, "allow", tuple(a))
            return LayerVerdict(name, "no allow" if required else "not applicable", (), note)

        layers = []
        for kind in ("scp", "rcp"):
            blocked = set(g[f"{kind}_blocks"])
            attached = idx.attached[kind]
            for node in sorted(g[f"{kind}_level"], key=lambda n: (-idx.depth[n], row_key((n,)))):
                stmts_d = [s for s in by_layer[kind]["deny"] if (node, s.policy_id) in attached]
                stmts_a = [s for s in by_layer[kind]["allow"] if (node, s.policy_id) in attached]
                name = f"{kind.upper()} {idx.level_names[node]}"
                if stmts_d:
                    layers.append(LayerVerdict(name, "deny", tuple(stmts_d)))
                elif node in blocked:
                    layers.append(LayerVerdict(name, "no allow", (), f"no {kind.upper()} at this level allows it"))
                else:
                    layers.append(LayerVerdict(name, "allow", tuple(stmts_a)))
        needs_resource = bool(g["needs_resource"])
        grants = g["grant"]
        res = verdict("resource", "resource-based policy", needs_resource or r.principal_type in
                      ("anonymous", "service", "web_identity") or (r.account != r.resource_account))
        if res.verdict == "deny" and g["bucket_owner"]:
            res = LayerVerdict(res.layer, "not applicable", res.statements,
                               "the bucket owner's root user manages the bucket policy whatever it says")
        elif res.verdict == "allow" and grants:
            res = LayerVerdict(res.layer, "allow", res.statements,
                               "names the principal as " + ", ".join(sorted({h for _, h in grants})))
        layers.append(res)
        has_identity = r.principal_type in ("user", "assumed_role", "federated_user", "root")
        if has_identity:
            ident = verdict("identity", "identity-based policies", True)
            if r.principal_type == "root" and ident.verdict != "deny":
                ident = LayerVerdict("identity-based policies", "allow", ident.statements, "the root user has full access")
            layers.append(ident)
        if g["has_boundary"]:
            layers.append(verdict("boundary", "permissions boundary", True))
        if g["session_principal"]:
            note = "" if r.session_policy else (
                "a role session without session policy keeps the role's permissions"
                if r.principal_type == "assumed_role" else "a federated-user session without session policy has no permissions")
            if r.session_policy and r.session_policy == idx.cognito_guest_policy:
                layers.append(verdict("session", "session policy", True, COGNITO_GUEST_NOTE))
            elif r.session_policy:
                layers.append(verdict("session", "session policy", True))
            else:
                layers.append(LayerVerdict("session policy", "allow" if g["session_ok"] else "no allow", (), note))
        for why in sorted(g["refused"]):
            layers.append(LayerVerdict("protected role" if why == "protected role" else "service", "no allow", (), {
                "protected role": "AWS refuses IAM changes to a role IAM Identity Center provisions",
                "root assumes a role": "AWS STS: roles may not be assumed by the root user",
                "owner account only": f"{r.action} works only in the account that owns the resource; "
                                      "cross-account permissions do not apply to it",
                "not across accounts": f"{r.action} is not among the {r.action.partition(':')[0]} operations that "
                                       "work on a resource of another account",
                "unsigned": f"{r.action.partition(':')[0]} takes only requests signed with AWS credentials: an "
                            "anonymous caller is refused",
                "federated user": "a federated-user session (GetFederationToken) cannot call IAM operations, nor STS "
                                  "operations other than GetCallerIdentity",
                "web identity": "a web identity or SAML provider calls only AssumeRoleWithWebIdentity or "
                                "AssumeRoleWithSAML: other calls need the AWS credentials these give",
            }[why]))
        return layers

    # -- proofs ---------------------------------------------------------------------------------
    def prove_decision(self, r: Request, outcome: str) -> ProofNode:
        """The derivation of ``decision(Req, outcome)``, found by re-deriving it rule by rule."""
        with self._lock:
            self._requests = {r.id: r}
            try:
                node = self._prove(Atom("decision", (Const(r.id), Const(outcome))), 0, set(), self.engine,
                                   self._rules_by_head)
            finally:
                self._requests = {}
        return node or ProofNode(f"decision({r.id}, {outcome})", "not derivable")

    def prove(self, atom: Atom, engine: Engine, rules_by_head: Mapping[str, Sequence[Rule]]) -> ProofNode | None:
        """The derivation of a ground atom of a request-independent relation, found by re-deriving
        it rule by rule with ``engine`` (this world's facts under ``rules_by_head``, which may hold
        rules added to iamlogic's own, such as a guardrails file's); None when it does not hold."""
        with self._lock:
            return self._prove(atom, 0, set(), engine, rules_by_head)

    def _prove(self, atom: Atom, depth: int, seen: set[str], engine: Engine,
               rules_by_head: Mapping[str, Sequence[Rule]]) -> ProofNode | None:
        text = str(atom)
        rel = atom.relation
        if text in seen and rel in rules_by_head:
            return ProofNode(text, "derived above")
        seen.add(text)
        if rel in RELATIONS:
            return ProofNode(text, "fact", source=self._excerpt(atom))
        if rel in BUILTIN_SPECS:
            return ProofNode(text, "builtin")
        if depth > 40:
            return ProofNode(text, "…")
        for rule in rules_by_head.get(rel, ()):
            if rule.aggregate is not None:
                node = self._prove_aggregate(atom, rule, depth, seen, engine, rules_by_head)
                if node is not None:
                    return node
                continue
            binding = _unify(rule.head.args, atom.args)
            if binding is None:
                continue
            body = _rename_anonymous(tuple(_subst(lit, binding) for lit in rule.body))
            query = Query(body)
            answers = engine.query(query) if body else [()]
            if not answers:
                continue
            solution = {**dict(zip(query.variables, answers[0]))}
            children = []
            for lit in body:
                ground = _subst(lit, {k: Const(v) for k, v in solution.items()})
                if isinstance(ground, Atom):
                    child = self._prove(ground, depth + 1, seen, engine, rules_by_head)
                    children.append(child or ProofNode(str(ground), "?"))
                elif isinstance(ground, Negation):
                    children.append(ProofNode(f"not {ground.atom}", "negation: no derivation exists"))
                else:
                    children.append(ProofNode(str(ground), "comparison"))
            span = rule.span
            where = f"rule {span.file}:{span.line}" if span else "rule"
            return ProofNode(text, where, tuple(children))
        return None

    def _prove_aggregate(self, atom: Atom, rule: Rule, depth: int, seen: set[str], engine: Engine,
                         rules_by_head: Mapping[str, Sequence[Rule]]) -> ProofNode | None:
        """The derivation of a ground atom by an aggregate rule: the solutions of its body for the
        atom's other arguments, the first few of them proved."""
        position, agg = rule.aggregate
        others = tuple(a for i, a in enumerate(rule.head.args) if i != position)
        binding = _unify(others, tuple(a for i, a in enumerate(atom.args) if i != position))
        if binding is None:
            return None
        body = tuple(_subst(lit, binding) for lit in rule.body)  # (its `_` stay anonymous: see aggregate_rows)
        query = Query(body)
        solutions = [dict(zip(query.variables, row)) for row in engine.query(query)]
        head = _subst(Atom(rule.head.relation, others), binding).args
        bound = Rule(Atom(rule.head.relation, (*head[:position], agg, *head[position:])), body)
        if {tuple(Const(v) for v in row) for row in aggregate_rows(bound, solutions)} != {atom.args}:
            return None
        children = []
        for solution in solutions[:3]:
            ground = [_subst(lit, {k: Const(v) for k, v in solution.items()}) for lit in body]
            parts = tuple(self._prove(g, depth + 1, seen, engine, rules_by_head) or ProofNode(str(g), "?")
                          if isinstance(g, Atom) else ProofNode(str(g), "negation: no derivation exists"
                                                                if isinstance(g, Negation) else "comparison")
                          for g in ground)
            children.append(ProofNode(", ".join(map(str, ground)), "a solution of the body", parts))
        if len(solutions) > 3:
            children.append(ProofNode(f"… and {len(solutions) - 3} more solutions", ""))
        span = rule.span
        where = f"{agg.func} over {len(solutions)} solution(s), rule {span.file}:{span.line}" if span else agg.func
        return ProofNode(str(atom), where, tuple(children))

    def _excerpt(self, atom: Atom) -> str | None:
        if atom.relation == "statement" and atom.args and isinstance(atom.args[0], Const):
            ref = self.index.statement_ref(atom.args[0].value) if atom.args[0].value in self.index.statements else None
            return ref.label() if ref else None
        return None


def _unify(params: tuple, args: tuple) -> dict | None:
    binding: dict[str, Any] = {}
    for p, a in zip(params, args):
        if isinstance(p, Var):
            if p.name == "_":
                continue
            if p.name in binding and binding[p.name] != a:
                return None
            binding[p.name] = a
        elif isinstance(a, Const) and a.value != p.value:
            return None
    return binding


def _subst(lit, binding: dict):
    def term(t):
        return binding.get(t.name, t) if isinstance(t, Var) and t.name != "_" else t

    if isinstance(lit, Atom):
        return Atom(lit.relation, tuple(term(t) for t in lit.args))
    if isinstance(lit, Negation):
        return Negation(_subst(lit.atom, binding))
    if isinstance(lit, Comparison):
        return Comparison(lit.op, term(lit.left), term(lit.right))
    return lit


def _rename_anonymous(body: tuple) -> tuple:
    """Give each ``_`` of positive literals a name, so a proof can show what it stood for."""
    counter = itertools.count(1)

    def atom(a: Atom) -> Atom:
        return Atom(a.relation, tuple(Var(f"_A{next(counter)}") if isinstance(t, Var) and t.name == "_" else t
                                      for t in a.args))

    return tuple(atom(lit) if isinstance(lit, Atom) else lit for lit in body)
