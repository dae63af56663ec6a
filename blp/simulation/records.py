"""Data frames as PyBLP's record arrays: every field N x K (K = 1 for a column; numbered columns such as `nodes0..`
or `demand_instruments0..` one N x K field), ids kept as objects."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from blp.primitives.columns import numbered_columns

MATRIX_FIELDS = ('nodes', 'demand_instruments', 'supply_instruments', 'ownership', 'availability')


def to_records(frame: pd.DataFrame) -> np.recarray:
    """`frame` as a record array in its column order, numbered columns of PyBLP's matrix fields gathered."""
    fields: dict[str, np.ndarray] = {}
    gathered = {prefix: numbered_columns(frame, prefix) for prefix in MATRIX_FIELDS}
    for column in frame.columns:
        prefix = re.sub(r'\d+$', '', str(column))
        if prefix in gathered and column in gathered[prefix]:
            if prefix not in fields:
                fields[prefix] = frame[gathered[prefix]].to_numpy()
            continue
        fields[str(column)] = frame[column].to_numpy()[:, None]
    arrays = [values if values.dtype.kind in 'biuf' else values.astype(object) for values in fields.values()]
    dtype = [(name, values.dtype, (values.shape[1],)) for name, values in zip(fields, arrays)]
    return np.rec.fromarrays(arrays, dtype=dtype)
