"""Rules of rule-based room groups (SPEC §3): a closed grammar, parsed by Lark, never evaluated
as code.

    rule       := or
    or         := and ("or" and)*
    and        := unary ("and" unary)*
    unary      := "not" unary | "(" rule ")" | test
    test       := FIELD ("==" | "!=") STRING
                | FIELD ["not"] "in" "[" [STRING ("," STRING)*] "]"
                | FIELD "startswith" STRING
    FIELD      := country | city | building | name | update_ring
    STRING     := a double-quoted string; \\" and \\\\ are its only escapes

A parsed rule is a small tree of frozen dataclasses with two meanings, kept equal by the tests:
a SQL predicate over ``rooms`` (lists, counts and a group's membership) and a Python predicate
over one room's fields. Comparisons are exact (case-sensitive) in both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from lark import (
    Lark,
    Token,
    Transformer,
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
    UnexpectedToken,
)
from sqlalchemy import ColumnElement, and_, false, func, not_, or_, select, true
from sqlalchemy.sql.elements import ColumnElement as Column

from roomwarden.kit.errors import Invalid
from roomwarden.rooms.models import Room, UpdateRing

MAX_LENGTH = 3072
MAX_NESTING = 5  # levels of parentheses
MAX_DEPTH = 64  # operators inside one another, parentheses or not (``not not not ...``)
FIELDS = ("country", "city", "building", "name", "update_ring")

_GRAMMAR = r"""
?start: disjunction
?disjunction: conjunction (_OR conjunction)*
?conjunction: unary (_AND unary)*
?unary: _NOT unary            -> negation
      | "(" disjunction ")"
      | test
test: FIELD EQ STRING         -> equals
    | FIELD NE STRING         -> differs
    | FIELD _IN values        -> one_of
    | FIELD _NOT _IN values   -> none_of
    | FIELD _STARTSWITH STRING -> starts_with
values: "[" [STRING ("," STRING)*] "]"

FIELD: /(country|city|building|name|update_ring)(?![A-Za-z0-9_])/
_OR: /or(?![A-Za-z0-9_])/
_AND: /and(?![A-Za-z0-9_])/
_NOT: /not(?![A-Za-z0-9_])/
_IN: /in(?![A-Za-z0-9_])/
_STARTSWITH: /startswith(?![A-Za-z0-9_])/
EQ: "=="
NE: "!="
STRING: /"(?:[^"\\\n]|\\["\\])*"/
%ignore /[ \t\r\n]+/
"""

_PARSER = Lark(_GRAMMAR, parser="lalr", maybe_placeholders=False)


# -- the tree ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Equals:
    field: str
    value: str
    negated: bool = False


@dataclass(frozen=True, slots=True)
class OneOf:
    field: str
    values: tuple[str, ...]
    negated: bool = False


@dataclass(frozen=True, slots=True)
class StartsWith:
    field: str
    prefix: str


@dataclass(frozen=True, slots=True)
class Not:
    operand: Rule


@dataclass(frozen=True, slots=True)
class AllOf:
    operands: tuple[Rule, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    operands: tuple[Rule, ...]


Rule = Equals | OneOf | StartsWith | Not | AllOf | AnyOf


class _Build(Transformer[Token, Rule]):
    """Parse tree → ``Rule``; strings lose their quotes and escapes."""

    @staticmethod
    def _text(token: Token) -> str:
        return token[1:-1].replace('\\"', '"').replace("\\\\", "\\")

    def equals(self, items: list[Any]) -> Rule:
        return Equals(str(items[0]), self._text(items[2]))

    def differs(self, items: list[Any]) -> Rule:
        return Equals(str(items[0]), self._text(items[2]), negated=True)

    def one_of(self, items: list[Any]) -> Rule:
        return OneOf(str(items[0]), items[1])

    def none_of(self, items: list[Any]) -> Rule:
        return OneOf(str(items[0]), items[1], negated=True)

    def starts_with(self, items: list[Any]) -> Rule:
        return StartsWith(str(items[0]), self._text(items[1]))

    def values(self, items: list[Any]) -> tuple[str, ...]:
        return tuple(self._text(t) for t in items if t is not None)

    def negation(self, items: list[Any]) -> Rule:
        return Not(items[0])

    def conjunction(self, items: list[Any]) -> Rule:
        return AllOf(tuple(items))

    def disjunction(self, items: list[Any]) -> Rule:
        return AnyOf(tuple(items))


# -- parsing -------------------------------------------------------------------------------------


class RuleInvalid(Invalid):
    """422 naming where the rule went wrong (``position``, 1-based) and why (``reason``)."""

    def __init__(self, reason: str, position: int) -> None:
        super().__init__(
            f"the rule is not valid at position {position}: {reason}",
            extra={"position": position, "reason": reason},
            field="rule",
        )


def parse(text: str) -> Rule:
    """The rule ``text`` as a tree, or ``RuleInvalid``. Nothing in it is ever run."""
    if len(text) > MAX_LENGTH:
        raise RuleInvalid(f"a rule has at most {MAX_LENGTH} characters", MAX_LENGTH + 1)
    if not text.strip():
        raise RuleInvalid("the rule is empty", 1)
    _check_nesting(text)
    try:
        tree = _PARSER.parse(text)
    except UnexpectedInput as exc:
        raise RuleInvalid(_reason(exc), _position(exc, text)) from None
    rule = _Build().transform(tree)
    if _depth(rule) > MAX_DEPTH:
        raise RuleInvalid(f"a rule nests at most {MAX_DEPTH} operators", 1)
    return rule


def _check_nesting(text: str) -> None:
    """Parentheses nest at most ``MAX_NESTING`` deep (outside strings)."""
    depth, in_string, i = 0, False, 0
    while i < len(text):
        ch = text[i]
        if in_string:
            if ch == "\\":
                i += 1  # the escaped character is part of the string
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch == "(":
            depth += 1
            if depth > MAX_NESTING:
                raise RuleInvalid(f"parentheses nest at most {MAX_NESTING} levels deep", i + 1)
        elif ch == ")":
            depth = max(depth - 1, 0)
        i += 1


def _depth(rule: Rule) -> int:
    """How many operators sit inside one another (iterative: a hostile rule cannot recurse)."""
    deepest, stack = 0, [(rule, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        if isinstance(node, Not):
            stack.append((node.operand, level + 1))
        elif isinstance(node, AllOf | AnyOf):
            stack.extend((o, level + 1) for o in node.operands)
    return deepest


def _position(exc: UnexpectedInput, text: str) -> int:
    pos = getattr(exc, "pos_in_stream", None)
    ended = isinstance(exc, UnexpectedEOF) or (isinstance(exc, UnexpectedToken) and exc.token.type == "$END")
    if ended or pos is None:
        return len(text) + 1
    return int(pos) + 1


def _reason(exc: UnexpectedInput) -> str:
    if isinstance(exc, UnexpectedCharacters):
        if exc.char == '"':
            return "a string is not closed (strings end with a double quote on the same line)"
        return f"unexpected character {exc.char!r}{_expected(exc.allowed)}"
    if isinstance(exc, UnexpectedToken) and exc.token.type != "$END":
        return f"unexpected {exc.token.value!r}{_expected(exc.expected)}"
    return "the rule ends too early"


def _expected(terminals: Iterable[str] | None) -> str:
    names = sorted({_EXPECTED[t] for t in terminals or () if t in _EXPECTED})
    return f"; expected {' or '.join(names)}" if names else ""


_EXPECTED = {
    "FIELD": f"a field ({', '.join(FIELDS)})",
    "STRING": "a string in double quotes",
    "EQ": "==",
    "NE": "!=",
    "_IN": "in",
    "_NOT": "not",
    "_STARTSWITH": "startswith",
    "_AND": "and",
    "_OR": "or",
    "LPAR": "(",
    "RPAR": ")",
    "LSQB": "[",
    "RSQB": "]",
    "COMMA": ",",
}


# -- meanings ------------------------------------------------------------------------------------


def _sql_field(name: str) -> Column[str]:
    if name == "update_ring":
        ring = select(UpdateRing.name).where(
            UpdateRing.tenant_id == Room.tenant_id, UpdateRing.id == Room.update_ring_id
        )
        return func.coalesce(ring.scalar_subquery(), "")
    column: Column[str] = getattr(Room, name)
    return column


def sql(rule: Rule) -> ColumnElement[bool]:
    """The rule as a predicate over ``rooms`` (the caller adds the tenant)."""
    if isinstance(rule, Equals):
        column = _sql_field(rule.field)
        return column != rule.value if rule.negated else column == rule.value
    if isinstance(rule, OneOf):
        column = _sql_field(rule.field)
        if not rule.values:
            return true() if rule.negated else false()
        return column.not_in(rule.values) if rule.negated else column.in_(rule.values)
    if isinstance(rule, StartsWith):
        # Not LIKE: SQLite's LIKE ignores case, and a prefix may hold % or _.
        return func.substr(_sql_field(rule.field), 1, len(rule.prefix)) == rule.prefix
    if isinstance(rule, Not):
        return not_(sql(rule.operand))
    if isinstance(rule, AllOf):
        return and_(*(sql(o) for o in rule.operands))
    return or_(*(sql(o) for o in rule.operands))


Fields = Mapping[str, str]


def matcher(rule: Rule) -> Callable[[Fields], bool]:
    """The rule as a predicate over one room's fields (``FIELDS`` → text)."""

    def test(room: Fields) -> bool:
        return _matches(rule, room)

    return test


def _matches(rule: Rule, room: Fields) -> bool:
    if isinstance(rule, Equals):
        return (room[rule.field] == rule.value) != rule.negated
    if isinstance(rule, OneOf):
        return (room[rule.field] in rule.values) != rule.negated
    if isinstance(rule, StartsWith):
        return room[rule.field].startswith(rule.prefix)
    if isinstance(rule, Not):
        return not _matches(rule.operand, room)
    if isinstance(rule, AllOf):
        return all(_matches(o, room) for o in rule.operands)
    return any(_matches(o, room) for o in rule.operands)
