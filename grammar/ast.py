"""The abstract syntax of policies and worlds: frozen dataclasses with source spans.

Spans are kept for messages but take no part in equality, so a value parsed from text equals the
same value parsed from its printed form, or built through the library API.

Normal forms (so that JSON and the world language meet in one value):
- single values and lists become tuples; JSON booleans and numbers in conditions become the
  strings AWS compares (``true`` → ``"true"``);
- ``"Principal": "*"`` becomes ``(Principal("AWS", "*"),)``, the form AWS documents as equivalent;
- a condition keeps its operator as written, split into qualifier, base operator and IfExists.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .diagnostics import Span, span_field

#: Policy kinds: the place a document is used decides what it may contain.
POLICY_KINDS = ("identity", "resource", "boundary", "session", "scp", "rcp", "trust", "key")

#: Principal types of the Principal element, in the order AWS documents them.
PRINCIPAL_TYPES = ("AWS", "Service", "Federated", "CanonicalUser")

EFFECTS = ("Allow", "Deny")


@dataclass(frozen=True)
class Principal:
    """One entry of a Principal or NotPrincipal element: ``{"AWS": "arn:..."}`` → ``Principal("AWS", "arn:...")``."""

    type: str
    value: str
    span: Span | None = span_field()


@dataclass(frozen=True)
class Condition:
    """One condition key under one operator: ``"StringEquals": {"aws:username": ["a", "b"]}``.

    ``operator`` is the full operator as written (``ForAnyValue:StringLikeIfExists``); ``base``,
    ``qualifier`` and ``if_exists`` are its parts (``StringLike``, ``ForAnyValue``, ``True``).
    """

    operator: str
    key: str
    values: tuple[str, ...]
    span: Span | None = span_field()

    @property
    def qualifier(self) -> str | None:
        head, sep, _ = self.operator.partition(":")
        return head if sep else None

    @property
    def base(self) -> str:
        name = self.operator.rpartition(":")[2]
        return name[: -len("IfExists")] if name.endswith("IfExists") else name

    @property
    def if_exists(self) -> bool:
        return self.operator.endswith("IfExists")


@dataclass(frozen=True)
class Statement:
    """One statement. Exactly one of each pair (action/not_action, …) is set, or neither."""

    effect: str
    sid: str | None = None
    action: tuple[str, ...] | None = None
    not_action: tuple[str, ...] | None = None
    resource: tuple[str, ...] | None = None
    not_resource: tuple[str, ...] | None = None
    principal: tuple[Principal, ...] | None = None
    not_principal: tuple[Principal, ...] | None = None
    conditions: tuple[Condition, ...] = ()
    span: Span | None = span_field()
    # where each value of Action, NotAction, Resource and NotResource is written: ((element, value), span)
    value_spans: tuple[tuple[tuple[str, str], Span], ...] = field(default=(), compare=False, hash=False, repr=False)


@dataclass(frozen=True)
class Policy:
    """A policy document: ``Version``, ``Id`` and its statements."""

    statements: tuple[Statement, ...]
    version: str | None = "2012-10-17"
    id: str | None = None
    span: Span | None = span_field()


# ---------------------------------------------------------------------------------------------
# Worlds


@dataclass(frozen=True)
class NamedPolicy:
    """A policy with a name: a customer-managed policy, an inline policy, an SCP/RCP, an AWS-managed
    policy; a managed policy's path is part of its ARN (``arn:aws:iam::ACCT:policy/PATH/NAME``)."""

    name: str
    document: Policy
    span: Span | None = span_field()
    path: str = "/"


@dataclass(frozen=True)
class User:
    name: str
    path: str = "/"
    tags: tuple[tuple[str, str], ...] = ()
    groups: tuple[str, ...] = ()
    inline: tuple[NamedPolicy, ...] = ()
    managed: tuple[str, ...] = ()
    boundary: str | None = None
    unique_id: str | None = None  # AIDA…: the user's aws:userid
    span: Span | None = span_field()
    # where each name it refers to is written: ((kind, name), span), kind "group", "managed" or "boundary"
    ref_spans: tuple[tuple[tuple[str, str], Span], ...] = field(default=(), compare=False, hash=False, repr=False)


@dataclass(frozen=True)
class Group:
    name: str
    path: str = "/"
    inline: tuple[NamedPolicy, ...] = ()
    managed: tuple[str, ...] = ()
    span: Span | None = span_field()
    ref_spans: tuple[tuple[tuple[str, str], Span], ...] = field(default=(), compare=False, hash=False, repr=False)


@dataclass(frozen=True)
class Role:
    name: str
    path: str = "/"
    tags: tuple[tuple[str, str], ...] = ()
    trust: Policy | None = None
    inline: tuple[NamedPolicy, ...] = ()
    managed: tuple[str, ...] = ()
    boundary: str | None = None
    service_linked: bool = False
    unique_id: str | None = None  # AROA…: the role's id, first part of its sessions' aws:userid
    span: Span | None = span_field()
    ref_spans: tuple[tuple[tuple[str, str], Span], ...] = field(default=(), compare=False, hash=False, repr=False)


@dataclass(frozen=True)
class Usage:
    """``usage "SERVICE" "USAGE_TYPE" QUANTITY``: what an account, or one of its resources, used
    in the billing period, in the unit the usage type's price is given for."""

    service: str
    usage_type: str
    quantity: int
    span: Span | None = span_field()


@dataclass(frozen=True)
class Price:
    """``aws price "SERVICE" "USAGE_TYPE" { from Q "USD" … }``: the price of a unit by volume tier;
    a tier's price applies to the units from its quantity up to the next tier's."""

    service: str
    usage_type: str
    tiers: tuple[tuple[int, str], ...]  # (from quantity, price in USD as written)
    span: Span | None = span_field()


@dataclass(frozen=True)
class Reservation:
    """``reservation "SERVICE" "USAGE_TYPE" QUANTITY "USD"``: Reserved Instances an account bought:
    QUANTITY units of the usage type in the billing period, at a rate in USD a unit (the upfront fee
    spread over the term plus the recurring fee), paid whether used or not."""

    service: str
    usage_type: str
    quantity: int
    rate: str  # USD a unit, as written
    span: Span | None = span_field()


@dataclass(frozen=True)
class SavingsPlan:
    """``savings_plan "USD" { rate "SERVICE" "USAGE_TYPE" "USD" … }``: a Savings Plan an account
    bought: its commitment for the billing period (paid whether used or not), and its rate a unit
    for each usage type it covers."""

    commitment: str  # USD, as written
    rates: tuple[tuple[str, str, str], ...]  # (service, usage type, USD a unit)
    span: Span | None = span_field()


@dataclass(frozen=True)
class Trail:
    """``trail "ARN" { bucket "B" [prefix "P"] [organization_trail] [multi_region] [stopped] }``: a
    CloudTrail trail of an account and where it delivers its log files."""

    arn: str
    bucket: str | None = None
    prefix: str = ""
    organization: bool = False
    multi_region: bool = False
    logging: bool = True
    span: Span | None = span_field()


@dataclass(frozen=True)
class LogSubscription:
    """``log_subscription "LOG GROUP ARN" to "DESTINATION ARN"``: a CloudWatch Logs subscription of a
    log group of the account to a destination (usually of a central logging account)."""

    group: str
    destination: str
    span: Span | None = span_field()


@dataclass(frozen=True)
class Resource:
    """A resource by ARN, with tags and an optional resource-based policy (bucket policy, key policy, …)."""

    arn: str
    tags: tuple[tuple[str, str], ...] = ()
    policy: Policy | None = None
    span: Span | None = span_field()
    usage: tuple[Usage, ...] = ()
    aws_managed: bool = False  # a KMS key AWS manages for a service (RCPs do not apply to it)
    abac: bool = False  # an S3 general purpose bucket with ABAC enabled: its tags are aws:ResourceTag


@dataclass(frozen=True)
class MappingRule:
    """A role-mapping rule of an identity pool: a claim of the provider's token, compared
    (``equals``, ``not_equals``, ``contains``, ``starts_with``) with a value, gives a role."""

    claim: str
    op: str
    value: str
    role: str
    span: Span | None = span_field()


@dataclass(frozen=True)
class RoleMapping:
    """The rules an identity pool applies to the identities of one provider, in order (the first
    that matches gives the role), and what it does when none matches (``otherwise``:
    ``authenticated``, the pool's authenticated role, or ``deny``)."""

    provider: str
    otherwise: str
    rules: tuple[MappingRule, ...] = ()
    span: Span | None = span_field()


@dataclass(frozen=True)
class PoolIdentity:
    """An identity of an identity pool: a guest (``provider`` and ``user`` None), one that signed
    in through ``provider`` with the claims of its token, or a ``user`` (user pool name, user name)
    of a user pool of the identity pool's account, which signs in through that pool; and the extra
    entries of its ``amr`` claim."""

    id: str
    provider: str | None = None
    claims: tuple[tuple[str, str], ...] = ()
    amr: tuple[str, ...] = ()
    user: tuple[str, str] | None = None
    span: Span | None = span_field()


@dataclass(frozen=True)
class IdentityPool:
    """An Amazon Cognito identity pool of an account."""

    name: str
    id: str | None = None
    providers: tuple[str, ...] = ()
    guests: bool = False
    classic_flow: bool = False
    authenticated: str | None = None  # role names in the pool's account
    unauthenticated: str | None = None
    mappings: tuple[RoleMapping, ...] = ()
    identities: tuple[PoolIdentity, ...] = ()
    span: Span | None = span_field()


@dataclass(frozen=True)
class PoolUser:
    """A user of a Cognito user pool."""

    name: str
    groups: tuple[str, ...] = ()
    attributes: tuple[tuple[str, str], ...] = ()
    mfa: bool = False  # has an MFA factor (TOTP or SMS)
    confirmed: bool = True
    enabled: bool = True
    provider: str | None = None  # signs in through this identity provider of the pool (None: a local user)
    span: Span | None = span_field()


@dataclass(frozen=True)
class UserPool:
    """An Amazon Cognito user pool of an account."""

    name: str
    id: str | None = None
    mfa: str = "off"  # off | optional | required
    providers: tuple[str, ...] = ()  # federated identity providers (Google, a SAML provider's name, …)
    clients: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (app client, the OAuth scopes it grants)
    groups: tuple[str, ...] = ()
    users: tuple[PoolUser, ...] = ()
    span: Span | None = span_field()


@dataclass(frozen=True)
class Route:
    """A route of an API (``"METHOD /path"``), its Cognito authorizer (a user pool of the account,
    and the OAuth scopes it requires, any one of which an access token must carry) and its backend
    Lambda function."""

    route: str
    authorizer: str | None = None
    scopes: tuple[str, ...] = ()
    backend: str = ""
    span: Span | None = span_field()


@dataclass(frozen=True)
class Api:
    """An Amazon API Gateway REST API of an account."""

    name: str
    id: str | None = None
    region: str | None = None
    stage: str | None = None
    routes: tuple[Route, ...] = ()
    span: Span | None = span_field()


@dataclass(frozen=True)
class LbRule:
    """A listener rule of an Application Load Balancer: its path pattern, the user pool its
    authenticate action signs users in with (None: none), its Lambda function and the target group
    that forwards to it."""

    path: str
    authenticate: str | None = None
    backend: str = ""
    target_group: str = ""
    span: Span | None = span_field()


@dataclass(frozen=True)
class LoadBalancer:
    """An Application Load Balancer of an account."""

    name: str
    arn: str | None = None
    rules: tuple[LbRule, ...] = ()
    span: Span | None = span_field()


@dataclass(frozen=True)
class Account:
    id: str
    name: str
    tags: tuple[tuple[str, str], ...] = ()
    users: tuple[User, ...] = ()
    groups: tuple[Group, ...] = ()
    roles: tuple[Role, ...] = ()
    policies: tuple[NamedPolicy, ...] = ()
    resources: tuple[Resource, ...] = ()
    span: Span | None = span_field()
    identity_pools: tuple[IdentityPool, ...] = ()
    usage: tuple[Usage, ...] = ()  # (a resource's usage is on the resource)
    reservations: tuple[Reservation, ...] = ()
    savings_plans: tuple[SavingsPlan, ...] = ()
    discount_sharing: bool = True  # False: ``discount_sharing off``, set by its organization's payer
    trails: tuple[Trail, ...] = ()
    log_subscriptions: tuple[LogSubscription, ...] = ()
    user_pools: tuple[UserPool, ...] = ()
    apis: tuple[Api, ...] = ()
    load_balancers: tuple[LoadBalancer, ...] = ()


@dataclass(frozen=True)
class Attachment:
    """An SCP or RCP attached to (or, with ``detach``, the default one removed from) an org node."""

    kind: str  # "scp" | "rcp" | "tag_policy"
    policy: str
    detach: bool = False
    span: Span | None = span_field()


@dataclass(frozen=True)
class AccountRef:
    """An account placed at a node of the organization tree, by id or by name, with its own attachments."""

    ref: str
    attachments: tuple[Attachment, ...] = ()
    span: Span | None = span_field()


@dataclass(frozen=True)
class OrgNode:
    """The root (``kind="root"``) or an OU, with attachments, accounts and child OUs, in written order."""

    kind: str
    name: str
    id: str | None = None
    attachments: tuple[Attachment, ...] = ()
    accounts: tuple[AccountRef, ...] = ()
    children: tuple["OrgNode", ...] = ()
    span: Span | None = span_field()


@dataclass(frozen=True)
class IdentityUser:
    """A user of IAM Identity Center's identity source, with its groups (of its own directory) and
    attributes (those named for access control become session tags)."""

    name: str
    groups: tuple[str, ...] = ()
    attributes: tuple[tuple[str, str], ...] = ()
    span: Span | None = span_field()


@dataclass(frozen=True)
class IdentityGroup:
    name: str
    span: Span | None = span_field()


@dataclass(frozen=True)
class Directory:
    """A directory: AWS Managed Microsoft AD (``managed_ad``), AD Connector (``ad_connector``),
    Simple AD (``simple_ad``) or a self-managed AD (``self_managed``), with its users and groups.
    ``links`` are the self-managed directories it reaches: by a two-way trust (``trust``, from a
    managed AD) or as the AD Connector's target (``connects``); ``link`` says which one a linked
    directory is."""

    name: str
    type: str
    users: tuple[IdentityUser, ...] = ()
    groups: tuple[IdentityGroup, ...] = ()
    links: tuple["Directory", ...] = ()
    link: str | None = None
    span: Span | None = span_field()


@dataclass(frozen=True)
class PermissionSet:
    """Policies that IAM Identity Center provisions as a role in each account it is assigned in."""

    name: str
    inline: tuple[NamedPolicy, ...] = ()
    managed: tuple[str, ...] = ()
    boundary: str | None = None
    span: Span | None = span_field()


@dataclass(frozen=True)
class Assignment:
    """``assign PERMISSION_SET to user|group NAME in ACCOUNT, ...``"""

    permission_set: str
    kind: str  # "user" | "group"
    name: str
    accounts: tuple[str, ...]  # ids or names
    span: Span | None = span_field()


@dataclass(frozen=True)
class IdentityCenter:
    """An organization's IAM Identity Center: the attributes for access control, the identity
    source (``directory``, or its own ``users`` and ``groups``), permission sets and assignments."""

    attributes: tuple[str, ...] = ()
    directory: Directory | None = None
    users: tuple[IdentityUser, ...] = ()
    groups: tuple[IdentityGroup, ...] = ()
    permission_sets: tuple[PermissionSet, ...] = ()
    assignments: tuple[Assignment, ...] = ()
    span: Span | None = span_field()


@dataclass(frozen=True)
class TagKeyRule:
    """A tag key of a tag policy: its capitalization, the values allowed (none listed: any), and
    whether every resource must carry it (iamlogic's check; AWS tag policies do not require tags)."""

    key: str
    values: tuple[str, ...] = ()
    required: bool = False
    span: Span | None = span_field()


@dataclass(frozen=True)
class TagPolicy:
    """An AWS Organizations tag policy, attached like an SCP (``tag_policy NAME`` at the root, an OU
    or an account)."""

    name: str
    keys: tuple[TagKeyRule, ...]
    span: Span | None = span_field()


@dataclass(frozen=True)
class Organization:
    id: str
    management: str  # account id or name
    root: OrgNode = field(default_factory=lambda: OrgNode("root", "Root"))
    policies: tuple[tuple[str, NamedPolicy], ...] = ()  # ("scp" | "rcp", policy)
    span: Span | None = span_field()
    identity_center: IdentityCenter | None = None
    tag_policies: tuple[TagPolicy, ...] = ()


@dataclass(frozen=True)
class RcpServices:
    """``aws rcp_services "s3", …``: the service prefixes whose resources RCPs restrict, as the
    world takes them (in place of the list iamlogic ships, ``catalog.RCP_SERVICES``)."""

    services: tuple[str, ...]
    span: Span | None = span_field()


@dataclass(frozen=True)
class WorldModel:
    """Everything a world declares, after its imports are merged, in the order written."""

    organizations: tuple[Organization, ...] = ()
    accounts: tuple[Account, ...] = ()
    aws_policies: tuple[NamedPolicy, ...] = ()
    rcp_services: tuple[RcpServices, ...] = ()  # a world declares it once (E345)
    prices: tuple[Price, ...] = ()
