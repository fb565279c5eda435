"""The two readings of a JSON document agree: the grammar (json.lark, every diagnostic) and the fast
reading by regular expressions (clean documents only). On any text, the fast reading either
declines, or gives exactly the grammar's values, spans and number texts, and it declines whenever
the grammar reports something."""

from __future__ import annotations

import json
import os

from hypothesis import given, settings
from hypothesis import strategies as st

from iamlogic.grammar import json_policy
from iamlogic.grammar.json_policy import JArray, JObject, JScalar, JsonTransformer, json_parser, parse_json
from iamlogic.testing import policies

from ..conftest import ROOT

EXAMPLES = 2000 if os.environ.get("IAMLOGIC_HYPOTHESIS_PROFILE") == "deep" else 150


def _grammar(text: str):
    try:
        tree = json_parser().parse(text)
    except Exception:  # a syntax error: the grammar reports it (E001)
        return None, ["E001"]
    transformer = JsonTransformer("f.json")
    return transformer.transform(tree), transformer.diagnostics


def _differs(a, b, path="$") -> str | None:
    """Where two located values differ, values, spans and number texts compared."""
    if type(a) is not type(b) or a.span != b.span:
        return f"{path}: {a!r} at {a.span} / {b!r} at {b.span}"
    if isinstance(a, JScalar):
        same = (a.value, type(a.value), a.raw) == (b.value, type(b.value), b.raw)
        return None if same else f"{path}: {a.value!r} / {b.value!r}"
    if isinstance(a, JArray):
        if len(a.items) != len(b.items):
            return f"{path}: {len(a.items)} / {len(b.items)} items"
        return next((d for i, (x, y) in enumerate(zip(a.items, b.items)) if (d := _differs(x, y, f"{path}[{i}]"))), None)
    assert isinstance(a, JObject)
    if [(k, s) for k, s, _ in a.pairs] != [(k, s) for k, s, _ in b.pairs]:
        return f"{path}: keys"
    return next((d for (k, _, x), (_, _, y) in zip(a.pairs, b.pairs) if (d := _differs(x, y, f"{path}.{k}"))), None)


def _agree(text: str) -> None:
    fast = json_policy._located(text, "f.json")
    slow, diagnostics = _grammar(text)
    if diagnostics:
        assert fast is None, (text, diagnostics)
    elif fast is not None:
        assert _differs(fast, slow) is None, (text, _differs(fast, slow))
    value, found = parse_json(text, "f.json")  # what callers get: one reading or the other
    assert (value is None) == (slow is None) and len(found) == len(diagnostics)


_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**20, 10**20) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=20)


@settings(max_examples=EXAMPLES, deadline=None)
@given(_values, st.sampled_from([None, 0, 1, 2, "\t"]), st.booleans(), st.data())
def test_readings_agree_on_documents_and_their_mutations(value, indent, ascii_only, data):
    text = json.dumps(value, indent=indent, ensure_ascii=ascii_only)
    _agree(text)
    at = data.draw(st.integers(0, len(text)))
    extra = data.draw(st.sampled_from(['"', ",", "}", "]", "\\", "\n", " ", "x", "1", ":", "{", "\\u12", "\x01"]))
    _agree(text[:at] + extra + text[at:])  # one character more, somewhere
    _agree(text[:at] + text[at + 1:])  # one fewer


@settings(max_examples=EXAMPLES, deadline=None)
@given(policies())
def test_readings_agree_on_policies(policy):
    _agree(json.dumps(json_policy.policy_to_json(policy), indent=2))


def test_readings_agree_on_every_json_file_of_the_project():
    for path in sorted(ROOT.glob("**/*.json")):
        _agree(path.read_text(encoding="utf-8").replace("\ufeff", " ", 1))
