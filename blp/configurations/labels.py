"""Column labels in PyBLP's form for interactions: formulaic writes `trend:jp` in the order of the formula, PyBLP
(sympy's product) `jp*trend`, its factors sorted: column names (and categorical levels) by name first, then the
other expressions (`I(...)`, then functions such as `log(...)`). An `I(...)` factor is printed as sympy prints the
expression PyBLP labels it by (`I(-prices)` -> `-prices`, `I(1 / income)` -> `1/income`, `I(prices ** 2)` ->
`prices**2`), by our own printer of Python's parse tree (no sympy, nothing evaluated)."""

from __future__ import annotations

import ast
import re
from typing import Callable

_NAME = re.compile(r'[A-Za-z_][A-Za-z_0-9.]*')
_LEVEL = re.compile(r'C\(\s*([A-Za-z_][A-Za-z_0-9.]*)\s*\)(\[.*\])')


def _factors(label: str) -> list[str]:
    """The label split at its interactions' ':' (outside parentheses and level brackets)."""
    factors, depth, start = [], 0, 0
    for index, character in enumerate(label):
        if character in '([':
            depth += 1
        elif character in ')]':
            depth -= 1
        elif character == ':' and depth == 0:
            factors.append(label[start:index])
            start = index + 1
    return factors + [label[start:]]


def _order(factor: str) -> tuple[int, str]:
    """sympy's order of a product's factors, as far as labels tell: symbols by name (a categorical level is the
    symbol `column[level]`), then I(...) expressions, then functions."""
    if _NAME.fullmatch(factor):
        return 0, factor
    level = _LEVEL.fullmatch(factor)
    if level:
        return 0, level.group(1) + level.group(2)
    return (1 if factor.startswith('I(') else 2), factor


def interaction_label(label: str) -> str:
    """`trend:jp` -> `jp*trend`, `z:x:y` -> `x*y*z`, `y:log(x)` -> `y*log(x)`, `I(-x)` -> `-x`; other labels as
    they are."""
    factors = _factors(label)
    return '*'.join(_simplified(factor) for factor in sorted(factors, key=_order))


def _simplified(factor: str) -> str:
    """An `I(...)` factor as sympy prints its expression; anything else (or what does not parse) as it is."""
    if not (factor.startswith('I(') and factor.endswith(')')):
        return factor
    try:
        tree = ast.parse(factor[2:-1].strip(), mode='eval').body
        return _printed(tree)
    except (SyntaxError, _Unprinted):
        return factor


class _Unprinted(Exception):
    pass


_PRECEDENCE = {ast.Add: 1, ast.Sub: 1, ast.Mult: 2, ast.Div: 2, ast.Pow: 4}


def _precedence(node: ast.AST) -> int:
    if isinstance(node, ast.BinOp):
        return _PRECEDENCE.get(type(node.op), 0)
    if isinstance(node, ast.UnaryOp):
        return 1 if not isinstance(node.operand, (ast.Name, ast.Constant, ast.Call)) else 3
    return 5


def _wrapped(node: ast.AST, below: int) -> str:
    text = _printed(node)
    return f'({text})' if _precedence(node) < below else text


def _named(left: ast.AST, right: ast.AST, printed: Callable[[ast.AST], str]) -> list[str]:
    """Two operands of a sum or product, sorted by name when both are names (sympy's order of symbols)."""
    pair = [printed(left), printed(right)]
    return sorted(pair) if isinstance(left, ast.Name) and isinstance(right, ast.Name) else pair


def _printed(node: ast.AST) -> str:  # noqa: C901 - one case per kind of node
    """sympy's str of a +, -, *, /, ** expression of names, numbers and calls: spaces around + and - only, a
    number first in a product and last in a sum, a negative term subtracted."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return str(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return '-' + _wrapped(node.operand, 2)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
        return f"{node.func.id}({', '.join(_printed(argument) for argument in node.args)})"
    if not isinstance(node, ast.BinOp) or type(node.op) not in _PRECEDENCE:
        raise _Unprinted
    left, right = node.left, node.right
    if isinstance(node.op, ast.Add):
        if isinstance(left, ast.Constant) and not isinstance(right, ast.Constant):
            left, right = right, left
        if isinstance(right, ast.UnaryOp) and isinstance(right.op, ast.USub):
            return f'{_printed(left)} - {_wrapped(right.operand, 2)}'
        return ' + '.join(_named(left, right, _printed))
    if isinstance(node.op, ast.Sub):
        return f'{_printed(left)} - {_wrapped(right, 2)}'
    if isinstance(node.op, ast.Mult):
        if isinstance(right, ast.Constant) and not isinstance(left, ast.Constant):
            left, right = right, left
        return '*'.join(_named(left, right, lambda operand: _wrapped(operand, 2)))
    if isinstance(node.op, ast.Div):
        return f'{_wrapped(left, 2)}/{_wrapped(right, 3)}'
    return f'{_wrapped(left, 5)}**{_wrapped(right, 5)}'
