"""Decisions and their explanations: what :meth:`iamlogic.World.check` returns.

A :class:`Decision` has the outcome (``Allow``, ``ExplicitDeny`` or ``ImplicitDeny``), the
statements that decided it, one verdict per layer, the condition keys the request lacked, and
warnings. :meth:`Decision.explain` gives the proof tree that the Datalog rules derived.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ALLOW, EXPLICIT_DENY, IMPLICIT_DENY = "Allow", "ExplicitDeny", "ImplicitDeny"
#: Condition keys that AWS includes in the context of every request (IAM user guide,
#: reference_policies_condition-keys.html, "Availability" of each key): a decision made without
#: one of them is the decision of a request that cannot occur, and its summary says so.
ALWAYS_PRESENT = frozenset(k.lower() for k in (
    "aws:CurrentTime", "aws:EpochTime", "aws:SecureTransport", "aws:RequestedRegion", "aws:ViaAWSService"))

#: The IAM policy simulator's spelling of each outcome (EvalDecision).
SIMULATOR_DECISION = {ALLOW: "allowed", EXPLICIT_DENY: "explicitDeny", IMPLICIT_DENY: "implicitDeny"}


#: The policy ids of the AWS managed FullAWSAccess and RCPFullAWSAccess (world.BUILTIN_POLICY_IDS).
_AWS_MANAGED_IDS = frozenset({"p-FullAWSAccess", "p-RCPFullAWSAccess"})


@dataclass(frozen=True)
class StatementRef:
    """Where a statement comes from: its policy, index, Sid and source position."""

    id: str
    policy_id: str
    policy_name: str
    policy_kind: str
    index: int
    effect: str
    sid: str | None = None
    file: str | None = None
    line: int | None = None
    col: int | None = None

    @property
    def location(self) -> str:
        """``file:line:col``; for a statement without source, the AWS managed SCP or RCP that AWS
        Organizations attaches by default, or a policy built in memory (through the API)."""
        if self.file:
            return f"{self.file}:{self.line}:{self.col}"
        return "AWS managed, attached by default" if self.policy_id in _AWS_MANAGED_IDS else "<api>"

    def label(self) -> str:
        sid = f" {self.sid!r}" if self.sid else ""
        return f"{self.effect} statement {self.index}{sid} of {self.policy_kind} policy {self.policy_name} ({self.location})"

    def to_json(self) -> dict:
        return {"policy": self.policy_name, "policy_id": self.policy_id, "kind": self.policy_kind,
                "index": self.index, "sid": self.sid, "effect": self.effect,
                "file": self.file, "line": self.line, "col": self.col}


@dataclass(frozen=True)
class LayerVerdict:
    """The verdict of one layer: ``allow``, ``deny`` (explicit), ``no allow`` (implicit) or ``not applicable``."""

    layer: str
    verdict: str
    statements: tuple[StatementRef, ...] = ()
    note: str = ""

    def to_json(self) -> dict:
        d = {"layer": self.layer, "verdict": self.verdict, "statements": [s.to_json() for s in self.statements]}
        if self.note:
            d["note"] = self.note
        return d


@dataclass(frozen=True)
class ProofNode:
    """One derived judgement, the rule that made it, and what it rests on."""

    judgement: str
    rule: str  # "rule at FILE:LINE", "fact", "builtin", "negation", "comparison"
    children: tuple["ProofNode", ...] = ()
    source: str | None = None  # a source excerpt for statement facts

    def render(self, indent: str = "") -> str:
        tail = f"   [{self.rule}]" if self.rule else ""
        lines = [f"{indent}{self.judgement}{tail}"]
        if self.source:
            lines.append(f"{indent}    | {self.source}")
        for c in self.children:
            lines.append(c.render(indent + "  "))
        return "\n".join(lines)

    def to_json(self) -> dict:
        d = {"judgement": self.judgement, "rule": self.rule, "children": [c.to_json() for c in self.children]}
        if self.source:
            d["source"] = self.source
        return d


class _Elsewhere:
    """The source of a decision pickled for another process: what derived it stayed where it was made."""

    def layers(self):
        from .grammar.diagnostics import IamlogicError

        raise IamlogicError("unsupported: the layers and proof of a decision made in another process "
                            "(decide the request again in this one)")

    proof = layers

    def __reduce__(self):
        return "_ELSEWHERE"  # (the one instance, by name)


_ELSEWHERE = _Elsewhere()


@dataclass(frozen=True, eq=False)
class Decision:
    """The answer to one request.

    Attributes:
        decision: ``Allow``, ``ExplicitDeny`` or ``ImplicitDeny``.
        principal, action, resource: the request as evaluated (action in the catalog's spelling).
        statements: the deciding statements: the Deny statements that applied for an explicit deny,
            the Allow statements that applied for an allow, none for an implicit deny.
        layers: one verdict per layer, in evaluation order (assembled on first access from the
            relations the decision derived, when given as None with a source that derives them).
        missing_context: condition keys that a condition looked for and the request lacked.
        warnings: disputed semantics used, unknown actions, assumptions made.
    """

    decision: str
    principal: str
    action: str
    resource: str
    statements: tuple[StatementRef, ...] = ()
    _layers: tuple[LayerVerdict, ...] | None = field(default=(), repr=False)
    missing_context: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    # what derived the decision, asked for its layers (when ``_layers`` is None) and its proof:
    # an object with ``layers()`` and ``proof()`` (one object, kept as long as the decision is)
    _source: Any = field(default=None, compare=False, repr=False)

    @property
    def layers(self) -> tuple[LayerVerdict, ...]:
        found = self._layers
        if found is None:
            found = tuple(self._source.layers()) if self._source is not None else ()
            object.__setattr__(self, "_layers", found)
        return found

    def __reduce__(self):
        """Pickled (for another process) without what derived it: there its layers and proof are
        an error, until the process that has the world gives it a source that derives them."""
        return Decision, (self.decision, self.principal, self.action, self.resource, self.statements, None,
                          self.missing_context, self.warnings, _ELSEWHERE)

    def _fields(self) -> tuple:
        return (self.decision, self.principal, self.action, self.resource, self.statements, self.layers,
                self.missing_context, self.warnings)

    def __eq__(self, other) -> bool:
        return isinstance(other, Decision) and self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        return (f"Decision(decision={self.decision!r}, principal={self.principal!r}, action={self.action!r}, "
                f"resource={self.resource!r}, statements={self.statements!r}, layers={self.layers!r}, "
                f"missing_context={self.missing_context!r}, warnings={self.warnings!r})")

    @property
    def allowed(self) -> bool:
        return self.decision == ALLOW

    def blockers(self) -> tuple[LayerVerdict, ...]:
        """The layers that stopped the request: each with an explicit deny or without an allow."""
        return tuple(v for v in self.layers if v.verdict in ("deny", "no allow"))

    def summary(self) -> str:
        head = f"{self.decision}: {self.principal} {self.action} {self.resource}"
        if self.decision == EXPLICIT_DENY:
            text = head + "\n  denied by " + "\n  denied by ".join(s.label() for s in self.statements)
        elif self.decision == IMPLICIT_DENY:
            missing = [f"{v.layer} ({v.note})" if v.note else v.layer for v in self.blockers()]
            text = head + "\n  no allow in: " + ", ".join(missing or ["any policy"])
        else:
            text = head + "".join(f"\n  allowed by {s.label()}" for s in self.statements)
        return text + self._missing_line()

    def _missing_line(self) -> str:
        """The condition keys a policy read that the request did not carry: the decision is the one
        for a request without them (those AWS puts in every request are named as such)."""
        if not self.missing_context:
            return ""
        always = [k for k in self.missing_context if k.lower() in ALWAYS_PRESENT]
        return ("\n  missing condition keys: " + ", ".join(self.missing_context)
                + " (decided as for a request without them; give them as context"
                + (f"; AWS puts {', '.join(always)} in every request" if always else "") + ")")

    def explain(self, view: str = "full") -> str:
        """The explanation as text: ``full`` (the proof tree), ``blockers`` or ``summary``."""
        if view == "summary":
            return self.summary()
        if view == "blockers":
            lines = [self.summary()]
            for v in self.blockers():
                lines.append(f"  layer {v.layer}: {v.verdict}" + (f" — {v.note}" if v.note else ""))
                lines += [f"    {s.label()}" for s in v.statements]
            return "\n".join(lines)
        if view != "full":
            raise ValueError(f"unknown explanation view {view!r}: full, blockers or summary")
        parts = [self.explain("blockers"), "", "derivation:", self.proof().render("  ")]
        if self.warnings:
            parts += ["", "warnings:"] + [f"  {w}" for w in self.warnings]
        return "\n".join(parts)

    def proof(self) -> ProofNode:
        """The proof tree of the decision, derived from the rules (computed on demand)."""
        if self._source is None:
            return ProofNode(f"decision = {self.decision}", "")
        return self._source.proof()

    def to_json(self) -> dict:
        return {
            "decision": self.decision,
            "principal": self.principal, "action": self.action, "resource": self.resource,
            "statements": [s.to_json() for s in self.statements],
            "layers": [v.to_json() for v in self.layers],
            "missing_context": list(self.missing_context),
            "warnings": list(self.warnings),
        }
