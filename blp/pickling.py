"""PyBLP's pickle round trip (`results.to_pickle(path)`, `blp.read_pickle(path)`): published code saves results this
way between scripts; the service stores results as JSON instead (`ProblemResults.to_dict`)."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any, Union


def to_pickle(value: Any, path: Union[str, Path]) -> None:
    """Save `value` to `path` as a pickle."""
    with open(path, 'wb') as handle:
        pickle.dump(value, handle)


def read_pickle(path: Union[str, Path]) -> Any:
    """The object pickled at `path` (only read pickles you trust: unpickling runs code)."""
    with open(path, 'rb') as handle:
        return pickle.load(handle)
