"""hypothesis strategies that build iamlogic values, for property tests of the engine and of your own worlds.

Strategies build AST values, not text, so every generated value is well formed by construction;
print it with :mod:`iamlogic.grammar.printer` or :func:`iamlogic.grammar.json_policy.policy_to_json`
to get text.

- From the AWS catalog: :func:`catalog_actions`, :func:`arns` (concrete ARNs of the catalog's
  resource types), :func:`condition_blocks` (every operator, IfExists and set qualifiers, with keys
  and values that fit), :func:`policies_of_kind` (policies valid as identity, boundary, session,
  scp, rcp, resource, key or trust policies).
- Whole worlds: :func:`valid_world_models` (organizations with SCP/RCP levels, accounts, users,
  groups, roles, boundaries, buckets, queues and KMS keys with resource policies; every reference
  resolves) and :func:`requests_for` (requests whose principals, actions and resources exist in
  the world, with the context keys its conditions use).
- Syntax only (for parser and printer tests): :func:`policies`, :func:`statements`,
  :func:`world_models`.

>>> from hypothesis import given
>>> from iamlogic.testing import policies
>>> @given(policies())
... def test_policy_has_statements(p):
...     assert isinstance(p.statements, tuple)
"""

from __future__ import annotations

import re
from dataclasses import replace

from hypothesis import strategies as st

from .grammar.json_policy import BASE_OPERATORS
from .grammar.ast import (
    PRINCIPAL_TYPES,
    Account,
    AccountRef,
    Attachment,
    Condition,
    Group,
    NamedPolicy,
    Organization,
    OrgNode,
    Policy,
    Principal,
    RcpServices,
    Resource,
    Role,
    Statement,
    User,
    WorldModel,
)


#: Any text a policy may hold (no lone surrogates: they cannot be written to a UTF-8 file).
text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
small_names = st.from_regex(r"[A-Za-z][A-Za-z0-9_+=.@\-]{0,10}", fullmatch=True)
names = st.one_of(small_names, text.filter(bool))
account_ids = st.from_regex(r"[0-9]{12}", fullmatch=True)

actions = st.one_of(
    st.sampled_from(["*", "s3:GetObject", "s3:Get*", "iam:*", "sts:AssumeRole", "ec2:Describe?nstances",
                     "dynamodb:GetItem", "lambda:InvokeFunction", "kms:Decrypt"]),
    st.from_regex(r"[A-Za-z0-9*?\-]{1,8}:[A-Za-z0-9*?_\-]{1,8}", fullmatch=True),
)
resources = st.one_of(
    st.sampled_from(["*", "arn:aws:s3:::bucket", "arn:aws:s3:::bucket/*", "arn:aws:s3:::home/${aws:username}/*",
                     "arn:aws:iam::111122223333:role/Admin", "arn:aws:sqs:us-east-1:111122223333:q"]),
    text.filter(bool),
)


def operators() -> st.SearchStrategy[str]:
    """Every operator AWS accepts: base operators with IfExists and set qualifiers (never Null…IfExists)."""
    base = st.sampled_from(BASE_OPERATORS)
    return st.builds(
        lambda b, q, ie: f"{q}{b}{'IfExists' if ie and b != 'Null' else ''}",
        base, st.sampled_from(["", "ForAllValues:", "ForAnyValue:"]), st.booleans())


def conditions() -> st.SearchStrategy[tuple[Condition, ...]]:
    """A condition block: distinct (operator, key) pairs grouped by operator, as JSON can express them."""
    keys = st.one_of(st.sampled_from(["aws:username", "aws:PrincipalTag/Team", "aws:SourceIp", "s3:prefix",
                                      "aws:TagKeys", "dynamodb:LeadingKeys"]), text.filter(bool))
    # Condition keys are case-insensitive: one key appears once under an operator.
    entry = st.tuples(operators(), keys, st.lists(text, max_size=3).map(tuple))

    def group(items):
        seen, order = {}, []
        for op, key, values in items:
            if (op, key.lower()) not in {(o, k.lower()) for o, k in seen}:
                seen[(op, key)] = values
                order.append((op, key))
        ops = list(dict.fromkeys(op for op, _ in order))
        return tuple(Condition(op, key, seen[(op, key)]) for o in ops for (op, key) in order if op == o)

    return st.lists(entry, max_size=3).map(group)


def principals_list() -> st.SearchStrategy[tuple[Principal, ...]]:
    """Principal entries grouped by type in AWS's order, as JSON can express them."""
    one = st.one_of(
        st.just(Principal("AWS", "*")),
        st.builds(Principal, st.sampled_from(PRINCIPAL_TYPES), text.filter(lambda s: s not in ("", "*"))),
    )

    def group(items):
        unique = list(dict.fromkeys(items))
        return tuple(p for t in PRINCIPAL_TYPES for p in unique if p.type == t)

    return st.lists(one, min_size=1, max_size=3).map(group)


@st.composite
def statements(draw) -> Statement:
    """One statement using any combination of elements."""
    kw = {}
    acts = tuple(draw(st.lists(actions, min_size=1, max_size=3)))
    kw["not_action" if draw(st.booleans()) else "action"] = acts
    which = draw(st.sampled_from(["resource", "not_resource", None]))
    if which:
        kw[which] = tuple(draw(st.lists(resources, min_size=1, max_size=3)))
    which = draw(st.sampled_from(["principal", "not_principal", None]))
    if which:
        kw[which] = draw(principals_list())
    return Statement(draw(st.sampled_from(["Allow", "Deny"])), draw(st.one_of(st.none(), text)),
                     conditions=draw(conditions()), **kw)


def policies() -> st.SearchStrategy[Policy]:
    return st.builds(Policy, st.lists(statements(), min_size=1, max_size=4).map(tuple),
                     st.sampled_from(["2012-10-17", "2008-10-17", None]), st.one_of(st.none(), text))


def named_policies(name_strategy=small_names) -> st.SearchStrategy[NamedPolicy]:
    return st.builds(NamedPolicy, name_strategy, policies())


tags = st.lists(st.tuples(names, text), max_size=2).map(tuple)
paths = st.sampled_from(["/", "/eng/", "/aws-service-role/support.amazonaws.com/"])
name_lists = st.lists(names, max_size=2).map(tuple)


def users() -> st.SearchStrategy[User]:
    return st.builds(User, names, paths, tags, name_lists, st.lists(named_policies(), max_size=1).map(tuple),
                     name_lists, st.one_of(st.none(), names))


def groups() -> st.SearchStrategy[Group]:
    return st.builds(Group, names, paths, st.lists(named_policies(), max_size=1).map(tuple), name_lists)


def roles() -> st.SearchStrategy[Role]:
    return st.builds(Role, names, paths, tags, st.one_of(st.none(), policies()),
                     st.lists(named_policies(), max_size=1).map(tuple), name_lists, st.one_of(st.none(), names),
                     st.booleans())


def accounts() -> st.SearchStrategy[Account]:
    return st.builds(
        Account, account_ids, text, tags, st.lists(users(), max_size=2).map(tuple),
        st.lists(groups(), max_size=1).map(tuple), st.lists(roles(), max_size=2).map(tuple),
        st.lists(named_policies(), max_size=2).map(tuple),
        st.lists(st.builds(Resource, resources, tags, st.one_of(st.none(), policies())), max_size=2).map(tuple))


attachments = st.builds(Attachment, st.sampled_from(["scp", "rcp"]), names, st.just(False)) | st.just(
    Attachment("scp", "FullAWSAccess", True))


def org_nodes(depth: int = 2, kind: str = "ou") -> st.SearchStrategy[OrgNode]:
    children = st.lists(org_nodes(depth - 1), max_size=2).map(tuple) if depth > 0 else st.just(())
    refs = st.lists(st.builds(AccountRef, st.one_of(account_ids, names), st.lists(attachments, max_size=1).map(tuple)),
                    max_size=2).map(tuple)
    return st.builds(OrgNode, st.just(kind), st.just("Root") if kind == "root" else names,
                     st.one_of(st.none(), text), st.lists(attachments, max_size=2).map(tuple), refs, children)


def organizations() -> st.SearchStrategy[Organization]:
    pols = st.lists(st.tuples(st.sampled_from(["scp", "rcp"]), named_policies()), max_size=2).map(tuple)
    return st.builds(Organization, text, st.one_of(account_ids, names), org_nodes(2, "root"), pols)


def world_models() -> st.SearchStrategy[WorldModel]:
    """Syntactically complete worlds; their references need not resolve."""
    return st.builds(WorldModel, st.lists(organizations(), max_size=1).map(tuple),
                     st.lists(accounts(), max_size=2).map(tuple),
                     st.lists(named_policies(), max_size=1).map(tuple))


# ---------------------------------------------------------------------------------------------
# Valid worlds and requests consistent with them (every reference resolves)

ACCOUNT_POOL = ("111111111111", "222222222222", "333333333333")
ACTION_POOL = ("s3:GetObject", "s3:PutObject", "s3:ListBucket", "sqs:SendMessage", "sts:AssumeRole",
               "iam:CreateUser", "kms:Decrypt")
ACTION_PATTERNS = ACTION_POOL + ("*", "s3:*", "s3:Get*", "sqs:*", "iam:*", "s3:?etObject")
CONTEXT_KEYS = {
    "aws:SourceIp": ("10.0.0.5", "192.0.2.7", "2001:db8::1"),
    "aws:MultiFactorAuthPresent": ("true", "false"),
    "aws:RequestedRegion": ("eu-west-1", "us-east-1"),
}


def _resource_pool(accounts) -> tuple[str, ...]:
    pool = ["*"]
    for i, _ in enumerate(accounts):
        pool += [f"arn:aws:s3:::bucket{i}", f"arn:aws:s3:::bucket{i}/*",
                 f"arn:aws:s3:::bucket{i}/data/${{aws:username}}", f"arn:aws:s3:::bucket{i}/data/${{aws:userid}}"]
    pool += [f"arn:aws:sqs:us-east-1:{a}:queue" for a in accounts]
    pool += [f"arn:aws:iam::{a}:role/*" for a in accounts]
    pool += [f"arn:aws:kms:us-east-1:{a}:key/k1" for a in accounts]
    return tuple(pool)


@st.composite
def _conditions(draw) -> tuple[Condition, ...]:
    options = [
        Condition("IpAddress", "aws:SourceIp", ("10.0.0.0/8",)),
        Condition("NotIpAddress", "aws:SourceIp", ("10.0.0.0/8", "2001:db8::/32")),
        Condition("Bool", "aws:MultiFactorAuthPresent", ("true",)),
        Condition("BoolIfExists", "aws:MultiFactorAuthPresent", ("false",)),
        Condition("StringEquals", "aws:PrincipalTag/team", ("red",)),
        Condition("StringNotEquals", "aws:PrincipalTag/team", ("red", "blue")),
        Condition("StringEquals", "aws:PrincipalOrgID", ("o-a1b2c3d4e5",)),
        Condition("StringNotEqualsIfExists", "aws:PrincipalOrgID", ("o-a1b2c3d4e5",)),
        Condition("StringLike", "aws:RequestedRegion", ("eu-*",)),
        Condition("ForAnyValue:StringEquals", "aws:PrincipalOrgPaths", ("o-a1b2c3d4e5/*",)),
        Condition("ForAnyValue:StringLike", "aws:PrincipalOrgPaths", ("o-a1b2c3d4e5/*",)),
        Condition("Null", "aws:SourceIp", ("true",)),
        Condition("StringEquals", "aws:ResourceTag/team", ("${aws:PrincipalTag/team}",)),
        Condition("StringNotEquals", "s3:ExistingObjectTag/team", ("red",)),
        Condition("ArnLike", "aws:PrincipalArn", ("arn:aws:iam::*:role/*",)),
        Condition("StringLike", "aws:userid", ("AIDA*",)),
        Condition("StringNotLike", "aws:userid", ("AROA*:s",)),
    ]
    if draw(st.integers(0, 2)) > 0:
        return ()
    picked = draw(st.lists(st.sampled_from(options), min_size=1, max_size=2, unique=True))
    ops = list(dict.fromkeys(c.operator for c in picked))
    return tuple(c for o in ops for c in picked if c.operator == o)


@st.composite
def _statement(draw, kind: str, accounts, principals_pool) -> Statement:
    effect = draw(st.sampled_from(["Allow", "Allow", "Allow", "Deny"])) if kind not in ("trust", "rcp") else "Allow"
    if kind == "scp" and draw(st.booleans()):
        effect = "Deny"
    kw = {}
    if kind == "trust":
        kw["action"] = ("sts:AssumeRole",)
    elif draw(st.integers(0, 5)) == 0:
        kw["not_action"] = tuple(draw(st.lists(st.sampled_from(ACTION_PATTERNS[1:]), min_size=1, max_size=2, unique=True)))
    else:
        kw["action"] = tuple(draw(st.lists(st.sampled_from(ACTION_PATTERNS), min_size=1, max_size=2, unique=True)))
    if kind != "trust":
        res = tuple(draw(st.lists(st.sampled_from(_resource_pool(accounts)), min_size=1, max_size=2, unique=True)))
        kw["not_resource" if draw(st.integers(0, 6)) == 0 else "resource"] = res
    if kind in ("resource", "trust", "key", "rcp"):
        if kind == "rcp":
            kw["principal"] = (Principal("AWS", "*"),)
        elif effect == "Deny" and draw(st.integers(0, 3)) == 0:
            kw["not_principal"] = tuple(draw(st.lists(st.sampled_from(principals_pool), min_size=1, max_size=3, unique=True)))
        else:
            kw["principal"] = tuple(draw(st.lists(st.sampled_from(principals_pool), min_size=1, max_size=2, unique=True)))
        if "principal" in kw:
            kw["principal"] = tuple(p for t in PRINCIPAL_TYPES for p in kw["principal"] if p.type == t)
        if "not_principal" in kw:
            kw["not_principal"] = tuple(p for t in PRINCIPAL_TYPES for p in kw["not_principal"] if p.type == t)
    return Statement(effect, conditions=draw(_conditions()), **kw)


def _policy(kind: str, accounts, principals_pool, max_size: int = 3):
    return st.lists(_statement(kind, accounts, principals_pool), min_size=1, max_size=max_size).map(
        lambda s: Policy(tuple(s)))


@st.composite
def valid_world_models(draw) -> WorldModel:
    """Small worlds whose references all resolve: an organization (sometimes), 2–3 accounts with
    users, groups, roles, managed policies, boundaries, buckets, queues and KMS keys with
    resource-based policies, SCPs and RCPs — built to exercise every layer of the evaluation."""
    n = draw(st.integers(2, 3))
    accounts = ACCOUNT_POOL[:n]
    principals_pool = _principals_pool(accounts)
    acct_models = []
    for i, a in enumerate(accounts):
        team = st.sampled_from([(), (("team", "red"),), (("team", "blue"),)])
        pols = (NamedPolicy("p0", draw(_policy("identity", accounts, principals_pool))),
                NamedPolicy("b0", draw(_policy("identity", accounts, principals_pool, 2))))
        users = (User("u0", unique_id=f"AIDA{a}", tags=draw(team), groups=("g0",) if draw(st.booleans()) else (),
                      managed=("p0",) if draw(st.booleans()) else (),
                      inline=(NamedPolicy("own", draw(_policy("identity", accounts, principals_pool))),),
                      boundary="b0" if draw(st.integers(0, 3)) == 0 else None),)
        groups = (Group("g0", managed=("p0",)),)
        roles = (Role("r0", unique_id=f"AROA{a}", tags=draw(team),
                      trust=draw(_policy("trust", accounts, principals_pool, 2)),
                      inline=(NamedPolicy("own", draw(_policy("identity", accounts, principals_pool))),),
                      boundary="b0" if draw(st.integers(0, 3)) == 0 else None,
                      service_linked=draw(st.integers(0, 6)) == 0),)
        resources = (
            Resource(f"arn:aws:s3:::bucket{i}", tags=draw(team),
                     policy=draw(st.one_of(st.none(), _policy("resource", accounts, principals_pool))),
                     abac=draw(st.booleans())),
            Resource(f"arn:aws:s3:::bucket{i}/x", tags=draw(team)),
            Resource(f"arn:aws:sqs:us-east-1:{a}:queue",
                     policy=draw(st.one_of(st.none(), _policy("resource", accounts, principals_pool)))),
            Resource(f"arn:aws:kms:us-east-1:{a}:key/k1", policy=draw(_policy("key", accounts, principals_pool)),
                     aws_managed=draw(st.integers(0, 3)) == 0),
        )
        acct_models.append(Account(a, f"acct{i}", (), users, groups, roles, pols, resources))
    orgs = ()
    if draw(st.integers(0, 4)) > 0:
        scps = [("scp", NamedPolicy(f"s{j}", draw(_policy("scp", accounts, principals_pool, 2)))) for j in range(2)]
        # (iam: RCPs do not restrict it; sqs neither when the world lists only s3, sts and kms, below)
        rcp_actions = draw(st.sampled_from([("s3:*", "sqs:*", "kms:*"), ("s3:*", "iam:*", "sqs:SendMessage")]))
        rcp_deny = Policy((Statement("Deny", action=rcp_actions, resource=("*",),
                                     principal=(Principal("AWS", "*"),), conditions=draw(_conditions())),))
        rcps = [("rcp", NamedPolicy("r0", rcp_deny))] if draw(st.booleans()) else []
        names = [p.name for _, p in scps]

        def atts(allow_rcp: bool):
            out = [Attachment("scp", s) for s in draw(st.lists(st.sampled_from(names), max_size=2, unique=True))]
            if draw(st.integers(0, 4)) == 0:
                out.append(Attachment("scp", "FullAWSAccess", True))
            if allow_rcp and rcps and draw(st.booleans()):
                out.append(Attachment("rcp", "r0"))
            return tuple(out)

        members = list(accounts[1:])
        under_ou = members[: draw(st.integers(0, len(members)))]
        deeper = under_ou[: draw(st.integers(0, len(under_ou)))]  # in an OU under the OU: two levels
        prod = OrgNode("ou", "Prod", None, atts(True), tuple(AccountRef(a, atts(False)) for a in deeper))
        ou = OrgNode("ou", "Workloads", None, atts(True),
                     tuple(AccountRef(a, atts(False)) for a in under_ou if a not in deeper), (prod,))
        root = OrgNode("root", "Root", "r-a1b2", atts(True), tuple(AccountRef(a) for a in members if a not in under_ou),
                       (ou,))
        orgs = (Organization("o-a1b2c3d4e5", accounts[0], root, tuple(scps + rcps)),)
    rcp_services = (RcpServices(("s3", "sts", "kms")),) if orgs and draw(st.integers(0, 3)) == 0 else ()
    return WorldModel(orgs, tuple(acct_models), (), rcp_services)


def _principals_pool(accounts) -> list[Principal]:
    pool = [Principal("AWS", "*"), Principal("Service", "events.amazonaws.com")]
    for a in accounts:
        pool += [Principal("AWS", a), Principal("AWS", f"arn:aws:iam::{a}:root"),
                 Principal("AWS", f"arn:aws:iam::{a}:user/u0"), Principal("AWS", f"arn:aws:iam::{a}:role/r0"),
                 Principal("AWS", f"arn:aws:sts::{a}:assumed-role/r0/s")]
    return pool


@st.composite
def world_changes(draw) -> tuple[WorldModel, WorldModel]:
    """A world of :func:`valid_world_models` and the same world after one change, as a pull request
    makes: a policy rewritten (a managed, inline, trust, resource, key policy, an SCP or an RCP), a
    NotAction list for another, the actions a trust policy allows (sts:TagSession, sts:*), a policy
    attached or detached (a managed policy to a user, an SCP to a level), a resource policy added or
    removed, a user put in or taken out of a group, a permissions boundary set or removed, a user's,
    role's or resource's tags, a bucket's ABAC, a role made service-linked or not, a unique id, a
    user or a role added (or, the pair swapped, removed), a member account moved to another level of
    the organization (a new OU among them), an OU moved, a member account added (or removed), another
    management account, another list of the services RCPs restrict."""
    model = draw(valid_world_models())
    accounts = [a.id for a in model.accounts]
    pool = _principals_pool(accounts)
    i = draw(st.integers(0, len(model.accounts) - 1))
    acct = model.accounts[i]
    user, role = acct.users[0], acct.roles[0]
    kinds = ["managed", "user inline", "role inline", "trust", "trust actions", "not action", "resource", "attach",
             "group", "boundary", "user tags", "role tags", "resource tags", "abac", "service-linked", "unique id",
             "new user", "new role", "new account"]
    if model.organizations:
        kinds += ["scp", "rcp", "attach scp", "move account", "move ou", "management", "rcp services"]
    kind = draw(st.sampled_from(kinds))

    def policy(of: str, size: int = 3) -> Policy:
        return draw(_policy(of, accounts, pool, size))

    def with_account(**changes) -> WorldModel:
        accts = list(model.accounts)
        accts[i] = replace(acct, **changes)
        return replace(model, accounts=tuple(accts))

    if kind == "managed":
        j = draw(st.integers(0, len(acct.policies) - 1))
        pols = list(acct.policies)
        pols[j] = replace(pols[j], document=policy("identity", 2))
        return model, with_account(policies=tuple(pols))
    if kind == "user inline":
        return model, with_account(users=(replace(user, inline=(NamedPolicy("own", policy("identity")),)),))
    if kind == "role inline":
        return model, with_account(roles=(replace(role, inline=(NamedPolicy("own", policy("identity")),)),))
    if kind == "trust":
        return model, with_account(roles=(replace(role, trust=policy("trust", 2)),))
    if kind == "trust actions":  # what a role's sessions may do besides being assumed: carry tags, say
        trust = draw(_policy("trust", accounts, pool, 1)).statements[0]
        widened = replace(trust, action=draw(st.sampled_from([("sts:AssumeRole", "sts:TagSession"), ("sts:*",),
                                                              ("sts:AssumeRole*",)])))
        return model, with_account(roles=(replace(role, trust=Policy((trust, widened))),))
    if kind == "not action":  # the user's inline policy: one NotAction list for another
        def excluding() -> NamedPolicy:
            patterns = draw(st.lists(st.sampled_from(ACTION_PATTERNS[1:]), min_size=1, max_size=2, unique=True))
            return NamedPolicy("own", Policy((Statement("Allow", not_action=tuple(patterns), resource=("*",),
                                                        conditions=draw(_conditions())),)))
        return (with_account(users=(replace(user, inline=(excluding(),)),)),
                with_account(users=(replace(user, inline=(excluding(),)),)))
    if kind == "resource":  # (not an S3 object: its bucket's policy governs it, E354)
        j = draw(st.sampled_from([j for j, r in enumerate(acct.resources) if not re.fullmatch(r"arn:aws:s3:::.+/.*", r.arn)]))
        res = list(acct.resources)
        of = "key" if ":kms:" in res[j].arn else "resource"
        new = policy(of) if of == "key" or draw(st.integers(0, 3)) else None  # (a bucket or queue: none)
        res[j] = replace(res[j], policy=new)
        return model, with_account(resources=tuple(res))
    if kind == "attach":
        return model, with_account(users=(replace(user, managed=() if user.managed else ("p0",)),))
    if kind == "group":
        return model, with_account(users=(replace(user, groups=() if user.groups else ("g0",)),))
    if kind == "boundary":
        return model, with_account(users=(replace(user, boundary=None if user.boundary else "b0"),))
    team = st.sampled_from([(), (("team", "red"),), (("team", "blue"),), (("team", "red"), ("env", "prod"))])
    if kind == "user tags":
        return model, with_account(users=(replace(user, tags=draw(team)),))
    if kind == "role tags":
        return model, with_account(roles=(replace(role, tags=draw(team)),))
    if kind in ("resource tags", "abac"):
        j = draw(st.integers(0, len(acct.resources) - 1))
        res = list(acct.resources)
        bucket = re.fullmatch(r"arn:aws:s3:::[^/]+", res[j].arn)
        res[j] = replace(res[j], abac=not res[j].abac) if kind == "abac" and bucket else replace(res[j], tags=draw(team))
        return model, with_account(resources=tuple(res))
    if kind == "service-linked":
        return model, with_account(roles=(replace(role, service_linked=not role.service_linked),))
    if kind == "unique id":
        return model, with_account(roles=(replace(role, unique_id=None if role.unique_id else f"AROA{acct.id}"),))
    if kind in ("new user", "new role"):  # added; or, the pair swapped, removed
        if kind == "new user":
            other = replace(user, name="u1", unique_id=f"AIDB{acct.id}", tags=draw(team),
                            inline=(NamedPolicy("own", policy("identity")),))
            grown = with_account(users=(*acct.users, other))
        else:
            other = replace(role, name="r1", unique_id=f"AROB{acct.id}", tags=draw(team), trust=policy("trust", 2),
                            inline=(NamedPolicy("own", policy("identity")),))
            grown = with_account(roles=(*acct.roles, other))
        return (model, grown) if draw(st.booleans()) else (grown, model)
    if kind == "new account":  # the last one (not the management account) and its place in the organization
        last = model.accounts[-1].id
        smaller = replace(model, accounts=model.accounts[:-1],
                          organizations=tuple(replace(o, root=_without(o.root, last)) for o in model.organizations))
        return (smaller, model) if draw(st.booleans()) else (model, smaller)
    org = model.organizations[0]
    if kind in ("scp", "rcp"):
        pols = list(org.policies)
        j = draw(st.sampled_from([j for j, (of, _) in enumerate(pols) if of == kind]
                                 or [j for j, (of, _) in enumerate(pols) if of == "scp"]))
        of, named = pols[j]
        if of == "scp":
            document = policy("scp", 2)
        else:  # an RCP denies (only AWS's RCPFullAWSAccess allows)
            document = Policy((Statement("Deny", action=draw(st.sampled_from([("s3:*", "sqs:*"), ("kms:*",),
                                                                              ("s3:GetObject", "sts:*")])),
                                         resource=("*",), principal=(Principal("AWS", "*"),),
                                         conditions=draw(_conditions())),))
        pols[j] = (of, replace(named, document=document))
        return model, replace(model, organizations=(replace(org, policies=tuple(pols)),))
    if kind == "management":  # (another account of the organization, or the same)
        return model, replace(model, organizations=(replace(org, management=draw(st.sampled_from(accounts))),))
    if kind == "rcp services":
        listed = draw(st.sampled_from([(), ("s3", "kms"), ("s3", "sts", "kms", "sqs")]))
        return model, replace(model, rcp_services=(RcpServices(listed),) if listed else ())
    if kind in ("move account", "move ou"):
        return model, replace(model, organizations=(replace(org, root=draw(_moved(org.root, kind == "move ou"))),))
    # attach scp: an SCP attached to, or detached from, the root or an OU
    name = draw(st.sampled_from([named.name for of, named in org.policies if of == "scp"]))
    node = org.root if draw(st.booleans()) or not org.root.children else org.root.children[0]
    atts = tuple(a for a in node.attachments if a.policy != name)
    if len(atts) == len(node.attachments):
        atts += (Attachment("scp", name),)
    changed = replace(node, attachments=atts)
    root = changed if node is org.root else replace(org.root, children=(changed, *org.root.children[1:]))
    return model, replace(model, organizations=(replace(org, root=root),))


def _without(node: OrgNode, acct: str) -> OrgNode:
    """An organization tree without an account."""
    return replace(node, accounts=tuple(a for a in node.accounts if a.ref != acct),
                   children=tuple(_without(child, acct) for child in node.children))


@st.composite
def _moved(draw, root: OrgNode, an_ou: bool) -> OrgNode:
    """The organization tree of :func:`valid_world_models` (the root, OU Workloads, OU Prod under it)
    with one member account moved to another level, or into a new OU under one (an account placed
    under the root, with its own attachments), or OU Prod moved under the root."""
    workloads = root.children[0]
    prod = workloads.children[0]
    if an_ou:  # (Prod from under Workloads to under the root)
        return replace(root, children=(replace(workloads, children=()), prod))
    places = [(n, ref) for n, node in enumerate((root, workloads, prod)) for ref in node.accounts]
    if not places:
        return root
    n, ref = draw(st.sampled_from(places))
    nodes = [replace(node, accounts=tuple(a for a in node.accounts if a is not ref)) for node in (root, workloads, prod)]
    to = draw(st.sampled_from([m for m in range(3) if m != n] + ["new"]))
    if to == "new":  # a new OU (FullAWSAccess alone, or with an SCP of the organization) under one of them
        under = draw(st.integers(0, 2))
        fresh = OrgNode("ou", "Fresh", None, draw(st.sampled_from([(), (Attachment("scp", "s0"),)])), (ref,))
        nodes[under] = replace(nodes[under], children=(*nodes[under].children, fresh))
    else:
        nodes[to] = replace(nodes[to], accounts=(*nodes[to].accounts, ref))
    root, workloads, prod = nodes
    return replace(root, children=(replace(workloads, children=(prod, *workloads.children[1:])), *root.children[1:]))


@st.composite
def requests_for(draw, model: WorldModel) -> dict:
    """A request consistent with a world from :func:`valid_world_models`."""
    accounts = [a.id for a in model.accounts]
    a = draw(st.sampled_from(accounts))
    principal = draw(st.sampled_from([
        f"arn:aws:iam::{a}:user/u0", f"arn:aws:iam::{a}:role/r0", f"arn:aws:sts::{a}:assumed-role/r0/s",
        f"arn:aws:iam::{a}:root", "anonymous", "events.amazonaws.com"]))
    b = draw(st.sampled_from(accounts))
    i = accounts.index(b)
    resource = draw(st.sampled_from([
        f"arn:aws:s3:::bucket{i}", f"arn:aws:s3:::bucket{i}/data/u0", f"arn:aws:s3:::bucket{i}/x",
        f"arn:aws:s3:::bucket{i}/data/AIDA{a}", f"arn:aws:s3:::bucket{i}/data/AROA{a}:s",
        f"arn:aws:sqs:us-east-1:{b}:queue", f"arn:aws:iam::{b}:role/r0", f"arn:aws:kms:us-east-1:{b}:key/k1", "*"]))
    context = {k: draw(st.sampled_from(v)) for k, v in CONTEXT_KEYS.items() if draw(st.booleans())}
    # always given: the session of a role given by its ARN has no aws:userid in the world (E507),
    # and analyses ask every principal with one request's context
    context["aws:userid"] = f"AROA{a}:s"
    return {"principal": principal, "action": draw(st.sampled_from(ACTION_POOL)), "resource": resource,
            "context": context}


# ---------------------------------------------------------------------------------------------
# Catalog-based strategies: actions, ARNs, condition blocks with fitting values, policies by kind

SERVICES = ("s3", "ec2", "iam", "sts", "sqs", "sns", "kms", "dynamodb", "lambda", "secretsmanager")
REGIONS = ("us-east-1", "eu-west-1", "eu-central-1", "ap-southeast-2")


def _catalog():
    from .catalog import Catalog

    return Catalog.default()


def catalog_actions(services: tuple[str, ...] = SERVICES) -> st.SearchStrategy[str]:
    """Actions of the AWS catalog (canonical spelling), from the given services."""
    cat = _catalog()
    return st.sampled_from(sorted(a for s in services for a in cat.expand(f"{s}:*")))


def _fill(template: str, draw) -> str:
    def value(m) -> str:
        name = m.group(1)
        if name == "Partition":
            return "aws"
        if name == "Region":
            return draw(st.sampled_from(REGIONS))
        if name == "Account":
            return draw(st.sampled_from(ACCOUNT_POOL))
        return draw(st.from_regex(r"[a-z][a-z0-9-]{0,8}", fullmatch=True))

    import re

    return re.sub(r"\$\{([A-Za-z]+)\}", value, template)


@st.composite
def arns(draw, services: tuple[str, ...] = SERVICES) -> str:
    """A concrete ARN of a resource type of the catalog, e.g. ``arn:aws:sqs:eu-west-1:111111111111:queue-a``."""
    cat = _catalog()
    action = cat.action(draw(catalog_actions(services).filter(lambda a: any(f for _, _, f in cat.action(a).resource_types))))
    template = draw(st.sampled_from([f for _, _, f in action.resource_types if f]))
    return _fill(template, draw)


#: Condition keys by value type, with values that fit them (global keys of the IAM guide).
KEYS_BY_FAMILY = {
    "String": ("aws:username", "aws:PrincipalTag/team", "aws:RequestedRegion", "aws:PrincipalOrgID"),
    "Numeric": ("aws:MultiFactorAuthAge", "s3:max-keys"),
    "Date": ("aws:CurrentTime", "aws:TokenIssueTime"),
    "Bool": ("aws:SecureTransport", "aws:MultiFactorAuthPresent"),
    "Binary": ("aws:username",),
    "Ip": ("aws:SourceIp",),
    "Arn": ("aws:SourceArn", "aws:PrincipalArn"),
    "Null": ("aws:SourceIp", "aws:TokenIssueTime", "aws:PrincipalTag/team"),
}


def values_for(family: str) -> st.SearchStrategy[str]:
    """Values that fit an operator family (and the keys of :data:`KEYS_BY_FAMILY`)."""
    import base64

    return {
        "String": st.sampled_from(["alice", "red", "eu-west-1", "o-a1b2c3d4e5", "a*", "r?d"]),
        "Numeric": st.integers(0, 7200).map(str),
        "Date": st.sampled_from(["2026-01-01T00:00:00Z", "2026-06-30", "1767225600"]),
        "Bool": st.sampled_from(["true", "false"]),
        "Binary": st.sampled_from(["alice", "bob"]).map(lambda s: base64.b64encode(s.encode()).decode()),
        "Ip": st.sampled_from(["10.0.0.0/8", "192.0.2.0/24", "203.0.113.7", "2001:db8::/32"]),
        "Arn": st.sampled_from(["arn:aws:sqs:*:111111111111:*", "arn:aws:iam::*:role/r0",
                                "arn:aws:s3:::bucket0"]),
        "Null": st.sampled_from(["true", "false"]),
    }[family]


def _family(base: str) -> str:
    for prefix, family in (("String", "String"), ("Numeric", "Numeric"), ("Date", "Date"), ("Bool", "Bool"),
                           ("Binary", "Binary"), ("IpAddress", "Ip"), ("NotIpAddress", "Ip"), ("Arn", "Arn"),
                           ("Null", "Null")):
        if base.startswith(prefix):
            return family
    raise ValueError(base)


@st.composite
def condition_blocks(draw) -> tuple[Condition, ...]:
    """A Condition element: any operator (with IfExists and set qualifiers), a key of fitting
    type, and fitting values — grouped by operator as JSON expresses them."""
    picked: dict[tuple[str, str], Condition] = {}
    for _ in range(draw(st.integers(1, 3))):
        base = draw(st.sampled_from(BASE_OPERATORS))
        family = _family(base)
        qualifier = "" if family == "Null" else draw(st.sampled_from(["", "", "ForAllValues:", "ForAnyValue:"]))
        key = draw(st.sampled_from(KEYS_BY_FAMILY[family]))
        if qualifier:  # set operators belong on multivalued keys
            key = "aws:PrincipalOrgPaths" if family in ("String", "Null") else key
        operator = f"{qualifier}{base}{'IfExists' if family != 'Null' and draw(st.booleans()) else ''}"
        values = tuple(draw(st.lists(values_for(family), min_size=1, max_size=2, unique=True)))
        picked.setdefault((operator, key.lower()), Condition(operator, key, values))
    ops = list(dict.fromkeys(op for op, _ in picked))
    return tuple(c for o in ops for (op, _), c in picked.items() if op == o)


@st.composite
def policies_of_kind(draw, kind: str) -> Policy:
    """A policy valid as ``kind`` (identity, boundary, session, scp, resource, key, trust, rcp)."""
    principals = [Principal("AWS", "*"), Principal("AWS", "111111111111"),
                  Principal("AWS", "arn:aws:iam::222222222222:role/r0"), Principal("Service", "events.amazonaws.com")]
    statements = []
    for _ in range(draw(st.integers(1, 3))):
        kw: dict = {}
        effect = draw(st.sampled_from(["Allow", "Deny"]))
        if kind == "trust":
            effect, kw["action"] = "Allow", ("sts:AssumeRole",)
        elif kind == "rcp":
            effect, kw["action"] = "Deny", tuple(draw(st.lists(st.sampled_from(["s3:*", "sqs:*", "kms:Decrypt"]),
                                                              min_size=1, max_size=2, unique=True)))
        else:
            kw["action"] = tuple(draw(st.lists(catalog_actions(), min_size=1, max_size=2, unique=True)))
        if kind != "trust":
            kw["resource"] = ("*",) if kind in ("key", "rcp") else tuple(
                draw(st.lists(st.one_of(st.just("*"), arns()), min_size=1, max_size=2, unique=True)))
        if kind in ("resource", "key", "trust"):
            chosen = draw(st.lists(st.sampled_from(principals), min_size=1, max_size=2, unique=True))
            kw["principal"] = tuple(p for t in PRINCIPAL_TYPES for p in chosen if p.type == t)
        elif kind == "rcp":
            kw["principal"] = (Principal("AWS", "*"),)
        conditions = draw(st.one_of(st.just(()), condition_blocks()))
        statements.append(Statement(effect, conditions=conditions, **kw))
    return Policy(tuple(statements))
