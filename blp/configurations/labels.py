"""Column labels in PyBLP's form for interactions: formulaic writes `trend:jp` in the order of the formula, PyBLP
(sympy's product) `jp*trend`, its factors sorted: column names (and categorical levels) by name first, then the
other expressions (`I(...)`, then functions such as `log(...)`). Single factors keep their own label."""

from __future__ import annotations

import re

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
    """`trend:jp` -> `jp*trend`, `z:x:y` -> `x*y*z`, `y:log(x)` -> `y*log(x)`; other labels as they are."""
    factors = _factors(label)
    if len(factors) == 1:
        return label
    return '*'.join(sorted(factors, key=_order))
