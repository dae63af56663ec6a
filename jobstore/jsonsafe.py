"""JSON that always encodes: what the job store writes, and what the API streams from it.

JSON has no NaN or infinity, so a non-finite number would make the encoder fail (and a job end with a 500 instead
of its result). `finite` replaces them with None in any JSON-like value; `dumps` is the one compact encoding of the
store's values (job fields, results, fan-out rows). The core's `blp.serialization.jsonable` serves another purpose:
it turns its numpy arrays into nested lists for `to_dict` (the core may not import the store); what it returns
passes through `finite` unchanged.
"""

from __future__ import annotations

import json
import math
from typing import Any


def finite(value: Any) -> Any:
    """A copy of a JSON-like value with non-finite floats replaced by None, so it always encodes."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(key): finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(item) for item in value]
    if hasattr(value, 'tolist'):  # numpy arrays and scalars
        return finite(value.tolist())
    return value


def dumps(value: Any) -> str:
    """Compact JSON of `value` with non-finite numbers as null."""
    return json.dumps(finite(value), allow_nan=False, separators=(',', ':'))
