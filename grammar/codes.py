"""Every diagnostic code of the JSON policy reader and the policy validator, with its meaning.

Ranges: ``E0xx`` JSON syntax; ``E1xx``/``W1xx`` policy structure (grammar/json_policy.py);
``E2xx``/``W2xx`` policy kind and catalog validation (logic/validate.py). ``E3xx``/``W3xx`` belong
to the world language and are not listed here. A code never changes meaning once released; a
retired code is not reused.
"""

from __future__ import annotations

CODES: dict[str, str] = {
    # JSON syntax (grammar/json_policy.py: parse_json)
    "E001": "JSON syntax error",
    "E002": "duplicate key in a JSON object",
    "E003": "invalid JSON string content: bad escape, lone surrogate or raw control character",
    # Policy structure (grammar/json_policy.py: policy_from_value, check_operator, policy_to_json)
    "E100": "the policy document is not a JSON object",
    "E101": "unknown top-level policy element",
    "E102": "unknown statement element",
    "E103": "statement has no Effect",
    "E104": "unknown condition operator",
    "E105": "Effect is neither \"Allow\" nor \"Deny\"",
    "E106": "statement has neither Action nor NotAction",
    "E107": "statement has both Action and NotAction",
    "E108": "statement has both Resource and NotResource",
    "E109": "statement has both Principal and NotPrincipal",
    "E110": "policy element value has the wrong JSON type",
    "E111": "malformed Condition block",
    "E112": "IfExists suffix on the Null operator",
    "E113": "unknown principal type (AWS, Service, Federated or CanonicalUser)",
    "E114": "unknown policy Version",
    "W115": "policy has no Version: policy variables are literal text",
    "E116": "Statement list is empty",
    "E117": "policy has no Statement element",
    "E118": "empty list where at least one value is required",
    "W119": "two statements share a Sid",
    "E120": "malformed action name (expected service:Action or *)",
    "E121": "empty string where a value is required",
    "W122": "empty condition operator block has no effect",
    "E123": "condition key written twice under one operator (key names are case-insensitive)",
    # Policy kind and catalog validation (logic/validate.py: validate_policy)
    "E200": "unknown policy kind",
    "E201": "malformed ARN in Resource or NotResource",
    "E202": "policy variable outside the resource part of an ARN",
    "E203": "policy variable in a condition operator that does not support variables",
    "E204": "Principal or NotPrincipal in an identity, boundary or session policy",
    "E205": "Principal or NotPrincipal in a service control policy",
    "E206": "statement lacks the Principal this policy kind requires",
    "E207": "statement lacks the Resource this policy kind requires",
    "W208": "NotPrincipal with Allow",
    "E209": "NotPrincipal in a role trust policy",
    "W210": "unknown service prefix",
    "W211": "unknown action",
    "W212": "condition key unknown for the statement's services",
    "W213": "ForAllValues/ForAnyValue on a single-valued condition key",
    "W214": "Allow with NotAction allows very broadly",
    "W215": "Allow with NotResource allows very broadly",
    "E216": "RCP Allow statement other than the RCPFullAWSAccess shape",
    "E217": "RCP Principal other than \"*\"",
    "W218": "condition value does not fit the operator's type",
    "W219": "wildcard in a value of an operator that does not match wildcards",
    "E220": "element not supported in resource control policies (NotAction, NotPrincipal)",
    "E221": "Resource or NotResource in a role trust policy",
    "E222": "RCP Action \"*\" in a customer-managed RCP",
    "E223": "RCP Version other than 2012-10-17",
    "W224": "multivalued condition key without ForAllValues/ForAnyValue",
    "E225": "malformed principal",
    "W226": "service principal is not an AWS service name",
    "W227": "policy variable is literal text because Version is not 2012-10-17",
    "W228": "KMS key policy Resource other than \"*\"",
}
