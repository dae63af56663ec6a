"""Regenerate PyBLP's instrument matrices: `python tests/reference/generate_instrument_fixtures.py`.

Writes `fixtures/instruments.json`: a small product dataset with markets of unequal size, rows not grouped by
market and a discrete characteristic (stored, so the test does not depend on a random generator's stream), and
PyBLP's `build_blp_instruments` / `build_differentiation_instruments` on it for every case in `CASES`.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

for variable in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ.setdefault(variable, '1')

FIXTURE = Path(__file__).resolve().parent / 'fixtures' / 'instruments.json'
# (name, builder, formula, version, interact)
CASES = [
    ('blp_constant', 'blp', '1 + x + y', None, False),
    ('blp_interaction', 'blp', '0 + x + z + I(x * y)', None, False),
    ('local', 'differentiation', '0 + x + y + z', 'local', False),
    ('local_interact', 'differentiation', '0 + x + y + z', 'local', True),
    ('quadratic', 'differentiation', '0 + x + y + z', 'quadratic', False),
    ('quadratic_interact', 'differentiation', '0 + x + y + z', 'quadratic', True),
]


def product_data(seed: int = 12) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 40, 25)
    market_ids = np.repeat([f'm{t:02d}' for t in range(sizes.size)], sizes)
    N = market_ids.size
    frame = pd.DataFrame({
        'market_ids': market_ids,
        'firm_ids': rng.integers(0, 5, N),
        'x': rng.normal(size=N),
        'y': rng.lognormal(size=N),
        'z': rng.integers(0, 4, N).astype(float),
    })
    return frame.iloc[rng.permutation(N)].reset_index(drop=True)


def pyblp_instruments(frame: pd.DataFrame, builder: str, formula: str, version: str | None,
                      interact: bool) -> np.ndarray:
    import pyblp
    if builder == 'blp':
        return pyblp.build_blp_instruments(pyblp.Formulation(formula), frame)
    return pyblp.build_differentiation_instruments(pyblp.Formulation(formula), frame, version, interact)


def main() -> None:
    import pyblp
    frame = product_data()
    document = {
        'pyblp_version': pyblp.__version__,
        'product_data': {column: frame[column].tolist() for column in frame.columns},
        'cases': {name: {'builder': builder, 'formula': formula, 'version': version, 'interact': interact,
                         'matrix': pyblp_instruments(frame, builder, formula, version, interact).tolist()}
                  for name, builder, formula, version, interact in CASES},
    }
    FIXTURE.write_text(json.dumps(document) + '\n')
    print(f'wrote {FIXTURE} ({frame.shape[0]} products, {len(CASES)} cases)', file=sys.stderr)


if __name__ == '__main__':
    main()
