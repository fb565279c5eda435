"""The public strategies build what they promise: values valid for their kind."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iamlogic import World
from iamlogic.grammar.arn import parse_arn
from iamlogic.testing import arns, catalog_actions, condition_blocks, policies_of_kind, valid_world_models
from iamlogic.validate import validate_policy
from iamlogic.catalog import Catalog


@pytest.mark.parametrize("kind", ["identity", "boundary", "session", "scp", "resource", "key", "trust", "rcp"])
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_policies_of_each_kind_validate(kind, data):
    policy = data.draw(policies_of_kind(kind))
    errors = [d for d in validate_policy(policy, kind) if d.is_error]
    assert not errors, errors


@settings(max_examples=60, deadline=None)
@given(arns(), catalog_actions())
def test_arns_parse_and_actions_are_in_the_catalog(arn, action):
    assert not isinstance(parse_arn(arn), str), arn
    assert Catalog.default().action(action).name == action


@settings(max_examples=60, deadline=None)
@given(condition_blocks())
def test_condition_values_fit_their_operators(block):
    from iamlogic.grammar.ast import Policy, Statement

    policy = Policy((Statement("Allow", action=("s3:GetObject",), resource=("*",), conditions=block),))
    assert not [d for d in validate_policy(policy, "identity") if d.code in ("W218",) or d.is_error]


@settings(max_examples=10, deadline=None)
@given(valid_world_models())
def test_valid_worlds_have_no_errors(model):
    assert not [d for d in World(model).diagnostics() if d.is_error]
