"""R-style formulations in PyBLP's syntax, parsed by formulaic and checked so no user text is ever evaluated.

formulaic evaluates factor expressions (`I(prices ** 2)`, `log(x)`) as Python, so before it sees a formula
every factor is parsed with `ast` and must consist only of column names, numbers, arithmetic and a short list
of functions. That keeps formulas a data language when they arrive over HTTP.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Optional

import numpy as np
import pandas as pd
from formulaic import Formula, model_matrix
from formulaic.errors import FormulaicError

from blp.configurations.descriptions import TERM_ORDER, describe_formulation
from blp.configurations.labels import interaction_label
from blp.exceptions import DataError, SpecificationError

FUNCTIONS = {'log': np.log, 'exp': np.exp, 'sqrt': np.sqrt, 'abs': np.abs}
SPECIAL_FUNCTIONS = ('I', 'C')
ENDOGENOUS_NAMES = ('prices', 'shares')
_ALLOWED_NODES = (ast.Expression, ast.Name, ast.Load, ast.Constant, ast.BinOp, ast.UnaryOp, ast.Call, ast.Add, ast.Sub,
                  ast.Mult, ast.Div, ast.Pow, ast.USub, ast.UAdd)


@dataclass(frozen=True)
class Design:
    """A built matrix with its column labels and which columns involve prices or shares (endogenous)."""

    matrix: np.ndarray
    labels: list[str]
    endogenous: np.ndarray


def _names_in(expression: str, where: str) -> set[str]:
    """Column names a factor expression uses, refusing anything but arithmetic on columns and whitelisted calls."""
    try:
        tree = ast.parse(expression, mode='eval')
    except SyntaxError as exception:
        raise SpecificationError(f"{where}: cannot parse {expression!r}: {exception.msg}", parameter=where) from None
    names: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED_NODES):
            raise SpecificationError(
                f"{where}: {expression!r} uses {type(node).__name__}; only column names, numbers, + - * / **, "
                f"I(), C() and {', '.join(FUNCTIONS)}() are allowed", parameter=where)
        if isinstance(node, ast.Constant) and not isinstance(node.value, (int, float)):
            raise SpecificationError(f"{where}: {expression!r} has a non-numeric literal", parameter=where)
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in (*FUNCTIONS, *SPECIAL_FUNCTIONS):
                raise SpecificationError(
                    f"{where}: {expression!r} calls a function that is not allowed "
                    f"(allowed: I, C, {', '.join(FUNCTIONS)})", parameter=where)
            if node.keywords:
                raise SpecificationError(f"{where}: {expression!r} passes keyword arguments", parameter=where)
        if isinstance(node, ast.Name) and node.id not in (*FUNCTIONS, *SPECIAL_FUNCTIONS):
            names.add(node.id)
    return names


def _parse(formula: str, where: str) -> Formula:
    if '~' in formula or '|' in formula:
        raise SpecificationError(f"{where}: formula {formula!r} must be a right-hand side only (no '~' or '|')",
                                 parameter=where)
    try:
        return Formula(formula, _ordering=TERM_ORDER)
    except (FormulaicError, SyntaxError, ValueError, TypeError) as exception:  # formulaic raises all of these
        raise SpecificationError(f"{where}: cannot parse formula {formula!r}: {str(exception).splitlines()[0]}",
                                 parameter=where) from None


class Formulation:
    """A formula such as `'0 + prices'` and optionally fixed effects to absorb, as in `pyblp.Formulation`.

    A constant is included unless the formula says `0 +` or fixed effects are absorbed.
    """

    def __init__(self, formula: str, absorb: Optional[str] = None) -> None:
        if not isinstance(formula, str) or not formula.strip():
            raise SpecificationError('a formulation needs a non-empty formula string', parameter='formula')
        self.formula = formula
        self.absorb = absorb or None

    def __repr__(self) -> str:
        """As PyBLP prints it: the built terms, then the absorbed ones (`prices + Absorb[C(product_ids)]`)."""
        return describe_formulation(self)

    def column_names(self, where: str = 'formula') -> set[str]:
        """Every data column the formula (and its absorbed fixed effects) reads."""
        names: set[str] = set()
        for term in _parse(self.formula, where):
            for factor in term.factors:
                if factor.expr not in ('1', '0'):
                    names |= _names_in(factor.expr, where)
        for columns in self.absorb_columns(where):
            names |= set(columns)
        return names

    def variables(self) -> list[str]:
        """The data columns the formula (not its absorbed fixed effects) reads, in order of first appearance."""
        names: list[str] = []
        for term in _parse(self.formula, 'formula'):
            for factor in term.factors:
                if factor.expr not in ('1', '0'):
                    found = _names_in(factor.expr, 'formula')
                    names += sorted((name for name in found if name not in names), key=factor.expr.index)
        return names

    def absorb_columns(self, where: str = 'absorb') -> list[tuple[str, ...]]:
        """The fixed-effect dimensions: each a tuple of columns whose combination defines the groups."""
        if self.absorb is None:
            return []
        dimensions = []
        for term in _parse(self.absorb, where):
            columns = []
            for factor in term.factors:
                if factor.expr in ('1', '0'):
                    continue
                tree = ast.parse(factor.expr, mode='eval').body
                if isinstance(tree, ast.Call) and isinstance(tree.func, ast.Name) and tree.func.id == 'C' \
                        and len(tree.args) == 1 and isinstance(tree.args[0], ast.Name):
                    columns.append(tree.args[0].id)
                elif isinstance(tree, ast.Name):
                    columns.append(tree.id)
                else:
                    raise SpecificationError(f"{where}: absorb terms must be C(column) or column, not {factor.expr!r}",
                                             parameter=where)
            if columns:
                dimensions.append(tuple(columns))
        return dimensions

    def coding_formula(self, where: str) -> str:
        """The formula formulaic builds: with absorbed fixed effects, PyBLP codes categorical terms as if there were
        an intercept (one level dropped, even after `0 +`), since the fixed effects take the intercept's place; the
        intercept column itself is dropped after building."""
        if self.absorb is None:
            return self.formula
        return ' + '.join(['1'] + [str(term) for term in _parse(self.formula, where) if str(term) not in ('1', '0')])

    def build(self, data: pd.DataFrame, where: str = 'formula') -> Design:
        """Evaluate the formula on data, naming the column at fault when something is missing or not finite."""
        missing = sorted(name for name in self.column_names(where) if name not in data.columns)
        if missing:
            raise DataError(f"{where} {self.formula!r} uses column {missing[0]!r}, which is not in the data "
                            f"(columns: {', '.join(map(str, data.columns))})", column=missing[0])
        try:
            with np.errstate(all='ignore'):
                matrix = model_matrix(_parse(self.coding_formula(where), where), data, context=FUNCTIONS,
                                      na_action='ignore')
        except (FormulaicError, SyntaxError, ValueError, TypeError) as exception:
            raise SpecificationError(f"{where}: cannot evaluate {self.formula!r}: {str(exception).splitlines()[0]}",
                                     parameter=where) from None
        labels = ['1' if label == 'Intercept' else interaction_label(str(label)) for label in matrix.columns]
        values = np.asarray(matrix, dtype=float)
        if self.absorb is not None and '1' in labels:
            keep = [index for index, label in enumerate(labels) if label != '1']
            values, labels = values[:, keep], [labels[index] for index in keep]
        bad = ~np.isfinite(values)
        if bad.any():
            row, column = np.argwhere(bad)[0]
            raise DataError(f"{where} column {labels[column]!r} is not finite in row {row}", column=labels[column],
                            row=int(row))
        endogenous = np.array([bool(_names_in(label, where) & set(ENDOGENOUS_NAMES)) if label != '1' else False
                               for label in _expression_labels(labels)], dtype=bool)
        return Design(values, labels, endogenous)


def _expression_labels(labels: list[str]) -> list[str]:
    """Labels made parseable: interactions joined with ':' (formulaic's) or '*' (ours), levels marked '[...]'."""
    cleaned = []
    for label in labels:
        text = label.replace(':', '*')
        while '[' in text and ']' in text:
            start = text.index('[')
            text = text[:start] + text[text.index(']', start) + 1:]
        cleaned.append(text)
    return cleaned


class _NonLinear(Exception):
    pass


def _linear_form(node: ast.AST, name: str) -> tuple[float, Optional[float]]:  # noqa: C901 - one case per AST node kind
    """(a, c) with the expression = a name + (something free of name); c is its value when it is a plain number."""
    if isinstance(node, ast.Expression):
        return _linear_form(node.body, name)
    if isinstance(node, ast.Constant):
        return 0.0, float(node.value) if isinstance(node.value, (int, float)) else None
    if isinstance(node, ast.Name):
        return (1.0, None) if node.id == name else (0.0, None)
    if isinstance(node, ast.UnaryOp):
        slope, value = _linear_form(node.operand, name)
        sign = -1.0 if isinstance(node.op, ast.USub) else 1.0
        return sign * slope, None if value is None else sign * value
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and len(node.args) == 1:
        slope, value = _linear_form(node.args[0], name)
        if node.func.id == 'I':
            return slope, value
        if slope:
            raise _NonLinear
        return 0.0, None
    if isinstance(node, ast.BinOp):
        (left, left_value), (right, right_value) = _linear_form(node.left, name), _linear_form(node.right, name)
        numbers = left_value is not None and right_value is not None
        if isinstance(node.op, (ast.Add, ast.Sub)):
            sign = 1.0 if isinstance(node.op, ast.Add) else -1.0
            value = left_value + sign * right_value if numbers else None  # type: ignore[operator]
            return left + sign * right, value
        if isinstance(node.op, ast.Mult):
            if left and right or left and right_value is None or right and left_value is None:
                raise _NonLinear
            value = left_value * right_value if numbers else None  # type: ignore[operator]
            return left * (right_value or 0.0) + right * (left_value or 0.0), value
        if isinstance(node.op, ast.Div):
            if right or left and not right_value:
                raise _NonLinear
            value = left_value / right_value if numbers and right_value else None  # type: ignore[operator]
            return left / right_value if left else 0.0, value  # type: ignore[operator]
        if left or right:  # powers of the variable, or the variable in an exponent
            raise _NonLinear
        return 0.0, left_value ** right_value if numbers else None  # type: ignore[operator]
    raise _NonLinear


def column_slope(label: str, name: str) -> Optional[float]:
    """d column / d name for a built column's label (`'prices'`, `'I(-prices)'`, `'I(2 * prices)'`): the constant
    slope a when the column is a name + (terms free of name), None when it does not involve name; refuses columns in
    which name enters non-linearly or times another column, whose derivatives would differ across products."""
    if label == '1':
        return None
    expression = _expression_labels([label])[0]
    try:
        slope, _ = _linear_form(ast.parse(expression, mode='eval'), name)
    except (SyntaxError, _NonLinear, ZeroDivisionError):
        if name in _names_in_quietly(expression):
            raise SpecificationError(f'{name!r} enters non-linearly ({label!r}); derivatives with respect to it are '
                                     f'not supported', parameter='name') from None
        return None
    if slope == 0 and name not in _names_in_quietly(expression):
        return None
    return slope


def _names_in_quietly(expression: str) -> set[str]:
    try:
        return {node.id for node in ast.walk(ast.parse(expression, mode='eval')) if isinstance(node, ast.Name)}
    except SyntaxError:
        return set()
