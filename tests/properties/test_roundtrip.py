"""Round trips: print∘parse for worlds and policies, and JSON ⇄ compact syntax."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from iamlogic.grammar.json_policy import parse_policy_text, policy_to_json
from iamlogic.grammar.printer import print_policy, print_world
from iamlogic.grammar.world import parse_world
from iamlogic.testing import policies, world_models


def parse_compact(text: str):
    wf, diags = parse_world(f"aws policy P {text}")
    assert wf is not None and not diags.has_errors(), diags.render({"<input>": f"aws policy P {text}"})
    return wf.aws_policies[0].document


@given(world_models())
def test_world_print_parse(model):
    text = print_world(model)
    wf, diags = parse_world(text)
    assert wf is not None, diags.render({"<input>": text})
    assert (wf.organizations, wf.accounts, wf.aws_policies) == (model.organizations, model.accounts, model.aws_policies)


@given(policies())
def test_policy_print_parse(policy):
    assert parse_compact(print_policy(policy)) == policy


@given(policies())
def test_json_to_compact_to_json(policy):
    doc = json.dumps(policy_to_json(policy), indent=2, ensure_ascii=False)
    from_json, diags = parse_policy_text(doc)
    assert from_json == policy, diags.render({"<input>": doc})
    back = policy_to_json(parse_compact(print_policy(from_json)))
    assert back == policy_to_json(policy)


@settings(max_examples=2000)
@given(st.text())
def test_world_parser_never_raises_on_text(text):
    wf, diags = parse_world(text)
    assert wf is not None or diags.has_errors()


@given(world_models(), st.data())
def test_world_parser_never_raises_on_mutations(model, data):
    text = print_world(model)
    pos = data.draw(st.integers(0, len(text)))
    cut = data.draw(st.integers(0, 5))
    insert = data.draw(st.sampled_from(["", "{", "}", '"', "allow", "when", "[", ",", "\\", "\x00", "not"]))
    parse_world(text[:pos] + insert + text[pos + cut:])
