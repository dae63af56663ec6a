"""PyBLP's pickle round trip (`results.to_pickle(path)`, `blp.read_pickle(path)`): published code saves results this
way between scripts; the service stores results as JSON instead (`ProblemResults.to_document`)."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any, Union


def to_pickle(value: Any, path: Union[str, Path]) -> None:
    """Save `value` to `path` as a pickle."""
    with open(path, 'wb') as handle:
        pickle.dump(value, handle)


class Pickled:
    """Mixed into every results class: PyBLP's `to_pickle(path)`."""

    def to_pickle(self, path: Union[str, Path]) -> None:
        """Save these results as a pickle, as PyBLP's; `blp.read_pickle(path)` reads them back."""
        to_pickle(self, path)


def read_pickle(path: Union[str, Path]) -> Any:
    """The object pickled at `path` (only read pickles you trust: unpickling runs code)."""
    with open(path, 'rb') as handle:
        return pickle.load(handle)
