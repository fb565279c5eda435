"""A plain reference evaluator of AWS IAM requests, for differential testing of iamlogic.

Written from ``/work/shared/aws-semantics.md`` (§1 decision rules, §3 edge cases) as a straight
cascade in Python, independently of the Datalog rules. Only value-level matching (wildcards, ARNs,
condition operators, policy variables) is shared, from :mod:`iamlogic.matching`; the world is
indexed with :func:`iamlogic.world.resolve`.

    reference_decide(model, principal, action, resource, context=None, session_policy=None,
                     *, federating_user=None) -> "Allow" | "ExplicitDeny" | "ImplicitDeny"

Choices where the documentation is silent or unclear (each one is tested in
``tests/unit/test_reference.py``):

R1  A role ARN given as the principal is evaluated as a session of that role whose session ARN is
    unknown: it is a session principal (a session policy applies; no session policy keeps the
    role's permissions), and a resource policy can name it only by role ARN or account.
R2  A resource policy naming a role ARN applies to that role's sessions; the role's boundary and
    the session policy still limit (§1.3 table). A federated session is reached by its own ARN or
    by the ARN of the IAM user who federated (``federating_user``: a user ARN, or a user name in
    the federated user's account); without ``federating_user`` it has no identity policies.
R3  ``Principal: "*"`` (and an Allow+NotPrincipal that does not exclude the caller) lifts every
    same-account implicit deny, like a session ARN (§1.3 bullet on ``"*"``). ``"*"`` also matches
    service principals and anonymous callers. A ``Service`` entry matches by name
    (case-insensitively); ``Federated`` and ``CanonicalUser`` entries never match our principals.
    A statement of a resource-based policy without Principal/NotPrincipal applies to nobody.
R4  NotPrincipal excludes the caller only if every level of its identity is listed: account (id or
    root ARN), then role ARN and session ARN, or user ARN, or federated-user ARN (§1.9, the
    "account → role → session" check). Deny+NotPrincipal applies to every caller that has a
    permissions boundary, whatever is listed (§1.5). A role given by its ARN acts through a session
    whose ARN is unknown, so a NotPrincipal never exempts it.
R5  Owner of the resource: the account that declares it in the world; an S3 object
    ``arn:aws:s3:::b/key`` belongs to a declared bucket ``arn:aws:s3:::b`` and is governed by its
    bucket policy (an object the world declares too has its own declared tags, and still its bucket's
    policy and owner); a role or user of the world
    belongs to its account; otherwise the 12-digit account of the ARN; otherwise (S3 ARNs, ``*``,
    ``arn:aws:iam::aws:policy/…``) the principal's own account. Anonymous and service callers have
    no own account, so such a resource has no owner (no resource keys, no RCP).
R6  A role's trust policy is its resource policy for ``sts:AssumeRole*``, ``sts:TagSession`` and
    ``sts:SetSourceIdentity``; for other actions on a role there is no resource policy. A role the
    world does not declare (at the ARN asked) has a trust policy that allows no one. A declared
    resource ``arn:…:kms:…:key/…`` has a key policy. Both must allow explicitly (§1.2 step 4).
R7  Context keys (names case-insensitive; values str or list; a list of ""s only is the null data set). The caller's values are used for
    environment keys (aws:SourceIp, aws:SecureTransport, …), aws:userid where the world does
    not give it, aws:PrincipalTag/* of session principals (session tags override the role's tags,
    §1.8; a role's sessions carry them only when its trust policy allows sts:TagSession) and of
    users the world does not declare, aws:PrincipalOrgID/OrgPaths of a principal and
    aws:ResourceOrgID/OrgPaths of a resource of an account the world does not declare, and
    aws:ResourceTag/* of resources whose tags the world does not declare; the keys the world
    decides (WORLD_KEYS, other tags) ignore the caller. Derived: aws:PrincipalArn (user ARN,
    role ARN for role sessions, root ARN, federated-user ARN), aws:PrincipalAccount,
    aws:PrincipalOrgID, aws:PrincipalOrgPaths (``o-id/r-id/ou-…/``), aws:PrincipalTag/K (user or
    role tags; a federated user's are its IAM user's), aws:PrincipalType (User, AssumedRole, FederatedUser,
    Account; ``Anonymous`` for anonymous, which gets no other principal key but aws:userid; absent
    for service principals), aws:username (IAM users), aws:userid (anonymous: ``anonymous``; root:
    the account id; federated user: ``ACCOUNT:NAME``; user: its declared AIDA… id; role session:
    ``AROA…:SESSION``; a value the world does not give — an id not declared, the session of a role
    given by its ARN — is taken from the caller, else reading it raises :class:`Undeclared`),
    aws:TokenIssueTime of a role, session or federated user (temporary credentials: taken from the
    caller; else present for ``Null``, compared as a missing key), ``Null`` on an undeclared
    aws:userid holds for "false",
    aws:PrincipalIsAWSService ("true"/"false", absent for anonymous), aws:PrincipalServiceName,
    aws:ResourceAccount (and s3:ResourceAccount for S3), aws:ResourceOrgID, aws:ResourceOrgPaths, and
    aws:ResourceTag/K plus ``<service>:ResourceTag/K`` for a declared resource (or a role/user of
    the world); for S3 (no ``s3:ResourceTag``), aws:ResourceTag/K of a declared bucket that has ABAC
    enabled, for the bucket and its objects (none without ABAC, and then the caller cannot give
    them), and s3:ExistingObjectTag/K of a declared object, only for the actions the catalog lists
    the key for (GetObject, not PutObject or DeleteObject; the caller cannot give it for others).
R8  SCPs are skipped for the management account, accounts outside an organization, service-linked
    roles, services and anonymous; RCPs for resources of the management account or outside an
    organization and for requests by service-linked roles (§1.6, §1.7); and for actions of services
    outside the world's RCP services (``aws rcp_services``, else ``catalog.RCP_SERVICES``), for
    kms:RetireGrant and for AWS managed KMS keys (§1.7). A session policy given for a non-session principal is
    ignored. Resource/NotResource entries with an unresolved policy variable match nothing. A
    statement without Resource/NotResource (trust policies) matches the resource.
R9  What services refuse or allow whatever the policies say: the root user cannot assume a role
    (id_roles_use_permissions-to-switch); anonymous callers are refused by STS, IAM, KMS and Secrets
    Manager (signed requests only); a federated-user session by IAM and by STS but GetCallerIdentity; across accounts, SQS's owner-only actions, S3's (and S3 on
    Outposts') Get/Put/DeleteBucketPolicy and the S3 directory bucket operations that say so are
    refused, and of KMS, Secrets Manager and Backup only the operations each lists work
    (rules/55-service-limits.dl cites the pages): an implicit deny. The bucket owner's root user
    managing the bucket policy is not denied by it. Across accounts means the caller's account and
    the resource's owner (R5) differ; a caller of no account (anonymous, a service) is outside the
    owner's account for the owner-only operations, and an anonymous one for the lists too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from iamlogic.catalog import Catalog
from iamlogic.grammar.ast import Account, Policy, Principal, Statement, WorldModel
from iamlogic.matching import evaluate_condition, resource_match, substitute, wildcard_match
from iamlogic.world import FULL_AWS_ACCESS, RCP_FULL_AWS_ACCESS, Resolved, resolve, role_arn, root_arn, user_arn

ALLOW, EXPLICIT_DENY, IMPLICIT_DENY = "Allow", "ExplicitDeny", "ImplicitDeny"

TRUST_ACTIONS = ("sts:AssumeRole*", "sts:TagSession", "sts:SetSourceIdentity")  # R6

# §1.3: for each way a resource policy can name the caller, the implicit denies that still limit
# a same-account Allow from that policy.
STILL_LIMITS = {
    "user": (), "session": (), "federated": (), "any": (), "service": (),
    "role": ("boundary", "session"),
    "federating-user": ("boundary", "session"),
    "account": ("identity", "boundary", "session"),  # the account delegates to its own policies
}

PRINCIPAL_TYPE = {"user": "User", "role": "AssumedRole", "session": "AssumedRole",
                  "federated": "FederatedUser", "root": "Account", "anonymous": "Anonymous"}


# ------------------------------------------------------------------------------------------
# The world, the caller, the resource


class _World:
    """The world model with the indexes the cascade needs (org nodes by id)."""

    def __init__(self, model: WorldModel):
        self.r: Resolved = resolve(model)
        self.nodes = self.r.nodes

    def account(self, acct_id: str | None) -> Account | None:
        return self.r.accounts.get(acct_id) if acct_id else None

    def managed(self, acct: Account, names) -> list[Policy]:
        found = [self.r.managed_policy(acct, n) for n in names]
        return [f[1].document for f in found if f is not None]

    def org_path(self, acct_id: str | None):
        """(placement, [node ids root → … → the account's parent]) or None outside organizations."""
        place = self.r.placement.get(acct_id) if acct_id else None
        if place is None:
            return None
        chain = [place.node_id]
        while chain[0] in self.r.node_parent:
            chain.insert(0, self.r.node_parent[chain[0]])
        return place, chain

    def is_management(self, acct_id: str) -> bool:
        place = self.r.placement[acct_id]
        mgmt = self.r.account_ref(place.org.management)
        return mgmt is not None and mgmt.id == acct_id


@dataclass
class Caller:
    kind: str  # user | role | session | federated | root | service | anonymous
    arn: str
    account: str | None = None
    principal_arn: str | None = None  # aws:PrincipalArn
    names: dict[str, str] = field(default_factory=dict)  # naming level → ARN (user, role, session, …)
    tags: tuple = ()
    userid: str | None = None  # aws:userid, where the world gives it
    identity: list[Policy] = field(default_factory=list)
    boundary: Policy | None = None
    service_linked: bool = False
    declared: bool = False  # a user the world declares
    tag_session: bool = True  # a role session may carry session tags (R7)

    @property
    def is_session(self) -> bool:
        return self.kind in ("role", "session", "federated")

    @property
    def levels(self) -> tuple[str, ...]:
        """The identity levels a NotPrincipal must all list to exclude the caller (R4)."""
        # A role acts through a session whose ARN is unknown here, so no NotPrincipal can list it
        # and a role-ARN caller is never exempt ("unknown-session").
        return {"user": ("account", "user"), "root": ("account",), "role": ("account", "role", "unknown-session"),
                "session": ("account", "role", "session"), "federated": ("account", "federated"),
                "service": ("service",), "anonymous": ("anonymous",)}[self.kind]


def _user_policies(world: _World, acct: Account, user) -> list[Policy]:
    """A user's inline and managed policies, and those of its groups (§1.2 step 5)."""
    docs = [p.document for p in user.inline] + world.managed(acct, user.managed)
    groups = {g.name: g for g in acct.groups}
    for name in user.groups:
        if name in groups:
            docs += [p.document for p in groups[name].inline] + world.managed(acct, groups[name].managed)
    return docs


def _boundary(world: _World, acct: Account, name: str | None) -> Policy | None:
    found = world.r.managed_policy(acct, name) if name else None
    return found[1].document if found else None


def _find_user(world: _World, acct: Account | None, arn: str):
    return next((u for u in (acct.users if acct else ()) if user_arn(acct.id, u) == arn), None)


def _roles(acct: Account | None):
    return acct.roles if acct else ()


def _with_role(world: _World, c: "Caller", acct: Account | None, role, arn: str) -> None:
    """A role session's policies, boundary and tags are its role's; aws:PrincipalArn is the role ARN."""
    c.principal_arn = c.names["role"] = arn
    if role is not None:
        c.tags, c.boundary = role.tags, _boundary(world, acct, role.boundary)
        c.identity = [p.document for p in role.inline] + world.managed(acct, role.managed)
        c.service_linked = role.service_linked
        # session tags need a trust policy that allows sts:TagSession (else AWS STS refuses the session)
        c.tag_session = role.trust is not None and any(
            s.effect == "Allow" and any(wildcard_match(a, "sts:TagSession", ignore_case=True) for a in s.action or ())
            for s in role.trust.statements)


def _caller(world: _World, principal: str, federating_user: str | None) -> Caller:
    """Who makes the request: its kind, account, names, policies and boundary."""
    if principal == "anonymous":
        return Caller("anonymous", principal)
    if not principal.startswith("arn:"):
        if not principal.endswith(".amazonaws.com"):
            raise ValueError(f"not a principal: {principal!r}")
        return Caller("service", principal)
    parts = principal.split(":", 5)
    if len(parts) != 6:
        raise ValueError(f"not an ARN: {principal!r}")
    service, account, rest = parts[2], parts[4], parts[5]
    acct = world.account(account)
    c = Caller("", principal, account, principal_arn=principal)
    if service == "iam" and rest == "root":
        c.kind = "root"
    elif service == "iam" and rest.startswith("user/"):
        c.kind, c.names["user"] = "user", principal
        user = _find_user(world, acct, principal)
        if user is not None:
            c.tags, c.identity, c.declared = user.tags, _user_policies(world, acct, user), True
            c.boundary = _boundary(world, acct, user.boundary)
            c.userid = user.unique_id
    elif service == "iam" and rest.startswith("role/"):  # R1: a session of the role
        c.kind = "role"
        _with_role(world, c, acct, next((r for r in _roles(acct) if role_arn(account, r) == principal), None),
                   principal)
    elif service == "sts" and rest.startswith("assumed-role/"):
        c.kind, c.names["session"] = "session", principal
        role_name = rest.split("/")[1]
        role = next((r for r in _roles(acct) if r.name == role_name), None)
        arn = role_arn(account, role) if role else f"arn:aws:iam::{account}:role/{role_name}"
        _with_role(world, c, acct, role, arn)
        if role is not None and role.unique_id is not None:
            c.userid = f"{role.unique_id}:{rest.split('/', 2)[2]}"
    elif service == "sts" and rest.startswith("federated-user/"):
        c.kind, c.names["federated"] = "federated", principal
        if federating_user:  # R2: the user who called GetFederationToken
            fed_arn = federating_user
            if not fed_arn.startswith("arn:"):
                fed_arn = f"arn:aws:iam::{account}:user/{federating_user}"
            c.names["federating-user"] = fed_arn
            user = _find_user(world, acct, fed_arn)
            if user is not None:  # the session carries the user's tags (id_session-tags, GetFederationToken)
                c.identity = _user_policies(world, acct, user)
                c.boundary = _boundary(world, acct, user.boundary)
                c.tags = user.tags
    else:
        raise ValueError(f"not a principal ARN: {principal!r}")
    return c


@dataclass
class Target:
    arn: str
    account: str | None
    tags: tuple = ()
    policy: Policy | None = None
    kind: str = "resource"  # resource | trust | key
    known: bool = True  # the world decides its aws:ResourceTag keys
    aws_managed: bool = False  # an AWS managed KMS key
    object_tags: tuple = ()  # a declared S3 object's own tags (s3:ExistingObjectTag)
    object_known: bool = False  # the world declares the S3 object
    reads_object_tags: bool = False  # S3 gives the action s3:ExistingObjectTag (the catalog lists it)


def _target(world: _World, arn: str, action: str, caller: Caller) -> Target:
    """The requested resource: owner, tags and resource-based policy (R5, R6)."""
    declared = next(((acct, res) for acct in world.r.accounts.values() for res in acct.resources if res.arn == arn),
                    None)
    if arn.startswith("arn:aws:s3:::"):
        # aws:ResourceTag: the bucket's tags, for the bucket and its objects, only with ABAC enabled
        info = Catalog.default().action(action)
        object_keys = dict(object_tags=declared[1].tags if declared and "/" in arn else (),
                           object_known=declared is not None and "/" in arn,
                           reads_object_tags=info is not None and any(
                               k.casefold().startswith("s3:existingobjecttag/") for k in info.condition_keys))
        bucket = arn.split("/", 1)[0]
        for acct in world.r.accounts.values():
            for res in acct.resources:
                if res.arn == bucket:  # the bucket, or an object of it: the bucket's policy and owner
                    return Target(arn, acct.id, res.tags if res.abac else (), res.policy, **object_keys)
        owner = declared[0].id if declared is not None else caller.account
        return Target(arn, owner, (), declared[1].policy if declared else None, known=False, **object_keys)
    if declared is not None:
        acct, res = declared
        kind = "key" if ":kms:" in arn and arn.split(":", 5)[-1].startswith("key/") else "resource"
        return Target(arn, acct.id, res.tags, res.policy, kind, aws_managed=res.aws_managed)
    for acct in world.r.accounts.values():
        for role in acct.roles:
            if role_arn(acct.id, role) == arn:
                if any(wildcard_match(p, action, ignore_case=True) for p in TRUST_ACTIONS):
                    return Target(arn, acct.id, role.tags, role.trust, "trust")
                return Target(arn, acct.id, role.tags)
        for user in acct.users:
            if user_arn(acct.id, user) == arn:
                return Target(arn, acct.id, user.tags)
    parts = arn.split(":")
    account = parts[4] if len(parts) > 5 and parts[4].isdigit() and len(parts[4]) == 12 else caller.account
    if (len(parts) > 5 and parts[2] == "iam" and parts[4] == account and parts[5].startswith("role/")
            and any(wildcard_match(p, action, ignore_case=True) for p in TRUST_ACTIONS)):
        return Target(arn, account, known=False, kind="trust")  # a role the world lacks: no trust policy (R6)
    return Target(arn, account, known=False)


# ------------------------------------------------------------------------------------------
# The request context (R7) and statement matching


class Undeclared(Exception):
    """A policy read a key AWS always sets whose value the world does not give (R7)."""


UNDECLARED = ("<not in the world>",)  # its value in a request's context


class Request:
    def __init__(self, action: str, resource: str, context: dict[str, tuple[str, ...]]):
        self.action, self.resource, self.context = action, resource, context
        self.catalog = Catalog.default()

    def multivalued(self, key: str) -> bool:
        info = self.catalog.condition_key(key)
        return info is not None and info.multivalued

    def values(self, key: str) -> tuple[str, ...] | None:
        found = self.context.get(key.casefold())
        if found is UNDECLARED:
            raise Undeclared(key)
        return found

    def variable(self, key: str) -> tuple[str, ...] | None:
        """Policy variables: multivalued keys cannot be variables (§1.10)."""
        return None if self.multivalued(key) else self.values(key)


def _org_keys(world: _World, acct_id: str | None, prefix: str) -> list[tuple[str, str]]:
    """aws:{Principal,Resource}OrgID and …OrgPaths (``o-id/r-id/ou-…/``) of an account."""
    found = world.org_path(acct_id)
    if found is None:
        return []
    place, chain = found
    return [(f"aws:{prefix}OrgID", place.org.id), (f"aws:{prefix}OrgPaths", "/".join([place.org.id, *chain]) + "/")]


#: Keys whose value only the world decides: a caller-given value is dropped (R7).
WORLD_KEYS = {k.casefold() for k in (
    "aws:PrincipalArn", "aws:PrincipalAccount", "aws:PrincipalOrgID", "aws:PrincipalOrgPaths",
    "aws:PrincipalType", "aws:username", "aws:PrincipalIsAWSService", "aws:PrincipalServiceName",
    "aws:ResourceAccount", "aws:ResourceOrgID", "aws:ResourceOrgPaths")}


def _caller_may_set(key: str, caller: Caller, target: Target, world: "_World") -> bool:
    """R7: the caller sets environment keys, session tags, the tags of a user and the organization
    of an account the world does not declare, and tags of resources the world lacks."""
    if key in ("aws:principalorgid", "aws:principalorgpaths"):
        return caller.kind not in ("anonymous", "service") and world.account(caller.account) is None
    if key in ("aws:resourceorgid", "aws:resourceorgpaths"):
        return target.account is not None and world.account(target.account) is None
    if key in WORLD_KEYS:
        return False
    if key in ("aws:sourcearn", "aws:sourceaccount", "aws:sourceorgid", "aws:sourceorgpaths"):
        return caller.kind == "service"  # set when a service calls on behalf of a resource's owner
    if key == "aws:sourceidentity":
        return caller.kind in ("role", "session")  # set when the role was assumed
    if key.startswith("aws:principaltag/"):
        return (caller.is_session and caller.tag_session) or (caller.kind == "user" and not caller.declared)
    if "resourcetag/" in key:
        return not target.known
    if key.startswith("s3:existingobjecttag/"):
        return not target.object_known and target.reads_object_tags
    return True


def _context(world: _World, caller: Caller, target: Target, given: dict | None) -> dict:
    """The request context: casefolded key → values, world-derived and caller-given (R7)."""
    derived: dict[str, list[str]] = {}

    def put(key: str, value: str) -> None:
        derived.setdefault(key.casefold(), []).append(value)

    if caller.kind == "anonymous":
        put("aws:PrincipalType", "Anonymous")
        put("aws:userid", "anonymous")
    elif caller.kind == "service":
        put("aws:PrincipalIsAWSService", "true")
        put("aws:PrincipalServiceName", caller.arn)
    else:
        put("aws:PrincipalArn", caller.principal_arn)
        put("aws:PrincipalAccount", caller.account)
        put("aws:PrincipalIsAWSService", "false")
        put("aws:PrincipalType", PRINCIPAL_TYPE[caller.kind])
        for key, value in _org_keys(world, caller.account, "Principal"):
            put(key, value)
        for k, v in caller.tags:
            put(f"aws:PrincipalTag/{k}", v)
        if caller.kind == "user":
            put("aws:username", caller.arn.rsplit("/", 1)[1])
        if caller.kind == "root":
            put("aws:userid", caller.account)
        if caller.kind == "federated":
            put("aws:userid", f"{caller.account}:{caller.arn.rsplit('/', 1)[1]}")
        if caller.userid is not None:
            put("aws:userid", caller.userid)
    if target.account:
        put("aws:ResourceAccount", target.account)
        if target.arn.split(":")[2:4] == ["s3", ""]:
            put("s3:ResourceAccount", target.account)  # the bucket owner's
        for key, value in _org_keys(world, target.account, "Resource"):
            put(key, value)
    service = target.arn.split(":")[2] if target.arn.count(":") >= 5 else None
    for k, v in target.tags:
        put(f"aws:ResourceTag/{k}", v)
        if service and service != "s3":
            put(f"{service}:ResourceTag/{k}", v)
    if target.reads_object_tags:
        for k, v in target.object_tags:  # a declared S3 object's tags
            put(f"s3:ExistingObjectTag/{k}", v)

    context = {}
    for key, value in (given or {}).items():
        if _caller_may_set(key.casefold(), caller, target, world):
            values = (value,) if isinstance(value, str) else tuple(value)
            context[key.casefold()] = values if any(values) or isinstance(value, str) else ()  # [""]: null
    for key, values in derived.items():
        if not (key.startswith("aws:principaltag/") and key in context):  # session tags win (§1.8)
            context[key] = tuple(values)
    if caller.kind in ("user", "role", "session") and "aws:userid" not in context:
        context["aws:userid"] = UNDECLARED
    if caller.kind in ("role", "session", "federated") and "aws:tokenissuetime" not in context:
        context["aws:tokenissuetime"] = UNDECLARED  # temporary credentials: issued at a time not known
    return context


def _statement_matches(s: Statement, policy: Policy, req: Request) -> bool:
    """Action, Resource and Condition of one statement (§1.9, §2); the Principal is apart."""
    if s.action is not None:
        action_ok = any(wildcard_match(p, req.action, ignore_case=True) for p in s.action)
    else:
        action_ok = s.not_action is not None and not any(
            wildcard_match(p, req.action, ignore_case=True) for p in s.not_action)
    if not action_ok:
        return False

    def covers(pattern: str) -> bool:
        text = substitute(pattern, req.variable, version=policy.version, wildcards=True)
        return text is not None and resource_match(text, req.resource, escaped=True)

    if s.resource is not None and not any(covers(p) for p in s.resource):
        return False
    if s.not_resource is not None and any(covers(p) for p in s.not_resource):
        return False
    def holds(c) -> bool:
        key = c.key.casefold()
        if req.context.get(key) is UNDECLARED and key in ("aws:userid", "aws:tokenissuetime"):
            if c.operator.lower() == "null":
                return "false" in {v.lower() for v in c.values}  # present, whatever its value
            if key == "aws:tokenissuetime":  # compared as without it (the caller gives its value)
                return evaluate_condition(c.operator, c.values, None).holds
        return evaluate_condition(c.operator, c.values, req.values(c.key), multivalued=req.multivalued(c.key),
                                  lookup=req.variable, version=policy.version).holds

    return all(holds(c) for c in s.conditions)


def _naming(p: Principal, caller: Caller) -> str | None:
    """How one Principal entry names the caller (a §1.3 row), or None."""
    if p.type == "Service":
        return "service" if caller.kind == "service" and p.value.lower() == caller.arn.lower() else None
    if p.type != "AWS":
        return None
    if p.value == "*":
        return "any"
    if caller.account and p.value in (caller.account, root_arn(caller.account)):
        return "account"
    return next((level for level, arn in caller.names.items() if arn == p.value), None)


def _namings(s: Statement, caller: Caller) -> set[str]:
    """The ways a statement of a resource-based policy names the caller; empty: not applicable."""
    if s.principal is not None:
        return {n for n in (_naming(p, caller) for p in s.principal) if n}
    if s.not_principal is not None:
        if s.effect == "Deny" and caller.boundary is not None:
            return {"any"}  # §1.5: Deny+NotPrincipal always denies a principal with a boundary
        listed = {_naming(p, caller) for p in s.not_principal}
        excluded = "any" in listed or all(level in listed for level in caller.levels)  # R4
        return set() if excluded else {"any"}
    return set()


def _has(policies, effect: str, req: Request) -> bool:
    """Some statement of ``policies`` (without Principal element) with ``effect`` applies."""
    return any(s.effect == effect and _statement_matches(s, p, req) for p in policies for s in p.statements)


def _resource_namings(policy: Policy | None, effect: str, req: Request, caller: Caller) -> set[str]:
    """Union of the namings of the applicable statements with ``effect`` of a resource-based policy."""
    found: set[str] = set()
    for s in policy.statements if policy else ():
        if s.effect == effect and _statement_matches(s, policy, req):
            found |= _namings(s, caller)
    return found


# ------------------------------------------------------------------------------------------
# Organization levels (§1.6, §1.7)


def _org_levels(world: _World, acct_id: str | None, kind: str) -> list[list[Policy]] | None:
    """The SCPs or RCPs at each level root → OUs → account, or None when they do not apply."""
    found = world.org_path(acct_id)
    if found is None or world.is_management(acct_id):
        return None
    place, chain = found
    attachment_lists = [world.nodes[n].attachments for n in chain] + [place.ref.attachments if place.ref else ()]
    levels = []
    for attachments in attachment_lists:
        names = [a.policy for a in attachments if a.kind == kind and not a.detach]
        if kind == "scp" and not any(a.detach and a.policy == FULL_AWS_ACCESS for a in attachments):
            names.append(FULL_AWS_ACCESS)  # attached by default unless detached
        if kind == "rcp":
            names.append(RCP_FULL_AWS_ACCESS)  # always attached
        found_policies = [world.r.org_policy(place.org, kind, n) for n in dict.fromkeys(names)]
        levels.append([f[1].document for f in found_policies if f is not None])
    return levels


def _scp_levels(world: _World, caller: Caller):
    if caller.kind in ("service", "anonymous") or caller.service_linked:
        return None
    return _org_levels(world, caller.account, "scp")


def _rcp_levels(world: _World, caller: Caller, target: Target, action: str):
    service = action.split(":", 1)[0].lower()
    if caller.service_linked or service not in world.r.rcp_services or action.lower() == "kms:retiregrant":
        return None
    if target.aws_managed:  # RCPs do not apply to AWS managed KMS keys
        return None
    return _org_levels(world, target.account, "rcp")


# ------------------------------------------------------------------------------------------
# The cascade (§1.2)


# R9, from the AWS pages it cites (action names in lower case)
BUCKET_POLICY_ACTIONS = {"s3:getbucketpolicy", "s3:putbucketpolicy", "s3:deletebucketpolicy"}
OWNER_ONLY_ACTIONS = BUCKET_POLICY_ACTIONS | {f"sqs:{a}" for a in (
    "addpermission", "cancelmessagemovetask", "createqueue", "deletequeue", "listmessagemovetasks", "listqueues",
    "listqueuetags", "removepermission", "setqueueattributes", "startmessagemovetask", "tagqueue", "untagqueue")}
OWNER_ONLY_ACTIONS |= {f"s3-outposts:{a}" for a in ("getbucketpolicy", "putbucketpolicy", "deletebucketpolicy")}
OWNER_ONLY_ACTIONS |= {f"s3express:{a}" for a in (
    "createbucket", "deletebucket", "listallmydirectorybuckets", "getbucketpolicy", "putbucketpolicy",
    "deletebucketpolicy", "putencryptionconfiguration", "getencryptionconfiguration", "putlifecycleconfiguration",
    "putmetricsconfiguration")}
BUCKET_POLICY_ACTIONS |= {f"{s}:{a}" for s in ("s3-outposts", "s3express")
                          for a in ("getbucketpolicy", "putbucketpolicy", "deletebucketpolicy")}
# the services that take only requests signed with AWS credentials (no anonymous caller)
SIGNED_ONLY = {"sts", "iam", "kms", "secretsmanager"}
# the services whose operations work on a resource of another account only when listed
CROSS_ACCOUNT_ONLY = {
    "kms": {f"kms:{a}" for a in (
        "creategrant", "decrypt", "derivesharedsecret", "describekey", "encrypt", "generatedatakey",
        "generatedatakeypair", "generatedatakeypairwithoutplaintext", "generatedatakeywithoutplaintext", "generatemac",
        "getpublickey", "listgrants", "reencryptfrom", "reencryptto", "retiregrant", "revokegrant", "sign", "verify",
        "verifymac")},
    "secretsmanager": {f"secretsmanager:{a}" for a in (
        "acceptcrossaccountreplication", "cancelrotatesecret", "deleteresourcepolicy", "deletesecret",
        "describesecret", "getrandompassword", "getresourcepolicy", "getsecretvalue", "listsecretversionids",
        "putresourcepolicy", "putsecretvalue", "removeregionsfromreplication", "replicatesecrettoregions",
        "restoresecret", "rotatesecret", "stopreplicationtoreplica", "tagresource", "untagresource", "updatesecret",
        "updatesecretversionstage", "validateresourcepolicy")},
    "backup": {"backup:copyintobackupvault"},
}


def _service_refuses(caller, target, action: str) -> bool:
    """R9: the service refuses the request whatever the policies say."""
    action = action.lower()
    if caller.kind == "root" and target.kind == "trust" and action == "sts:assumerole":
        return True
    service = action.partition(":")[0]
    if caller.kind == "anonymous" and service in SIGNED_ONLY:
        return True
    if caller.kind == "federated" and service in ("iam", "sts") and action != "sts:getcalleridentity":
        return True
    if target.account is None or caller.account == target.account:
        return False
    # a caller of no account (anonymous, a service) is outside the owner's account too; the lists of
    # operations that work across accounts hold for accounts and anonymous callers
    listed = CROSS_ACCOUNT_ONLY.get(action.partition(":")[0]) if caller.kind != "service" else None
    return action in OWNER_ONLY_ACTIONS or (listed is not None and action not in listed)


def _explicit_deny(caller, target, req, session, scps, rcps) -> bool:
    """§1.2 step 1: a Deny in any applicable policy of any type (R9: but the bucket policy's for
    its owner's root user managing it)."""
    principal_policies = caller.identity + [p for p in (caller.boundary, session) if p is not None]
    if _has(principal_policies, "Deny", req):
        return True
    if scps is not None and any(_has(level, "Deny", req) for level in scps):
        return True
    owner_root = (caller.kind == "root" and caller.account == target.account
                  and req.action.lower() in BUCKET_POLICY_ACTIONS)
    if not owner_root and _resource_namings(target.policy, "Deny", req, caller):
        return True
    return rcps is not None and any(_resource_namings(p, "Deny", req, caller) for level in rcps for p in level)


def _rcps_allow(rcps, req: Request, caller: Caller) -> bool:
    """§1.2 step 2 / §1.7: an Allow at every level root → OUs → account of the resource's account."""
    return rcps is None or all(any(_resource_namings(p, "Allow", req, caller) for p in level) for level in rcps)


def _scps_allow(scps, req: Request) -> bool:
    """§1.2 step 3 / §1.6 / §3.1: an Allow at every level; an empty level denies."""
    return scps is None or all(_has(level, "Allow", req) for level in scps)


def _principal_side(caller: Caller, req: Request, session: Policy | None) -> dict[str, bool]:
    """§1.2 steps 5–7: does each principal-side policy type allow?"""
    if caller.kind == "federated" and session is None:
        session_ok = False  # GetFederationToken without a session policy (§3.8)
    elif session is None:
        session_ok = True  # not a session, or a role session without session policy
    else:
        session_ok = _has([session], "Allow", req)
    return {
        "identity": caller.kind == "root" or _has(caller.identity, "Allow", req),  # §1.1 root
        "boundary": caller.boundary is None or _has([caller.boundary], "Allow", req),
        "session": session_ok,
    }


def reference_decide(model: WorldModel, principal: str, action: str, resource: str,
                     context: dict | None = None, session_policy: Policy | None = None, *,
                     federating_user: str | None = None) -> str:
    """Decide one request: "Allow", "ExplicitDeny" or "ImplicitDeny" (module docstring)."""
    world = _World(model)
    caller = _caller(world, principal, federating_user)
    target = _target(world, resource, action, caller)
    req = Request(action, resource, _context(world, caller, target, context))
    session = session_policy if caller.is_session else None  # R8
    scps, rcps = _scp_levels(world, caller), _rcp_levels(world, caller, target, action)

    if _explicit_deny(caller, target, req, session, scps, rcps):  # step 1
        return EXPLICIT_DENY
    if not _rcps_allow(rcps, req, caller):  # step 2
        return IMPLICIT_DENY
    if not _scps_allow(scps, req):  # step 3
        return IMPLICIT_DENY
    if _service_refuses(caller, target, action):  # R9
        return IMPLICIT_DENY

    namings = _resource_namings(target.policy, "Allow", req, caller)
    if caller.kind in ("service", "anonymous"):  # only a resource policy can grant them
        return ALLOW if namings else IMPLICIT_DENY
    side = _principal_side(caller, req, session)
    principal_ok = all(side.values())
    if caller.account != target.account:  # §1.4: both sides must allow
        return ALLOW if principal_ok and namings else IMPLICIT_DENY
    # §1.2 step 4 and the §1.3 table: which implicit denies a resource-policy Allow lifts.
    resource_ok = any(all(side[k] for k in STILL_LIMITS[n]) for n in namings)
    if target.kind == "trust":  # "If a permissions boundary is set for the user, then it must allow
        # the sts:AssumeRole action" (id_roles_update-role-trust-policy.html)
        resource_ok = resource_ok and side["boundary"]
    if target.kind in ("trust", "key"):  # must allow explicitly (§1.8)
        return ALLOW if resource_ok else IMPLICIT_DENY
    return ALLOW if resource_ok or principal_ok else IMPLICIT_DENY
