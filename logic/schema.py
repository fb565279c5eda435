"""The extensional relations: every fact the compiler emits, declared once.

Each relation has a name (a snake_case sentence, subject first), and a legend of its arguments.
Identifiers used as arguments:

- ``Acct``  a 12-digit account id;            ``Org`` an organization id (``o-…``);
- ``Node``  an organization node id (``r-…`` for the root, ``ou-…`` for an OU);
- ``P``     a principal ARN (``arn:aws:iam::111122223333:user/alice``);
- ``Group`` a group ARN;                       ``Res`` a resource ARN;
- ``Pol``   a policy id (see :func:`iamlogic.compile.policy_id`);
- ``Stmt``  a statement id, ``<Pol>#<index>`` with the index counted from 0;
- ``Cond``  a condition id, ``<Stmt>/c<index>``.

Rule files (``rules/*.dl``) may use these relations and the relations they derive themselves;
a test fails when a rule body names anything else.
"""

from __future__ import annotations

from typing import NamedTuple


class Relation(NamedTuple):
    name: str
    args: tuple[str, ...]
    legend: str

    @property
    def arity(self) -> int:
        return len(self.args)


_DECLARATIONS = [
    # Organizations
    ("organization", ("Org", "MgmtAcct"), "organization Org has management account MgmtAcct"),
    ("org_root", ("Org", "Node"), "Node is the root of organization Org"),
    ("ou_parent", ("Child", "Parent"), "OU Child sits directly under node Parent"),
    ("ou_name", ("Node", "Name"), "org node Node is called Name"),
    ("account_parent", ("Acct", "Node"), "account Acct sits directly under org node Node"),
    ("account_org", ("Acct", "Org"), "account Acct is a member of organization Org"),
    ("account", ("Acct", "Name"), "account Acct is called Name"),
    ("account_tag", ("Acct", "Key", "Value"), "account Acct carries tag Key=Value"),
    ("scp_attached", ("Node", "Pol"), "SCP Pol is attached to org node or account Node"),
    ("rcp_attached", ("Node", "Pol"), "RCP Pol is attached to org node or account Node"),
    ("rcp_service", ("Svc",), "RCPs restrict the resources of service Svc (a prefix, lower case)"),
    # Tag policies
    ("tag_policy_attached", ("Node", "Pol"), "tag policy Pol is attached to org node or account Node"),
    ("tag_policy_key", ("Pol", "Key"), "tag policy Pol governs tag key Key, written so"),
    ("tag_policy_value", ("Pol", "Key", "Value"), "tag policy Pol allows Value for Key (no value listed: any)"),
    ("tag_policy_required", ("Pol", "Key"), "tag policy Pol requires every resource to carry Key (iamlogic's check)"),
    # Billing
    ("price_tier", ("Svc", "Type", "From", "Price"),
     "a unit of usage type Type of service Svc costs Price pico-USD (10^-12 USD) from the From-th unit on"),
    ("usage", ("Id", "Acct", "Svc", "Type", "Qty", "Res"),
     "usage line Id: account Acct used Qty units of Svc's Type, on resource Res (\"\" for the account)"),
    # Central logging
    ("trail", ("Trail", "Acct", "Bucket", "Prefix"),
     "CloudTrail trail Trail (its ARN) of account Acct delivers to S3 bucket Bucket, under Prefix (\"\": none)"),
    ("trail_organization", ("Trail",), "Trail is an organization trail: it records every account of its organization"),
    ("trail_multi_region", ("Trail",), "Trail records every region"),
    ("trail_logging", ("Trail",), "Trail is logging (not stopped)"),
    ("log_subscription", ("Group", "Acct", "Dest"),
     "log group Group of account Acct is subscribed to CloudWatch Logs destination Dest"),
    # Amazon Cognito user pools and API Gateway
    ("user_pool", ("Pool", "Acct", "Name", "Mfa"), "user pool Pool (its id) of account Acct, called Name; MFA off, optional or required"),
    ("user_pool_provider", ("Pool", "Provider"), "user pool Pool federates identity provider Provider"),
    ("pool_client", ("Pool", "Client"), "Client is an app client of user pool Pool"),
    ("pool_client_scope", ("Pool", "Client", "Scope"), "app client Client of Pool may grant OAuth scope Scope"),
    ("pool_user", ("User", "Pool"), "User (POOL/NAME) is a user of user pool Pool"),
    ("pool_user_group", ("User", "Group"), "pool user User is in group Group (its tokens' cognito:groups)"),
    ("pool_user_attribute", ("User", "Key", "Value"), "pool user User has attribute Key = Value"),
    ("pool_user_mfa", ("User",), "pool user User has an MFA factor"),
    ("pool_user_unconfirmed", ("User",), "pool user User is not confirmed"),
    ("pool_user_disabled", ("User",), "pool user User is disabled"),
    ("pool_user_via", ("User", "Provider"), "pool user User signs in through identity provider Provider"),
    ("api", ("Api", "Acct", "Name", "Region", "Stage"), "API Gateway REST API Api (its id) of account Acct, deployed to Stage"),
    ("api_route", ("Api", "Route", "Backend"), "route Route (\"METHOD /path\") of Api invokes Lambda function Backend"),
    ("route_authorizer", ("Api", "Route", "Pool"), "the authorizer of the route accepts the tokens of user pool Pool"),
    ("route_scope", ("Api", "Route", "Scope"), "the route's authorizer requires an access token with one of its scopes"),
    ("load_balancer", ("Lb", "Acct", "Name"), "Application Load Balancer Lb (its ARN) of account Acct, called Name"),
    ("lb_rule", ("Lb", "Path", "Backend", "TargetGroup"),
     "a listener rule of Lb for Path forwards to target group TargetGroup, whose target is Lambda function Backend"),
    ("lb_authenticate", ("Lb", "Path", "Pool"), "the rule for Path first signs users in with user pool Pool"),
    ("aws_managed_key", ("Res",), "Res is a KMS key that AWS manages for a service (alias aws/…)"),
    ("bucket_abac", ("Res",), "S3 general purpose bucket Res has ABAC enabled: S3 evaluates aws:ResourceTag against its tags"),
    ("reservation", ("Id", "Acct", "Svc", "Type", "Qty", "Rate"),
     "reservation Id of account Acct: Qty units of Svc's Type in the period at Rate pico-USD a unit"),
    ("savings_plan", ("Plan", "Acct", "Commit"), "Savings Plan Plan of account Acct commits Commit pico-USD for the period"),
    ("sp_rate", ("Plan", "Svc", "Type", "Rate"), "Savings Plan Plan covers Svc's Type at Rate pico-USD a unit"),
    ("no_discount_sharing", ("Acct",), "account Acct shares no reservation or Savings Plan with its organization"),
    ("rcp_ineffective_action", ("Key",), "an RCP does not restrict action Key (lower case), whatever its Action says"),
    # Principals
    ("principal", ("P", "Type", "Acct"), "principal P is a Type (user, role, root) of account Acct"),
    ("principal_name", ("P", "Name", "Path"), "principal P has name Name and path Path"),
    ("principal_tag", ("P", "Key", "Value"), "principal P carries tag Key=Value"),
    ("principal_id", ("P", "Id"), "user or role P has the unique id Id (AIDA…, AROA…)"),
    ("group", ("Group", "Acct", "Name"), "Group is a group of account Acct called Name"),
    ("group_member", ("P", "Group"), "user P is a member of Group"),
    ("role_service_linked", ("P",), "role P is a service-linked role"),
    # Policies and their attachments
    ("policy", ("Pol", "Kind", "Name"), "policy Pol of kind Kind is called Name"),
    ("policy_version", ("Pol", "Version"), "policy Pol declares Version (absent: no Version element)"),
    ("identity_policy", ("P", "Pol"), "identity policy Pol is attached to user or role P (inline or managed)"),
    ("group_policy", ("Group", "Pol"), "identity policy Pol is attached to Group"),
    ("permissions_boundary", ("P", "Pol"), "policy Pol is the permissions boundary of user or role P"),
    ("role_trust_policy", ("P", "Pol"), "policy Pol is the trust policy of role P"),
    ("resource_policy", ("Res", "Pol"), "policy Pol is the resource-based policy of Res"),
    # Resources
    ("resource", ("Res", "Acct"), "resource Res is owned by account Acct"),
    ("resource_tag", ("Res", "Key", "Value"), "resource Res carries tag Key=Value"),
    # IAM Identity Center and its identity source
    ("sso_user", ("Org", "User", "Directory"),
     "User signs in to Org's IAM Identity Center, from Directory (\"\" for Identity Center's own)"),
    ("sso_group", ("Org", "Group", "Directory"), "Group is a group of Org's Identity Center, from Directory"),
    ("sso_group_member", ("Org", "User", "Group"), "Identity Center user User is a member of Group"),
    ("sso_user_attribute", ("Org", "User", "Key", "Value"), "Identity Center user User has attribute Key=Value"),
    ("sso_session_attribute", ("Org", "Key"), "attribute Key is passed as a session tag (attributes for access control)"),
    ("sso_assignment", ("Org", "PermissionSet", "Kind", "Name", "Acct"),
     "PermissionSet is assigned to the user or group (Kind) Name in account Acct"),
    ("sso_role", ("Role", "Org", "PermissionSet", "Acct"), "Identity Center provisions Role for PermissionSet in Acct"),
    ("directory", ("Org", "Directory", "Type"),
     "Directory (managed_ad, ad_connector, simple_ad, self_managed) serves Org's Identity Center"),
    ("directory_link", ("Org", "Directory", "Linked", "Kind"),
     "Directory reaches the self-managed Linked by a two-way trust or as an AD Connector (Kind: trust, connects)"),
    # Amazon Cognito identity pools
    ("cognito_pool", ("Pool", "Acct", "Name", "Classic", "Guests"),
     "identity pool Pool of account Acct; Classic, Guests: whether it allows the basic flow and guests (true, false)"),
    ("cognito_pool_role", ("Pool", "Kind", "Role"), "Role is the pool's authenticated or unauthenticated (Kind) role"),
    ("cognito_provider", ("Pool", "Provider"), "identities of Pool sign in through Provider"),
    ("cognito_mapping", ("Pool", "Provider", "Otherwise"),
     "Pool maps the identities of Provider to roles by rules; Otherwise (authenticated, deny): when none matches"),
    ("cognito_mapping_rule", ("Pool", "Provider", "Index", "Claim", "Op", "Value", "Role"),
     "rule number Index of Pool for Provider: a token whose Claim compares (Op) with Value gets Role"),
    ("cognito_identity", ("Pool", "Id", "Provider"), "identity Id of Pool signs in through Provider (\"\" for a guest)"),
    ("cognito_identity_claim", ("Id", "Claim", "Value"), "the token of identity Id has Claim=Value"),
    ("cognito_identity_user", ("Id", "User"),
     "identity Id is user User (POOL/NAME) of a user pool: its token's claims are the user's attributes"),
    ("cognito_identity_amr", ("Id", "Value"), "the amr claim of identity Id's token has the entry Value too"),
    ("cognito_guest_policy", ("Pol",), "Pol is the session policy Amazon Cognito applies to its guests (enhanced flow)"),
    # Statements
    ("statement", ("Stmt", "Pol", "Index", "Effect"), "statement Stmt is number Index of Pol with Effect"),
    ("statement_sid", ("Stmt", "Sid"), "statement Stmt has Sid"),
    ("statement_source", ("Stmt", "File", "Line", "Col"), "statement Stmt is written at File:Line:Col"),
    ("statement_action", ("Stmt", "Pattern"), "Action element of Stmt lists Pattern"),
    ("statement_not_action", ("Stmt", "Pattern"), "NotAction element of Stmt lists Pattern"),
    ("statement_resource", ("Stmt", "Pattern"), "Resource element of Stmt lists Pattern"),
    ("statement_not_resource", ("Stmt", "Pattern"), "NotResource element of Stmt lists Pattern"),
    ("statement_principal", ("Stmt", "Type", "Value"), "Principal element of Stmt lists Type:Value"),
    ("statement_not_principal", ("Stmt", "Type", "Value"), "NotPrincipal element of Stmt lists Type:Value"),
    ("statement_condition", ("Cond", "Stmt", "Operator", "Key"), "Stmt has condition Cond: Operator on Key"),
    ("condition_value", ("Cond", "Value"), "condition Cond lists Value"),
    # The AWS action catalog, as far as the world's patterns need it
    ("action_pattern_covers", ("Pattern", "Action"), "action pattern Pattern matches catalog action Action"),
]

RELATIONS: dict[str, Relation] = {n: Relation(n, a, legend) for n, a, legend in _DECLARATIONS}
