"""PyBLP's printed layout: numbers in scientific notation with `options.digits` significant digits, options as
`{name: value}`, and fixed-width tables (a title, a rule of `=`, centred headers over a rule of dashes, centred
rows, a closing rule of `=`). Plain Python: the configurations that print through it are imported by `blp.spec`,
which loads no numerics."""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

from blp import options

SEPARATOR = '  '
SECTION_SEPARATOR = '  |  '


def format_number(value: Any) -> str:
    """A number as PyBLP prints it: sign, `options.digits` significant digits, exponent (`+1.5E+02`); NaN and
    infinities centred in the same width."""
    digits = int(options.digits)
    number = float(value)
    if math.isfinite(number):
        return f'{number:+.{max(digits - 1, 0)}E}'
    text = 'NAN' if math.isnan(number) else f'{"+" if number > 0 else "-"}INF'
    return f'{text:^{digits + 6}}'


def clock(seconds: float) -> str:
    """Seconds as PyBLP's clock, `HH:MM:SS`."""
    whole = int(round(seconds))
    return f'{whole // 3600:02d}:{whole // 60 % 60:02d}:{whole % 60:02d}'


def format_se(value: Any) -> str:
    """A standard error as PyBLP prints it, in parentheses."""
    return f'({format_number(value)})'


def format_option(value: Any) -> str:
    """One option's value: floats as numbers, callables by their qualified name, the rest as `str`."""
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return str(value)
    if isinstance(value, float):
        return format_number(value)
    if callable(value):
        return f"{getattr(value, '__module__', None) or ''}.{getattr(value, '__qualname__', type(value).__name__)}" \
            .lstrip('.')
    return str(value)


def format_options(values: Mapping[str, Any]) -> str:
    """Options as PyBLP prints them: `{gtol: +1.0E-04, max_evaluations: 5000}`."""
    return '{' + ', '.join(f'{name}: {format_option(value)}' for name, value in values.items()) + '}'


def _centred(cells: Sequence[str], widths: Sequence[int]) -> str:
    return SEPARATOR.join(f'{cell:^{width}}' for cell, width in zip(cells, widths))


def section(headers: Sequence[Sequence[str]], rows: Sequence[Sequence[str]]) -> list[str]:
    """A table's body without its title and `=` rules: header lines, the rule of dashes, the rows. Each column is as
    wide as its widest header line or cell; headers are given per column as lines (fewer lines are padded below)."""
    depth = max((len(lines) for lines in headers), default=0)
    columns = [list(lines) + [''] * (depth - len(lines)) for lines in headers]
    widths = [max([len(line) for line in lines] + [len(row[index]) for row in rows]) for index, lines in
              enumerate(columns)]
    header_lines = [_centred([lines[line] for lines in columns], widths) for line in range(depth)]
    return header_lines + [SEPARATOR.join('-' * width for width in widths)] + [_centred(row, widths) for row in rows]


def side_by_side(sections: Sequence[list[str]]) -> list[str]:
    """Sections of the same number of lines printed next to each other, separated by `|`."""
    widths = [max(len(line) for line in lines) for lines in sections]
    return [SECTION_SEPARATOR.join(f'{line:<{width}}' for line, width in zip(lines, widths))
            for lines in zip(*sections)]


def table(title: str, body: list[str]) -> str:
    """A titled table: `title:`, a rule of `=` as wide as the body, the body, the rule again."""
    rule = '=' * max((len(line) for line in body), default=0)
    return '\n'.join([f'{title}:', rule, *body, rule])


def simple_table(title: str, headers: Sequence[Sequence[str]], rows: Sequence[Sequence[str]]) -> str:
    """A titled table of columns with the given header lines and rows."""
    return table(title, section(headers, rows))


def statistics_table(title: str, columns: Sequence[tuple[Sequence[str], Any]]) -> str:
    """A titled one-row table of statistics: (header lines, value) per column."""
    return simple_table(title, [headers for headers, _ in columns], [[str(value) for _, value in columns]])
