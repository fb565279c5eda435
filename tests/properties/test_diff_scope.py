"""diff asks only the requests a change can reach, and finds every change asking all of them finds.

When two worlds differ only in statements, or in which principals, groups, organization levels
and resources hold their policies, ``analysis.diff`` asks only the requests whose action and
resource a changed statement matches, from the principals (or on the resources) its policy
reaches, under the condition keys the statements matching the action read; when they differ in a
principal or a resource (its tags, groups, boundary, the principal itself), the requests it makes
or those on it that can read the difference; and it asks a request again under another context
only when that context varies a key its decisions read. On generated worlds and one change each,
that finds the same changes, with the same decisions before and after, as asking every request of
the scope under every context.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings

from iamlogic import World, analysis
from iamlogic.testing import ACTION_POOL, world_changes


def _found(before: World, after: World, actions=ACTION_POOL) -> tuple[set, set]:
    unknown: list = []
    changes = analysis.diff(before, after, actions=actions, undetermined=unknown)
    return ({(c.principal, c.action, c.resource, c.before, c.after) for c in changes},
            {(u.principal, u.action, u.resource) for u in unknown})


def _decisions(before: World, after: World, actions) -> list:
    """Each change's decisions, with what each world's asker decides for its request: diff makes
    them from the verdicts it compared, without deciding again."""
    decided = []
    ask = analysis._Asker.ask

    def decision(asker, triple, verdict, context):
        d = original(asker, triple, verdict, context)
        decided.append((d, ask(asker, [triple], context)[0]))
        return d

    original = analysis._Asker.decision
    with pytest.MonkeyPatch.context() as m:
        m.setattr(analysis._Asker, "decision", decision)
        changes = analysis.diff(before, after, actions=actions, undetermined=[])
    assert len(decided) == sum((c.decision_before is not None) + (c.decision_after is not None) for c in changes)
    return decided


DEEP = os.environ.get("IAMLOGIC_HYPOTHESIS_PROFILE") == "deep"


def _check(pair, actions) -> None:
    before, after = (World(m) for m in pair)
    assert not any(d.is_error for w in (before, after) for d in w.diagnostics())
    narrowed, narrowed_unknown = _found(before, after, actions)
    for made, asked in _decisions(before, after, actions):
        assert made == asked and made.warnings == asked.warnings  # (its principal, statements, layers, …)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(analysis, "_changes", lambda *_: "everything")
        m.setattr(analysis, "_SKIP_UNREAD", False)
        whole, whole_unknown = _found(World(pair[0]), World(pair[1]), actions)
    assert narrowed == whole
    assert narrowed_unknown <= whole_unknown


@settings(max_examples=200 if DEEP else 15, deadline=None)
@given(world_changes())
def test_diff_of_a_change_finds_what_asking_every_request_finds(pair):
    _check(pair, ACTION_POOL)


@settings(max_examples=10 if DEEP else 1, deadline=None)
@given(world_changes())
def test_diff_of_a_change_in_the_default_scope_finds_what_asking_every_request_finds(pair):
    """The default scope: the actions the worlds' policies name (and a NotAction leaves), and the
    sample contexts of the keys the statements matching the remaining actions read. (Asking every
    request of it under every context takes minutes for some worlds: one example in CI, the
    smallest; more with the deep profile.)"""
    _check(pair, None)
