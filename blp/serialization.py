"""JSON-ready numbers: results travel as JSON, which has no NaN or infinity, so those become None."""

from __future__ import annotations

from typing import Any

import numpy as np


def jsonable(values: Any) -> Any:
    """A float, or nested lists of floats, with NaN and infinities (and None) as None."""
    if values is None:
        return None
    array = np.asarray(values, dtype=float)
    if array.ndim == 0:
        return float(array) if np.isfinite(array) else None
    objects = array.astype(object)
    objects[~np.isfinite(array)] = None
    return objects.tolist()
