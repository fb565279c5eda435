"""The world language: ``.iaml`` text → :class:`WorldFile` values with spans.

:func:`parse_world` parses one file. :func:`load_world_files` follows ``import`` lines and
``file "policy.json"`` references from disk and merges everything into one
:class:`~iamlogic.grammar.ast.WorldModel`. Reference checks (unknown names, duplicates) need the
whole world and belong to :mod:`iamlogic.world`.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field, fields
from functools import lru_cache
from importlib import resources
from typing import Iterable

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from .ast import (
    Account,
    AccountRef,
    Api,
    Assignment,
    Attachment,
    Condition,
    Directory,
    Group,
    IdentityCenter,
    IdentityGroup,
    IdentityPool,
    IdentityUser,
    LbRule,
    LoadBalancer,
    LogSubscription,
    MappingRule,
    NamedPolicy,
    Organization,
    OrgNode,
    PermissionSet,
    Policy,
    PoolIdentity,
    PoolUser,
    Price,
    Principal,
    RcpServices,
    Reservation,
    Resource,
    Role,
    RoleMapping,
    Route,
    SavingsPlan,
    Statement,
    TagKeyRule,
    TagPolicy,
    Trail,
    Usage,
    User,
    UserPool,
    WorldModel,
)
from .diagnostics import Diagnostic, Diagnostics, Span, not_utf8
from . import json_policy
from .gaad import authorization_details, merge_exports
from .cache import lark_cache

_PRINCIPAL_TYPES = {"aws": "AWS", "service": "Service", "federated": "Federated", "canonical_user": "CanonicalUser"}

#: A user's and a role's unique id: a prefix, then capital letters and digits, 16 to 128 characters in
#: all (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html#identifiers-prefixes;
#: the length from https://docs.aws.amazon.com/IAM/latest/APIReference/API_User.html).
UNIQUE_ID_PREFIX = {"user": "AIDA", "role": "AROA"}
_UNIQUE_ID = {kind: re.compile(prefix + "[A-Z0-9]{12,124}") for kind, prefix in UNIQUE_ID_PREFIX.items()}

#: Keywords of the language, for messages.
KEYWORDS = (
    "import organization management scp rcp root ou id account detach user group role path groups "
    "boundary policy attach trust service_linked resource aws tags file json version sid allow deny not "
    "on principal when and none identity_center attributes directory managed_ad ad_connector simple_ad "
    "self_managed connects permission_set assign to in identity_pool providers guests classic_flow "
    "authenticated unauthenticated rules otherwise equals not_equals contains starts_with identity guest "
    "via claims amr rcp_services price from usage tag_policy key values required reservation savings_plan "
    "rate discount_sharing off aws_managed abac trail bucket prefix organization_trail multi_region stopped "
    "log_subscription user_pool mfa client scopes mfa_enabled unconfirmed disabled api region stage route "
    "authorizer backend load_balancer arn rule authenticate target_group"
).split()


@lru_cache(maxsize=1)
def _parser() -> Lark:
    text = resources.files(__package__).joinpath("world.lark").read_text(encoding="utf-8")
    return Lark(text, parser="lalr", propagate_positions=True, maybe_placeholders=True, cache=lark_cache("world"))


@dataclass(frozen=True)
class Import:
    path: str
    span: Span | None = field(default=None, compare=False)


@dataclass(frozen=True)
class WorldFile:
    """What one ``.iaml`` file declares, in the order written."""

    imports: tuple[Import, ...] = ()
    organizations: tuple[Organization, ...] = ()
    accounts: tuple[Account, ...] = ()
    aws_policies: tuple[NamedPolicy, ...] = ()
    rcp_services: tuple[RcpServices, ...] = ()
    prices: tuple[Price, ...] = ()

    def as_model(self) -> WorldModel:
        """What the file declares, without its imports."""
        return WorldModel(self.organizations, self.accounts, self.aws_policies, self.rcp_services, self.prices)


def merge_models(parts: Iterable[WorldModel]) -> WorldModel:
    """One world of the declarations of several, in order."""
    parts = list(parts)
    return WorldModel(*(tuple(x for p in parts for x in getattr(p, f.name)) for f in fields(WorldModel)))


def _string(tok: Token) -> str:
    return json.loads(tok)


class _Items:
    """Marker for the parts of a block, in order: ("kind", value) pairs."""

    def __init__(self, items):
        self.items = list(items)


@v_args(meta=True)
class _ToAst(Transformer):
    def __init__(self, file: str, diags: Diagnostics, sources: dict[str, str], base_dir: str):
        super().__init__()
        self.file = file
        self.diags = diags
        self.sources = sources
        self.base_dir = base_dir

    # -- helpers ----------------------------------------------------------------------------
    def _span(self, meta) -> Span | None:
        if getattr(meta, "empty", True):
            return None
        return Span(self.file, meta.line, meta.column, meta.end_line, meta.end_column)

    def _tok_span(self, tok: Token) -> Span:
        return Span(self.file, tok.line, tok.column, tok.end_line, tok.end_column)

    # -- top level --------------------------------------------------------------------------
    def start(self, meta, items):
        out = {"import": [], "org": [], "account": [], "aws_policy": [], "rcp_services": [], "price": []}
        for kind, value in items:
            out[kind].append(value)
        return WorldFile(*(tuple(v) for v in out.values()))

    def import_(self, meta, ch):
        return ("import", Import(_string(ch[0]), self._span(meta)))

    def name(self, meta, ch):
        tok = ch[0]
        return _string(tok) if tok.type == "STRING" else str(tok)

    # -- organizations ----------------------------------------------------------------------
    def organization(self, meta, ch):
        org_id = _string(ch[0])
        management, root, policies, center, tag_policies = None, None, [], None, []
        for kind, value in ch[1:]:
            if kind == "tag_policy":
                tag_policies.append(value)
            elif kind == "identity_center":
                if center is not None:
                    self.diags.add("E338", "an organization has one IAM Identity Center", value.span)
                center = center or value
            elif kind == "management":
                if management is not None:
                    self.diags.add("E328", "an organization has exactly one management account", value.span)
                management = value
            elif kind == "root":
                if root is not None:
                    self.diags.add("E329", "an organization has exactly one root", value.span)
                root = value
            else:
                policies.append((kind, value))
        if management is None:
            self.diags.add("E328", f"organization {org_id} declares no management account", self._span(meta),
                           help='add a line: management "<account name or id>"')
            management = AccountRef("")
        return ("org", Organization(org_id, management.ref, root or OrgNode("root", "Root"), tuple(policies),
                                    self._span(meta), center, tuple(tag_policies)))

    def tag_policy_def(self, meta, ch):
        return ("tag_policy", TagPolicy(ch[0], tuple(ch[1:]), self._span(meta)))

    def tag_key_rule(self, meta, ch):
        required = bool(ch) and isinstance(ch[-1], Token) and ch[-1].type == "REQUIRED"
        values = [v for v in ch[1:] if v is not None and not (isinstance(v, Token) and v.type == "REQUIRED")]
        return TagKeyRule(_string(ch[0]), tuple(_string(v) for v in values), required, self._span(meta))

    # -- IAM Identity Center ----------------------------------------------------------------
    def identity_center(self, meta, ch):
        parts: dict[str, list] = {"attributes": [], "directory": [], "user": [], "group": [], "permission_set": [],
                                  "assign": []}
        for kind, value in ch:
            parts[kind].append(value)
        directories = parts["directory"]
        for extra in directories[1:]:
            self.diags.add("E338", "IAM Identity Center has one identity source: one directory", extra.span)
        attributes = tuple(a for group in parts["attributes"] for a in group)
        return ("identity_center", IdentityCenter(attributes, directories[0] if directories else None,
                                                  tuple(parts["user"]), tuple(parts["group"]),
                                                  tuple(parts["permission_set"]), tuple(parts["assign"]),
                                                  self._span(meta)))

    def abac_attributes(self, meta, ch):
        return ("attributes", tuple(ch))

    def _directory(self, name, dtype, items, link, meta):
        users = tuple(v for k, v in items if k == "user")
        groups = tuple(v for k, v in items if k == "group")
        links = tuple(v for k, v in items if k == "link")
        return Directory(name, dtype, users, groups, links, link, self._span(meta))

    def directory(self, meta, ch):
        return ("directory", self._directory(_string(ch[0]), str(ch[1]), ch[2:], None, meta))

    def trust_link(self, meta, ch):
        return ("link", self._directory(_string(ch[0]), "self_managed", ch[1:], "trust", meta))

    def connects_link(self, meta, ch):
        return ("link", self._directory(_string(ch[0]), "self_managed", ch[1:], "connects", meta))

    def ic_user(self, meta, ch):
        groups: tuple[str, ...] = ()
        attributes: tuple[tuple[str, str], ...] = ()
        for kind, value, *_ in ch[1:]:
            if kind == "groups":
                groups += value
            else:
                attributes += value
        return ("user", IdentityUser(ch[0], groups, attributes, self._span(meta)))

    def user_attributes(self, meta, ch):
        return ("attributes", tuple(ch))

    def ic_group(self, meta, ch):
        return ("group", IdentityGroup(ch[0], self._span(meta)))

    def permission_set(self, meta, ch):
        inline, managed, boundary = [], [], None
        for kind, value, *_ in ch[1:]:
            if kind == "inline":
                inline.append(value)
            elif kind == "managed":
                managed += value
            elif kind == "boundary":
                boundary = value
        return ("permission_set", PermissionSet(ch[0], tuple(inline), tuple(managed), boundary, self._span(meta)))

    def assign(self, meta, ch):
        kind, who = ch[1]
        return ("assign", Assignment(ch[0], kind, who, tuple(a.ref for a in ch[2:]), self._span(meta)))

    def assign_user(self, meta, ch):
        return ("user", ch[0])

    def assign_group(self, meta, ch):
        return ("group", ch[0])

    def management(self, meta, ch):
        return ("management", ch[0])


    def account_ref(self, meta, ch):
        tok = ch[0]
        return AccountRef(_string(tok) if tok.type == "STRING" else str(tok), self._span(meta))

    def scp_def(self, meta, ch):
        return ("scp", NamedPolicy(ch[0], ch[1], self._span(meta)))

    def rcp_def(self, meta, ch):
        return ("rcp", NamedPolicy(ch[0], ch[1], self._span(meta)))

    def _node(self, kind, name, node_id, items, meta):
        attachments, accounts, children = [], [], []
        for item in items:
            if isinstance(item, Attachment):
                attachments.append(item)
            elif isinstance(item, AccountRef):
                accounts.append(item)
            else:
                children.append(item)
        return OrgNode(kind, name, node_id, tuple(attachments), tuple(accounts), tuple(children), self._span(meta))

    def root(self, meta, ch):
        node_id = _string(ch[0]) if ch[0] is not None else None
        return ("root", self._node("root", "Root", node_id, ch[1:], meta))

    def ou(self, meta, ch):
        node_id = _string(ch[1]) if ch[1] is not None else None
        return self._node("ou", ch[0], node_id, ch[2:], meta)

    def place(self, meta, ch):
        ref = ch[0]
        return AccountRef(ref.ref, tuple(a for a in ch[1:] if a is not None), self._span(meta))

    def attach_scp(self, meta, ch):
        return Attachment("scp", ch[0], False, self._span(meta))

    def attach_rcp(self, meta, ch):
        return Attachment("rcp", ch[0], False, self._span(meta))

    def detach_scp(self, meta, ch):
        return Attachment("scp", ch[0], True, self._span(meta))

    def attach_tag_policy(self, meta, ch):
        return Attachment("tag_policy", ch[0], False, self._span(meta))

    # -- accounts ---------------------------------------------------------------------------
    def account(self, meta, ch):
        acct_id, name = str(ch[0]), _string(ch[1])
        parts = {"tags": (), "user": [], "group": [], "role": [], "policy": [], "resource": [], "identity_pool": [],
                 "usage": [], "reservation": [], "savings_plan": [], "discount_sharing": [], "trail": [],
                 "log_subscription": [], "user_pool": [], "api": [], "load_balancer": []}
        for kind, value, *_ in ch[2:]:
            if kind == "tags":
                parts["tags"] = parts["tags"] + value
            else:
                parts[kind].append(value)
        if len(parts["discount_sharing"]) > 1:
            self.diags.add("E349", f"account {acct_id} turns discount sharing off twice", parts["discount_sharing"][1])
        return ("account", Account(acct_id, name, parts["tags"], tuple(parts["user"]), tuple(parts["group"]),
                                   tuple(parts["role"]), tuple(parts["policy"]), tuple(parts["resource"]),
                                   self._span(meta), tuple(parts["identity_pool"]), tuple(parts["usage"]),
                                   tuple(parts["reservation"]), tuple(parts["savings_plan"]),
                                   not parts["discount_sharing"], tuple(parts["trail"]),
                                   tuple(parts["log_subscription"]), tuple(parts["user_pool"]), tuple(parts["api"]),
                                   tuple(parts["load_balancer"])))

    # -- Amazon Cognito identity pools ------------------------------------------------------
    def identity_pool(self, meta, ch):
        fields: dict = {"unique_id": None, "providers": (), "guests": False, "classic": False,
                        "authenticated": None, "unauthenticated": None, "rules": (), "identity": ()}
        for kind, value, span in ch[1:]:
            if kind in ("providers", "rules", "identity"):
                fields[kind] += (value,) if kind != "providers" else value
            elif kind in ("guests", "classic") or fields[kind] is None:
                fields[kind] = value
            else:
                self.diags.add("E342", f"identity pool '{ch[0]}' has one " + ("id" if kind == "unique_id" else
                                                                              f"{kind} role"), span)
        return ("identity_pool", IdentityPool(ch[0], fields["unique_id"], fields["providers"], fields["guests"],
                                              fields["classic"], fields["authenticated"], fields["unauthenticated"],
                                              fields["rules"], fields["identity"], self._span(meta)), None)

    def pool_providers(self, meta, ch):
        return ("providers", tuple(_string(s) for s in ch), self._span(meta))

    def pool_guests(self, meta, ch):
        return ("guests", True, self._span(meta))

    def pool_classic(self, meta, ch):
        return ("classic", True, self._span(meta))

    def pool_role(self, meta, ch):
        return (str(ch[0]), ch[1], self._span(meta))

    def role_rules(self, meta, ch):
        return ("rules", RoleMapping(_string(ch[0]), ch[1], tuple(ch[2:]), self._span(meta)), None)

    def mapping_rule(self, meta, ch):
        return MappingRule(_string(ch[0]), str(ch[1]), _string(ch[2]), ch[3], self._span(meta))

    def pool_identity(self, meta, ch):
        claims: tuple[tuple[str, str], ...] = ()
        amr: tuple[str, ...] = ()
        for kind, value in (c for c in ch[2:] if c is not None):
            if kind == "claims":
                claims += value
            else:
                amr += value
        provider, user = (None, ch[1]) if isinstance(ch[1], tuple) else (ch[1], None)
        return ("identity", PoolIdentity(_string(ch[0]), provider, claims, amr, user, self._span(meta)), None)

    def login_guest(self, meta, ch):
        return None

    def login_via(self, meta, ch):
        return _string(ch[0])

    def login_user(self, meta, ch):
        return (ch[0], ch[1])

    def claims(self, meta, ch):
        return ("claims", tuple(ch))

    def amr(self, meta, ch):
        return ("amr", tuple(_string(s) for s in ch))

    def _principal_parts(self, ch, allowed, what, meta):
        fields = {"path": "/", "tags": (), "groups": (), "inline": [], "managed": (), "boundary": None,
                  "trust": None, "service_linked": False, "unique_id": None}
        refs: dict[tuple[str, str], Span] = {}  # (kind, name) -> where it is first written
        for kind, value, span in ch[1:]:
            if kind in ("groups", "managed", "boundary"):
                for name in (value if kind != "boundary" else (value,)):
                    refs.setdefault(("group" if kind == "groups" else kind, name), span)
            if kind not in allowed:  # the grammar lets only a boundary through where it does not belong
                self.diags.add("E317", "a permissions boundary can be set on users and roles, not on groups",
                               span, help="set the boundary on each user of the group instead")
                continue
            if kind == "unique_id" and not _UNIQUE_ID[what].fullmatch(value):
                self.diags.add("E336", f"malformed unique id of a {what}: {value!r}", span,
                               help=f"a {what}'s unique id is {UNIQUE_ID_PREFIX[what]} followed by 12 to 124 "
                                    "capital letters and digits (IAM identifiers: unique ID prefixes)")
            if kind == "inline":
                fields["inline"].append(value)
            elif kind in ("tags", "groups", "managed"):
                fields[kind] = fields[kind] + value
            else:
                fields[kind] = value
        fields["inline"] = tuple(fields["inline"])
        fields["ref_spans"] = tuple(refs.items())
        return fields

    def user(self, meta, ch):
        f = self._principal_parts(ch, {"path", "unique_id", "tags", "groups", "boundary", "inline", "managed"},
                                  "user", meta)
        return ("user", User(ch[0], f["path"], f["tags"], f["groups"], f["inline"], f["managed"], f["boundary"],
                             f["unique_id"], self._span(meta), f["ref_spans"]))

    def group(self, meta, ch):
        f = self._principal_parts(ch, {"path", "inline", "managed"}, "group", meta)
        return ("group", Group(ch[0], f["path"], f["inline"], f["managed"], self._span(meta), f["ref_spans"]))

    def role(self, meta, ch):
        f = self._principal_parts(
            ch, {"path", "unique_id", "tags", "trust", "inline", "managed", "boundary", "service_linked"}, "role", meta)
        return ("role", Role(ch[0], f["path"], f["tags"], f["trust"], f["inline"], f["managed"], f["boundary"],
                             f["service_linked"], f["unique_id"], self._span(meta), f["ref_spans"]))

    def path(self, meta, ch):
        return ("path", _string(ch[0]), self._span(meta))

    def unique_id(self, meta, ch):
        return ("unique_id", _string(ch[0]), self._span(meta))

    def groups(self, meta, ch):
        return ("groups", tuple(ch), self._span(meta))

    def boundary(self, meta, ch):
        return ("boundary", ch[0], self._span(meta))

    def inline_policy(self, meta, ch):
        return ("inline", NamedPolicy(ch[0], ch[1], self._span(meta)), self._span(meta))

    def attach(self, meta, ch):
        return ("managed", tuple(ch), self._span(meta))

    def trust(self, meta, ch):
        return ("trust", ch[0], self._span(meta))

    def service_linked(self, meta, ch):
        return ("service_linked", True, self._span(meta))

    def tags(self, meta, ch):
        seen: dict[str, str] = {}
        for key, _value in ch:
            # AWS keeps one value a tag key; IAM also treats keys that differ only in case as one
            # (IAM user guide, id_tags: "case insensitive" key uniqueness)
            if key.lower() in seen:
                same = seen[key.lower()] == key
                self.diags.add("E353", f"tag key '{key}' is given twice" + ("" if same else f" (as '{seen[key.lower()]}')"),
                               self._span(meta), help="a tag key has one value; IAM treats keys that differ only in "
                                                      "case as the same key")
            seen.setdefault(key.lower(), key)
        return ("tags", tuple(ch), self._span(meta))

    def tag(self, meta, ch):
        key = ch[0] if isinstance(ch[0], str) and not isinstance(ch[0], Token) else _string(ch[0])
        return (key, _string(ch[1]))

    def policy_def(self, meta, ch):
        return ("policy", self._managed_policy(meta, ch))

    def _managed_policy(self, meta, ch) -> NamedPolicy:
        """``policy NAME [path "/p/"] BODY``: a path is a part of the policy's ARN."""
        name, path, body = ch
        return NamedPolicy(name, body, self._span(meta), path[1] if path is not None else "/")

    def resource(self, meta, ch):
        arn = _string(ch[0])
        tags, policy, usage, managed, abac = (), None, (), False, False
        for item in ch[1:]:
            if item[0] == "tags":
                tags = tags + item[1]
            elif item[0] == "usage":
                usage += (item[1],)
            elif item[0] == "aws_managed":
                managed = True
            elif item[0] == "abac":
                abac = True
            else:
                if policy is not None:
                    self.diags.add("E331", f"resource {arn} has more than one resource-based policy", item[2])
                policy = item[1]
        return ("resource", Resource(arn, tags, policy, self._span(meta), usage, managed, abac))

    def aws_managed(self, meta, ch):
        return ("aws_managed", True, self._span(meta))

    def abac(self, meta, ch):
        return ("abac", True, self._span(meta))

    def resource_policy(self, meta, ch):
        return ("policy", ch[0], self._span(meta))

    def aws_policy(self, meta, ch):
        return ("aws_policy", self._managed_policy(meta, ch))

    def aws_price(self, meta, ch):
        return ("price", Price(_string(ch[0]), _string(ch[1]), tuple(ch[2:]), self._span(meta)))

    def price_tier(self, meta, ch):
        return self._quantity(ch[0], "a tier's quantity", zero=True), _string(ch[1])

    def usage(self, meta, ch):
        return ("usage", Usage(_string(ch[0]), _string(ch[1]), self._quantity(ch[2], "a usage quantity"),
                               self._span(meta)), self._span(meta))

    def reservation(self, meta, ch):
        return ("reservation", Reservation(_string(ch[0]), _string(ch[1]), self._quantity(ch[2], "a reserved quantity"),
                                           _string(ch[3]), self._span(meta)))

    def savings_plan(self, meta, ch):
        return ("savings_plan", SavingsPlan(_string(ch[0]), tuple(ch[1:]), self._span(meta)))

    def sp_rate(self, meta, ch):
        return tuple(_string(c) for c in ch)

    def trail(self, meta, ch):
        arn, fields = _string(ch[0]), {}
        for item in ch[1:]:
            key, value = (str(item), True) if isinstance(item, Token) else item
            if key in fields:
                self.diags.add("E351", f"trail {arn} gives '{key}' twice", self._span(meta))
            fields[key] = value
        if "bucket" not in fields:
            self.diags.add("E351", f"trail {arn} names no bucket", self._span(meta), 'add a line: bucket "NAME"')
        return ("trail", Trail(arn, fields.get("bucket"), fields.get("prefix", ""), "organization_trail" in fields,
                               "multi_region" in fields, "stopped" not in fields, self._span(meta)), self._span(meta))

    def trail_bucket(self, meta, ch):
        return ("bucket", _string(ch[0]))

    def trail_prefix(self, meta, ch):
        return ("prefix", _string(ch[0]))

    def log_subscription(self, meta, ch):
        return ("log_subscription", LogSubscription(_string(ch[0]), _string(ch[1]), self._span(meta)), self._span(meta))

    # -- Amazon Cognito user pools and API Gateway ---------------------------------------------
    def user_pool(self, meta, ch):
        fields: dict = {"unique_id": None, "mfa": None, "providers": (), "client": (), "group": (), "user": ()}
        for kind, value, span in ch[1:]:
            if kind in ("providers", "client", "group", "user"):
                fields[kind] += value if kind == "providers" else (value,)
            elif fields[kind] is not None:
                self.diags.add("E352", f"user pool '{ch[0]}' gives its {'id' if kind == 'unique_id' else kind} twice",
                               span)
            else:
                fields[kind] = value
        return ("user_pool", UserPool(ch[0], fields["unique_id"], fields["mfa"] or "off", fields["providers"],
                                      fields["client"], fields["group"], fields["user"], self._span(meta)), None)

    def up_mfa(self, meta, ch):
        if ch[0] not in ("off", "optional", "required"):
            self.diags.add("E352", f"mfa is off, optional or required, not '{ch[0]}'", self._span(meta))
        return ("mfa", str(ch[0]), self._span(meta))

    def up_client(self, meta, ch):
        return ("client", (ch[0], tuple(_string(s) for s in ch[1:] if s is not None)), self._span(meta))

    def up_group(self, meta, ch):
        return ("group", ch[0], self._span(meta))

    def up_user(self, meta, ch):
        groups, attributes, flags, provider = (), (), set(), None
        for item in ch[1:]:
            if isinstance(item, Token):
                flags.add(str(item))
            elif item[0] == "groups":
                groups += item[1]
            elif item[0] == "attributes":
                attributes += item[1]
            else:
                provider = item[1]
        return ("user", PoolUser(ch[0], groups, attributes, "mfa_enabled" in flags, "unconfirmed" not in flags,
                                 "disabled" not in flags, provider, self._span(meta)), self._span(meta))

    def up_via(self, meta, ch):
        return ("via", _string(ch[0]))

    def api(self, meta, ch):
        fields: dict = {"unique_id": None, "region": None, "stage": None, "route": ()}
        for kind, value, span in ch[1:]:
            if kind == "route":
                fields["route"] += (value,)
            elif fields[kind] is not None:
                self.diags.add("E352", f"api '{ch[0]}' gives its {'id' if kind == 'unique_id' else kind} twice", span)
            else:
                fields[kind] = value
        for kind in ("unique_id", "region", "stage"):
            if fields[kind] is None:
                word = "id" if kind == "unique_id" else kind
                self.diags.add("E352", f"api '{ch[0]}' gives no {word}", self._span(meta), f'add a line: {word} "…"')
        return ("api", Api(ch[0], fields["unique_id"], fields["region"], fields["stage"], fields["route"],
                           self._span(meta)), None)

    def api_region(self, meta, ch):
        return ("region", _string(ch[0]), self._span(meta))

    def api_stage(self, meta, ch):
        return ("stage", _string(ch[0]), self._span(meta))

    def route(self, meta, ch):
        pool, scopes = ch[1] if ch[1] is not None else (None, ())
        return ("route", Route(_string(ch[0]), pool, scopes, _string(ch[2]), self._span(meta)), self._span(meta))

    def load_balancer(self, meta, ch):
        arns = [value for kind, value, _ in ch[1:] if kind == "arn"]
        if len(arns) != 1:
            self.diags.add("E352", f"load balancer '{ch[0]}' gives {'no' if not arns else 'more than one'} arn",
                           self._span(meta), 'one line: arn "arn:aws:elasticloadbalancing:REGION:ACCOUNT:loadbalancer/app/NAME/ID"')
        rules = tuple(value for kind, value, _ in ch[1:] if kind == "rule")
        return ("load_balancer", LoadBalancer(ch[0], arns[0] if arns else None, rules, self._span(meta)), None)

    def lb_arn(self, meta, ch):
        return ("arn", _string(ch[0]), self._span(meta))

    def lb_rule(self, meta, ch):
        return ("rule", LbRule(_string(ch[0]), ch[1], _string(ch[2]), _string(ch[3]), self._span(meta)), self._span(meta))

    def route_auth(self, meta, ch):
        return ch[0], tuple(_string(s) for s in ch[1:] if s is not None)

    def discount_sharing(self, meta, ch):
        return ("discount_sharing", self._span(meta))

    def _quantity(self, tok: Token, what: str, zero: bool = False) -> int:
        text = str(tok)
        if not re.fullmatch(r"[0-9]+", text) or (not zero and int(text) == 0):
            self.diags.add("E346", f"{what} is a whole number{' of 0 or more' if zero else ' above 0'}, not {text}",
                           self._tok_span(tok), "give quantities in a smaller unit (GB, not TB) to keep them whole")
            return 1
        return int(text)

    def aws_rcp_services(self, meta, ch):
        return ("rcp_services", RcpServices(tuple(_string(s) for s in ch), self._span(meta)))

    # -- policies ---------------------------------------------------------------------------
    def compact_policy(self, meta, ch):
        version = ch[0] if ch[0] is not None else "2012-10-17"
        if version == "none":
            version = None
        if not ch[2:]:
            self.diags.add("E116", "the policy has no statement", self._span(meta),
                           help="a policy needs at least one statement")
        return Policy(tuple(ch[2:]), version, ch[1], self._span(meta))

    def version(self, meta, ch):
        tok = ch[0]
        if tok.type == "NONE":
            return "none"
        value = _string(tok)
        if value not in json_policy.VERSIONS:  # as in a JSON document: another date is no language
            self.diags.add("E114", f"unknown policy version \"{value}\"", self._span(meta),
                           json_policy.VERSIONS_HELP + "; write none for a policy without a Version")
        return value

    def policy_id(self, meta, ch):
        return _string(ch[0])

    def file_policy(self, meta, ch):
        rel = _string(ch[0])
        span = self._span(meta)
        path = os.path.normpath(os.path.join(self.base_dir, rel))
        try:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
        except OSError as exc:
            self.diags.add("E320", f"cannot read policy file '{rel}': {exc.strerror or exc}", span)
            return Policy(())
        except UnicodeDecodeError:
            self.diags.items.append(not_utf8(path, "E320", "policy file "))
            return Policy(())
        self.sources[path] = text
        policy, diags = json_policy.parse_policy_text(text, path)
        self.diags.extend(diags)
        return policy if policy is not None else Policy(())

    def json_policy(self, meta, ch):
        policy = json_policy.policy_from_value(ch[0], self.file, self.diags)
        return policy if policy is not None else Policy(())

    def statement(self, meta, ch):
        sid, effect, (neg_a, acts), res, prin, conds = ch
        action = "NotAction" if neg_a else "Action"
        kw = {"not_action" if neg_a else "action": tuple(t for t, _ in acts)}
        spans = {(action, t): at for t, at in reversed(acts)}
        if res is not None:
            kw["not_resource" if res[0] else "resource"] = tuple(t for t, _ in res[1])
            spans.update((("NotResource" if res[0] else "Resource", t), at) for t, at in reversed(res[1]))
        if prin is not None:
            kw["not_principal" if prin[0] else "principal"] = prin[1]
        return Statement(str(effect).capitalize(), sid, conditions=conds or (), span=self._span(meta),
                         value_spans=tuple(spans.items()), **kw)

    def sid(self, meta, ch):
        return _string(ch[0])

    def actions(self, meta, ch):
        return (ch[0] is not None, tuple(ch[1:]))

    def action(self, meta, ch):
        """(the action, where it is written)"""
        tok = ch[0]
        if tok.type != "STRING":
            return str(tok), self._tok_span(tok)
        text = _string(tok)
        if not json_policy.ACTION_SHAPE.fullmatch(text):
            self.diags.add("E120", f"malformed action {tok}: expected 'service:ActionName' or '*'",
                           self._tok_span(tok))
        return text, self._tok_span(tok)

    def resources(self, meta, ch):
        return (ch[0] is not None, tuple(ch[1:]))

    def value(self, meta, ch):
        """(the value, where it is written)"""
        tok = ch[0]
        if tok.type != "STRING":
            return str(tok), self._tok_span(tok)
        if tok == '""':
            self.diags.add("E121", "empty string", self._tok_span(tok))
        return _string(tok), self._tok_span(tok)

    def principals(self, meta, ch):
        return (ch[0] is not None, tuple(ch[1:]))

    def typed_principal(self, meta, ch):
        return Principal(_PRINCIPAL_TYPES[str(ch[0])], ch[1][0], self._span(meta))

    def any_principal(self, meta, ch):
        return Principal("AWS", "*", self._span(meta))

    def conditions(self, meta, ch):
        seen: dict[tuple[str, str], str] = {}
        for c in ch:
            first = seen.get((c.operator, c.key.lower()))
            seen.setdefault((c.operator, c.key.lower()), c.key)
            if first is not None:
                self.diags.add("E123", f"condition key \"{c.key}\" repeats \"{first}\" under \"{c.operator}\" "
                                       "(condition keys are case-insensitive)", c.span)
        return tuple(ch)

    def condition(self, meta, ch):
        op = str(ch[0])
        json_policy.check_operator(op, self._tok_span(ch[0]), self.diags)
        return Condition(op, ch[1], ch[2], self._span(meta))

    def condition_key(self, meta, ch):
        tok = ch[0]
        if tok.type != "STRING":
            return str(tok)
        if tok == '""':
            self.diags.add("E111", "empty condition key", self._tok_span(tok))
        return _string(tok)

    def condition_values(self, meta, ch):
        return (_string(ch[0]),)

    def condition_list(self, meta, ch):
        return tuple(_string(t) for t in ch if t is not None)

    # -- embedded JSON ----------------------------------------------------------------------
    def json_object(self, meta, ch):
        pairs = tuple(p for p in ch if p is not None)
        seen: dict[str, Span] = {}
        for key, key_span, _ in pairs:
            if key in seen:
                self.diags.add("E002", f"duplicate key \"{key}\" in JSON object (first at {seen[key]})", key_span)
            seen[key] = key_span
        return json_policy.JObject(pairs, self._span(meta))

    def json_pair(self, meta, ch):
        return (_string(ch[0]), self._tok_span(ch[0]), ch[1])

    def json_array(self, meta, ch):
        return json_policy.JArray(tuple(v for v in ch if v is not None), self._span(meta))

    def json_string(self, meta, ch):
        return json_policy.JScalar(_string(ch[0]), self._span(meta))

    def json_number(self, meta, ch):
        text = str(ch[0])
        num = float(text) if any(c in text for c in ".eE") else int(text)
        return json_policy.JScalar(num, self._span(meta), raw=text)

    def json_true(self, meta, ch):
        return json_policy.JScalar(True, self._span(meta))

    def json_false(self, meta, ch):
        return json_policy.JScalar(False, self._span(meta))

    def json_null(self, meta, ch):
        return json_policy.JScalar(None, self._span(meta))


def _syntax_error(exc: UnexpectedInput, file: str, text: str) -> Diagnostic:
    line, col = getattr(exc, "line", 0) or 0, getattr(exc, "column", 0) or 0
    if isinstance(exc, UnexpectedToken) and exc.token.type == "$END" or isinstance(exc, UnexpectedEOF):
        lines = text.splitlines() or [""]
        return Diagnostic("E301", "unexpected end of file", Span(file, len(lines), len(lines[-1]) + 1),
                          help="a block opened with '{' may be missing its '}'")
    if isinstance(exc, UnexpectedToken):
        expected = sorted(_describe(t) for t in exc.accepts or exc.expected)
        got = exc.token.value
        return Diagnostic("E301", f"unexpected '{got}'", Span(file, line, col, line, col + max(1, len(got))),
                          help=f"expected one of: {', '.join(expected[:12])}" if expected else None)
    if isinstance(exc, UnexpectedCharacters):
        ch = text[exc.pos_in_stream] if exc.pos_in_stream < len(text) else ""
        return Diagnostic("E302", f"unexpected character {ch!r}", Span(file, line, col),
                          help="strings are written in double quotes" if ch == "'" else None)
    return Diagnostic("E301", str(exc).splitlines()[0], Span(file, line, col))


_TERMINAL_NAMES = {
    "LBRACE": "'{'", "RBRACE": "'}'", "LSQB": "'['", "RSQB": "']'", "COMMA": "','", "EQUAL": "'='",
    "COLON": "':'", "STRING": "a string", "NAME": "a name", "ACCOUNT_ID": "a 12-digit account id",
    "ACTION": "an action (service:Name)", "OPERATOR": "a condition operator", "CONDITION_KEY": "a condition key",
    "EFFECT": "allow or deny", "STAR": "'*'", "PRINCIPAL_TYPE": "aws, service, federated or canonical_user",
    "NOT": "not", "NONE": "none", "SIGNED_NUMBER": "a number",
}


def _describe(terminal: str) -> str:
    if terminal in _TERMINAL_NAMES:
        return _TERMINAL_NAMES[terminal]
    try:
        pattern = _parser().get_terminal(terminal).pattern
        if pattern.type == "str":
            return f"'{pattern.value}'"
    except KeyError:
        pass
    return terminal.lower()


def parse_world(text: str, file: str = "<input>", base_dir: str | None = None,
                sources: dict[str, str] | None = None) -> tuple[WorldFile | None, Diagnostics]:
    """Parse one world file.

    Args:
        text: the ``.iaml`` source.
        file: the name used in spans and messages.
        base_dir: the folder that ``file "…"`` references are read from (default: the file's folder).
        sources: a dict that receives the text of every file read, for rendering diagnostics.

    Returns:
        The parsed file (``None`` on a syntax error) and the diagnostics found.

    >>> wf, diags = parse_world('account 111122223333 "dev" { user alice }')
    >>> wf.accounts[0].users[0].name, len(diags)
    ('alice', 0)
    """
    diags = Diagnostics()
    sources = sources if sources is not None else {}
    sources[file] = text
    try:
        tree = _parser().parse(text)
    except UnexpectedInput as exc:
        diags.items.append(_syntax_error(exc, file, text))
        return None, diags
    base = base_dir if base_dir is not None else os.path.dirname(file) if file != "<input>" else "."
    try:
        world = _ToAst(file, diags, sources, base).transform(tree)
    except RecursionError:  # the tree is read recursively: a JSON value nested hundreds of levels deep
        diags.add("E303", f"the file nests values too deeply to read (more than {_MAX_NESTING} levels here)",
                  _too_deep(tree, file))
        return None, diags
    return world, diags


_MAX_NESTING = 200  # levels of a world file's tree reported as too deep (Python's recursion allows about 400)


def _too_deep(tree: Tree, file: str) -> Span | None:
    """Where ``tree`` first nests deeper than :data:`_MAX_NESTING` levels (read without recursion)."""
    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > _MAX_NESTING and not getattr(node.meta, "empty", True):
            return Span(file, node.meta.line, node.meta.column, node.meta.end_line, node.meta.end_column)
        stack.extend((child, depth + 1) for child in node.children if isinstance(child, Tree))
    return None


def load_world_files(paths: list[str], sources: dict[str, str] | None = None) -> tuple[WorldModel, Diagnostics]:
    """Read world files and everything they import, and merge them into one model.

    Each file is read once, however often it is imported; an import cycle is an error (E319),
    a missing file too (E320). A ``.json`` file is an export of IAM account authorization details
    (:mod:`iamlogic.grammar.gaad`): one account of the world.
    """
    sources = sources if sources is not None else {}
    diags = Diagnostics()
    parts: list[WorldFile] = []
    exports: list[WorldModel] = []  # from imported .json files: IAM account authorization details
    done: set[str] = set()

    def visit(path: str, stack: tuple[str, ...], span: Span | None) -> None:
        key = os.path.realpath(path)
        if key in stack:
            chain = " → ".join(os.path.basename(p) for p in (*stack[stack.index(key):], key))
            diags.add("E319", f"import cycle: {chain}", span)
            return
        if key in done:
            return
        done.add(key)
        try:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
        except OSError as exc:
            diags.add("E320", f"cannot read '{path}': {exc.strerror or exc}", span)
            return
        except UnicodeDecodeError:
            diags.items.append(not_utf8(path, "E320"))
            return
        if path.endswith(".json"):
            sources[path] = text
            model, found = authorization_details(text, path)
            diags.extend(found)
            exports.append(model)
            return
        wf, file_diags = parse_world(text, path, sources=sources)
        diags.extend(file_diags)
        if wf is None:
            return
        for imp in wf.imports:
            visit(os.path.normpath(os.path.join(os.path.dirname(path), imp.path)), (*stack, key), imp.span)
        parts.append(wf)

    for p in paths:
        visit(p, (), None)
    return merge_exports(merge_models(wf.as_model() for wf in parts), exports, diags), diags
