"""hypothesis strategies that build iamlogic values, for property tests of the engine and of your own worlds.

Requires the ``test`` extra (``pip install 'iamlogic[test]'``). Strategies build AST values, not
text, so every generated value is well formed by construction; print it with
:mod:`iamlogic.grammar.printer` or :func:`iamlogic.grammar.json_policy.policy_to_json` to get text.

>>> from hypothesis import given
>>> from iamlogic.testing import policies
>>> @given(policies())
... def test_policy_has_statements(p):
...     assert isinstance(p.statements, tuple)
"""

from __future__ import annotations

from hypothesis import strategies as st

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
    Resource,
    Role,
    Statement,
    User,
    WorldModel,
)

BASE_OPERATORS = (
    "StringEquals", "StringNotEquals", "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase", "StringLike",
    "StringNotLike", "NumericEquals", "NumericNotEquals", "NumericLessThan", "NumericLessThanEquals",
    "NumericGreaterThan", "NumericGreaterThanEquals", "DateEquals", "DateNotEquals", "DateLessThan",
    "DateLessThanEquals", "DateGreaterThan", "DateGreaterThanEquals", "Bool", "BinaryEquals", "IpAddress",
    "NotIpAddress", "ArnEquals", "ArnLike", "ArnNotEquals", "ArnNotLike", "Null",
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
