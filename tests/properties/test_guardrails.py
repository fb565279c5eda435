"""Detective guardrails are Datalog: the bottom-up evaluator that ``iamlogic guardrails`` runs and
pyDatalog's evaluation of the same rules (iamlogic's own and the file's) find the same violations,
on generated worlds and on the example landing zone."""

from __future__ import annotations

import os

from hypothesis import given, settings

from iamlogic import World, load
from iamlogic.engine import Engine
from iamlogic.evaluate import BUILTIN_SPECS, rules
from iamlogic.grammar.datalog import Program
from iamlogic.guardrails import check_guardrails, load_guardrails, read_guardrails
from iamlogic.schema import RELATIONS
from iamlogic.testing import valid_world_models

from ..conftest import EXAMPLES

# Every shape a file may use: negation, the file's own recursion, comparisons, a builtin, and the
# relations iamlogic's rules derive without a request.
SHAPES = '''
guardrail("untagged", "every resource carries a tag").
violation("untagged", A, R) :- resource(R, A), not tagged(R).
tagged(R) :- resource_tag(R, _, _).
guardrail("nested", "no account sits in an OU whose parent is the root (found through every level)").
violation("nested", A, Node) :- below(A, Node), ou_parent(Node, Root), org_root(_, Root), not account_parent(A, Root).
below(A, Node) :- account_parent(A, Node).
below(A, Node) :- below(A, Child), ou_parent(Child, Node).
guardrail("foreign-trust", "a trust policy names an account of no organization").
violation("foreign-trust", A, Role) :-
    role_trust_policy(Role, Pol), principal(Role, "role", A), statement(S, Pol, _, "Allow"),
    statement_principal(S, "AWS", Other), Other != A, account(Other, _), not account_org(Other, _).
guardrail("wildcard-iam", "an identity policy allows iam actions by a wildcard").
violation("wildcard-iam", A, P) :-
    identity_policy(P, Pol), principal(P, _, A), statement(S, Pol, _, "Allow"), statement_action(S, Pat),
    action_match(Pat, "iam:PassRole"), Pat != "iam:PassRole".
guardrail("levels", "a member account has an SCP level without an attached policy").
violation("levels", A, Node) :- member_account(A), org_level(A, Node), not scp_attached(Node, _).
'''


def _by_engine(world: World, program: Program) -> set[tuple]:
    ev = world.evaluator()
    declared = {name: r.arity for name, r in RELATIONS.items() if name not in BUILTIN_SPECS}
    engine = Engine(declared, {name: (spec, getattr(ev, f"_b_{name}")) for name, spec in BUILTIN_SPECS.items()})
    engine.add_facts((rel, *row) for rel, rows in ev.index.rows.items() if rel in declared for row in rows)
    engine.add_program(rules())
    engine.add_program(program)
    return set(engine.query("violation(G, A, S)"))


def _agree(world: World, text: str, file: str) -> None:
    guardrails = read_guardrails(text, file)
    found = {(v.guardrail, v.account, v.subject) for v in check_guardrails(world, guardrails).violations}
    assert found == _by_engine(world, guardrails.program)


@settings(max_examples=100 if os.environ.get("IAMLOGIC_HYPOTHESIS_PROFILE") == "deep" else 30, deadline=None)
@given(valid_world_models())
def test_guardrails_agree_with_the_engine_on_generated_worlds(model):
    _agree(World(model), SHAPES, "shapes.dl")


def test_the_example_guardrails_agree_with_the_engine():
    folder = EXAMPLES / "control-tower"
    world = load([str(folder / "world.iaml")])
    guardrails = load_guardrails(str(folder / "detective.dl"))
    _agree(world, guardrails.program.text, guardrails.program.file)
    assert _by_engine(world, guardrails.program)  # the example breaks its guardrails
