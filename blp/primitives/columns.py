"""Numbered columns (`demand_instruments0..`, `supply_instruments0..`, `ownership0..`) and the rank check that
refuses a column made of the ones before it, shared by the demand and supply sides."""

from __future__ import annotations

import re
from typing import Optional

import numpy as np
import pandas as pd

from blp.exceptions import DataError


def _numbered(frame: pd.DataFrame, prefix: str) -> list[tuple[int, str]]:
    pattern = re.compile(rf'^{re.escape(prefix)}(\d+)$')
    return sorted((int(match.group(1)), column) for column in frame.columns
                  if isinstance(column, str) and (match := pattern.match(column)))


def numbered_columns(frame: pd.DataFrame, prefix: str) -> list[str]:
    """Columns named prefix0, prefix1, ... in numeric order."""
    return [column for _, column in _numbered(frame, prefix)]


def next_number(frame: pd.DataFrame, prefix: str) -> int:
    """The number a new prefix<n> column takes: one past the largest present (0 when there is none)."""
    found = _numbered(frame, prefix)
    return found[-1][0] + 1 if found else 0


def first_dependent(matrix: np.ndarray, scales: np.ndarray) -> Optional[int]:
    """Index of the first column that is (numerically) a combination of the columns before it, if any."""
    scaled = matrix / np.where(scales > 0, scales, 1.0)
    tolerance = max(matrix.shape) * np.finfo(float).eps * 1e3
    for index in range(scaled.shape[1]):
        if np.linalg.norm(scaled[:, index]) <= tolerance:
            return index
        if index and np.linalg.matrix_rank(scaled[:, :index + 1], tol=tolerance * np.sqrt(index + 1)) <= index:
            return index
    return None


def check_rank(absorbed: np.ndarray, raw: np.ndarray, labels: list[str], name: str, absorbs: bool) -> None:
    """Refuse a column that is a combination of the ones before it (after absorbing fixed effects), naming it."""
    dependent = first_dependent(absorbed, np.linalg.norm(raw, axis=0))
    if dependent is not None:
        with_fe = ' or with the absorbed fixed effects' if absorbs else ''
        raise DataError(f"{name} column {labels[dependent]!r} is collinear with the columns before it "
                        f"({', '.join(labels[:dependent]) or 'none'}){with_fe}", column=labels[dependent],
                        dataset='product_data')
