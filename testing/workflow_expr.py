"""GitHub Actions expressions (`${{ }}`), evaluated as a runner does, for the
workflow replay (testing/workflow_replay.py).

The language: literals (null, booleans, numbers, 'strings' with '' for a quote),
contexts (`github.event.before`, `needs.changes.outputs.any`, `matrix['service']`),
`!`, `<`, `<=`, `>`, `>=`, `==`, `!=`, `&&`, `||` (which return an operand, as in
JavaScript), parentheses, and the functions contains, startsWith, endsWith, format,
join, toJSON, fromJSON, hashFiles and the status checks success, always, cancelled,
failure. Comparisons follow GitHub's loose equality: strings ignore case, and values
of different types are compared as numbers. Anything else raises ExpressionError,
naming it: a replay never guesses.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

TEMPLATE = re.compile(r"\$\{\{(.*?)\}\}", re.S)
TOKEN = re.compile(
    r"\s*(?:(?P<num>-?(?:0x[0-9a-fA-F]+|\d+(?:\.\d+)?(?:[eE][-+]?\d+)?))"
    r"|(?P<str>'(?:[^']|'')*')"
    r"|(?P<op>&&|\|\||==|!=|<=|>=|[<>!()\[\].,*])"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_-]*))"
)


class ExpressionError(Exception):
    pass


@dataclass(frozen=True)
class Status:
    """What the status functions see. For a step: whether an earlier step failed.
    For a job: whether a job it needs (directly or not) failed, and whether all of
    them succeeded (`succeeded`; a skipped one did not)."""

    failed: bool = False
    cancelled: bool = False
    succeeded: bool | None = None

    def success(self) -> bool:
        if self.succeeded is not None:
            return self.succeeded and not self.cancelled
        return not self.failed and not self.cancelled


def truthy(value) -> bool:
    if value is None or value is False:
        return False
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value != 0 and not math.isnan(value)
    if isinstance(value, str):
        return value != ""
    return True


def to_string(value) -> str:
    """How a value is written into a string (`run:`, `env:`, a template)."""
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (dict, list)):
        return json.dumps(value, indent=2)
    return str(value)


def _number(value) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if text == "":
            return 0.0
        try:
            return (
                float(int(text, 16)) if text.lower().startswith("0x") else float(text)
            )
        except ValueError:
            return math.nan
    return math.nan


def _compare(a, b, op: str) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        x, y = a.lower(), b.lower()
    elif type(a) is type(b) and a is not None and not isinstance(a, (str, int, float)):
        if op in ("==", "!="):  # objects and arrays: the same instance only
            return (a is b) == (op == "==")
        return False
    else:
        x, y = _number(a), _number(b)
        if math.isnan(x) or math.isnan(y):
            return op == "!="
    return {
        "==": x == y,
        "!=": x != y,
        "<": x < y,
        "<=": x <= y,
        ">": x > y,
        ">=": x >= y,
    }[op]


def _format(fmt: str, *args) -> str:
    def one(m: re.Match) -> str:
        if m.group(0) == "{{":
            return "{"
        if m.group(0) == "}}":
            return "}"
        index = int(m.group(1))
        if index >= len(args):
            raise ExpressionError(f"format(): no argument {index}")
        return to_string(args[index])

    return re.sub(r"\{\{|\}\}|\{(\d+)\}", one, fmt)


def _contains(haystack, needle) -> bool:
    if isinstance(haystack, list):
        return any(_compare(item, needle, "==") for item in haystack)
    return to_string(needle).lower() in to_string(haystack).lower()


def _from_json(text):
    try:
        return json.loads(to_string(text))
    except ValueError as exc:
        raise ExpressionError(f"fromJSON(): not JSON ({exc})") from None


class _Parser:
    def __init__(self, text: str, context: Mapping, functions: Mapping[str, Callable]):
        self.text = text
        self.tokens = self._tokenize(text)
        self.pos = 0
        self.context = context
        self.functions = functions

    @staticmethod
    def _tokenize(text: str) -> list[tuple[str, str]]:
        out, i = [], 0
        while i < len(text):
            if text[i:].strip() == "":
                break
            m = TOKEN.match(text, i)
            if not m or m.end() == i:
                raise ExpressionError(f"cannot read {text[i:].strip()!r} in {text!r}")
            kind = m.lastgroup or ""
            out.append((kind, m.group(kind)))
            i = m.end()
        return out

    def peek(self, value: str | None = None) -> bool:
        if self.pos >= len(self.tokens):
            return False
        kind, tok = self.tokens[self.pos]
        return value is None or (kind == "op" and tok == value)

    def take(self, value: str | None = None) -> tuple[str, str]:
        if not self.peek(value):
            where = self.tokens[self.pos][1] if self.pos < len(self.tokens) else "end"
            want = f"{value!r}" if value else "a value"
            raise ExpressionError(f"expected {want} at {where!r} in {self.text!r}")
        self.pos += 1
        return self.tokens[self.pos - 1]

    def parse(self):
        value = self.or_()
        if self.pos != len(self.tokens):
            raise ExpressionError(
                f"unexpected {self.tokens[self.pos][1]!r} in {self.text!r}"
            )
        return value

    # Both sides are always evaluated: none of the functions has side effects.
    def or_(self):
        left = self.and_()
        while self.peek("||"):
            self.take()
            right = self.and_()
            left = left if truthy(left) else right
        return left

    def and_(self):
        left = self.equality()
        while self.peek("&&"):
            self.take()
            right = self.equality()
            left = right if truthy(left) else left
        return left

    def equality(self):
        left = self.comparison()
        while self.peek("==") or self.peek("!="):
            op = self.take()[1]
            left = _compare(left, self.comparison(), op)
        return left

    def comparison(self):
        left = self.unary()
        while any(self.peek(op) for op in ("<", "<=", ">", ">=")):
            op = self.take()[1]
            left = _compare(left, self.unary(), op)
        return left

    def unary(self):
        if self.peek("!"):
            self.take()
            return not truthy(self.unary())
        return self.postfix(self.primary())

    def primary(self):
        kind, tok = self.take()
        if kind == "num":
            return float(int(tok, 16)) if "x" in tok.lower() else float(tok)
        if kind == "str":
            return tok[1:-1].replace("''", "'")
        if kind == "op" and tok == "(":
            value = self.or_()
            self.take(")")
            return value
        if kind != "name":
            raise ExpressionError(f"unexpected {tok!r} in {self.text!r}")
        if tok in ("true", "false"):
            return tok == "true"
        if tok == "null":
            return None
        if self.peek("("):
            return self.call(tok)
        if tok not in self.context:
            raise ExpressionError(f"unknown context {tok!r} in {self.text!r}")
        return self.context[tok]

    def call(self, name: str):
        self.take("(")
        args = []
        while not self.peek(")"):
            args.append(self.or_())
            if not self.peek(")"):
                self.take(",")
        self.take(")")
        fn = self.functions.get(name) or self.functions.get(name.lower())
        if fn is None:
            raise ExpressionError(f"unknown function {name}() in {self.text!r}")
        return fn(*args)

    def postfix(self, value):
        while self.peek(".") or self.peek("["):
            if self.take()[1] == ".":
                if self.peek("*"):
                    raise ExpressionError(f"object filters (.*) in {self.text!r}")
                key = self.take()[1]
            else:
                key = to_string(self.or_())
                self.take("]")
            if isinstance(value, Mapping):
                value = next(
                    (v for k, v in value.items() if str(k).lower() == key.lower()),
                    None,
                )
            elif isinstance(value, list) and key.isdigit():
                value = value[int(key)] if int(key) < len(value) else None
            else:
                value = None  # GitHub: a missing property is null, not an error
        return value


class Evaluator:
    """`${{ }}` in workflow values, given the contexts (github, env, matrix, needs,
    steps, inputs, secrets, runner, vars, job) and the status so far."""

    def __init__(
        self,
        context: Mapping,
        status: Status = Status(),
        hash_files: Callable[..., str] | None = None,
    ):
        self.context = context
        self.status = status
        self.hash_files = hash_files

    def _functions(self) -> dict[str, Callable]:
        def hash_files(*patterns):
            if self.hash_files is None:
                raise ExpressionError("hashFiles() is not available here")
            return self.hash_files(*patterns)

        return {
            "contains": _contains,
            "startswith": lambda a, b: to_string(a)
            .lower()
            .startswith(to_string(b).lower()),
            "endswith": lambda a, b: to_string(a)
            .lower()
            .endswith(to_string(b).lower()),
            "format": lambda fmt, *args: _format(to_string(fmt), *args),
            "join": lambda items, sep=",": (
                to_string(sep).join(to_string(i) for i in items)
                if isinstance(items, list)
                else to_string(items)
            ),
            "tojson": lambda value: json.dumps(value, indent=2),
            "fromjson": _from_json,
            "hashfiles": hash_files,
            "success": self.status.success,
            "always": lambda: True,
            "cancelled": lambda: self.status.cancelled,
            "failure": lambda: self.status.failed,
        }

    def evaluate(self, expression: str):
        return _Parser(expression.strip(), self.context, self._functions()).parse()

    def condition(self, text) -> bool:
        """An `if:`: bare or in `${{ }}`; without a status function, success() &&."""
        if isinstance(text, bool):
            text = "true" if text else "false"
        text = str(text).strip()
        whole = TEMPLATE.fullmatch(text)
        expression = whole.group(1) if whole else text
        if not re.search(r"\b(success|always|cancelled|failure)\s*\(", expression):
            expression = f"success() && ({expression})"
        return truthy(self.evaluate(expression))

    def render(self, value):
        """A workflow value with every `${{ }}` evaluated: a string that is one
        expression keeps the expression's value (e.g. a matrix from fromJSON)."""
        if isinstance(value, dict):
            return {k: self.render(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.render(v) for v in value]
        if not isinstance(value, str):
            return value
        whole = TEMPLATE.fullmatch(value.strip())
        if whole:
            return self.evaluate(whole.group(1))
        return TEMPLATE.sub(lambda m: to_string(self.evaluate(m.group(1))), value)

    def render_text(self, value) -> str:
        return to_string(self.render(value))


CONTEXTS = (
    "github",
    "env",
    "vars",
    "job",
    "jobs",
    "steps",
    "runner",
    "secrets",
    "strategy",
    "matrix",
    "needs",
    "inputs",
)


def check(expression: str) -> None:
    """Raises ExpressionError when the replay could not read `expression` (syntax,
    a context or function it does not know); evaluates nothing of the run's."""
    functions = Evaluator({})._functions()
    _Parser(
        expression.strip(),
        {name: {} for name in CONTEXTS},
        {name: (lambda *args: None) for name in functions},
    ).parse()


def expressions_in(value) -> list[str]:
    """Every `${{ }}` expression in a workflow value (for the static check)."""
    if isinstance(value, dict):
        return [e for v in value.values() for e in expressions_in(v)]
    if isinstance(value, list):
        return [e for v in value for e in expressions_in(v)]
    if isinstance(value, str):
        return [m.group(1).strip() for m in TEMPLATE.finditer(value)]
    return []
