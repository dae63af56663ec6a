"""Errors the core raises on purpose: each names what is at fault so a caller can point the user at it."""

from __future__ import annotations

import warnings
from typing import Any, Optional


class BLPError(Exception):
    """Base class: everything the core raises deliberately."""

    def __init__(self, message: str, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        self.context = {key: value for key, value in context.items() if value is not None}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description: the message plus whatever names the fault (column, market, row, ...)."""
        return {'type': type(self).__name__, 'message': self.message, **self.context}


class DataError(BLPError, ValueError):
    """Product or agent data that cannot be estimated on, naming the column, market and row at fault."""

    def __init__(self, message: str, *, column: Optional[str] = None, market: Any = None, row: Optional[int] = None,
                 dataset: Optional[str] = None) -> None:
        super().__init__(message, dataset=dataset, column=column, market=None if market is None else str(market),
                         row=row)
        self.column, self.market, self.row, self.dataset = column, market, row, dataset


class SpecificationError(BLPError, ValueError):
    """A formulation, parameter matrix, bound or option that does not fit the problem, naming the parameter."""

    def __init__(self, message: str, *, parameter: Optional[str] = None) -> None:
        super().__init__(message, parameter=parameter)
        self.parameter = parameter


class NumericalError(BLPError):
    """The numerics failed (the inner loop diverged, a matrix was singular), naming the markets at fault."""

    def __init__(self, message: str, *, markets: Optional[list] = None) -> None:
        super().__init__(message, markets=None if markets is None else [str(m) for m in markets])
        self.markets = markets


class Cancelled(BLPError):
    """Raised from a progress callback to stop an estimate cooperatively."""


class BLPWarning(UserWarning):
    """What the core allows, as PyBLP does, but a user should know (collinear columns, an under-identified model,
    numbered columns left out); each is also kept in `problem.warnings` or `results.warnings`."""


def warn(message: Optional[str], recorded: list[str]) -> None:
    """Record a warning in `recorded` (a problem's or an estimate's list) and emit it as a Python warning, as PyBLP
    does through its output. None records nothing."""
    if message is None:
        return
    recorded.append(message)
    warnings.warn(message, BLPWarning, stacklevel=3)
