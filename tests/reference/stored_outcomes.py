"""PyBLP's outcomes of a workload module stored as `fixtures/<prefix>_<name>.npz`: written by a generator script,
read by the tests, and compared with a live re-run of PyBLP (`make test-live`)."""

from __future__ import annotations

import sys
from typing import Any, Callable

import numpy as np
from workloads import ROOT

FIXTURES = ROOT / 'tests' / 'reference' / 'fixtures'
Outcomes = Callable[[Any, str], dict[str, np.ndarray]]


def generate(outcomes: Outcomes, name: str) -> dict[str, np.ndarray]:
    """The workload's outcomes in PyBLP now, with its version."""
    import pyblp
    return {**outcomes(pyblp, name), 'pyblp_version': np.array(pyblp.__version__)}


def write(prefix: str, outcomes: Outcomes, workloads: Any) -> None:
    """The generator's main: the workloads named on the command line (default: all) written as fixtures."""
    FIXTURES.mkdir(exist_ok=True)
    for name in sys.argv[1:] or workloads:
        np.savez_compressed(FIXTURES / f'{prefix}_{name}.npz', **generate(outcomes, name))
        print(f'{name}: written', flush=True)


def stored(prefix: str, name: str, generator: str) -> dict[str, np.ndarray]:
    path = FIXTURES / f'{prefix}_{name}.npz'
    assert path.exists(), f'missing fixture {path}: run tests/reference/{generator}'
    with np.load(path) as arrays:
        return dict(arrays)


def assert_live_equals_stored(live: dict[str, np.ndarray], reference: dict[str, np.ndarray], name: str) -> None:
    """PyBLP run now gives the stored numbers (1e-8 relative, 1e-12 absolute)."""
    assert set(live) == set(reference)
    for key, value in live.items():
        if key != 'pyblp_version':
            np.testing.assert_allclose(value, reference[key], rtol=1e-8, atol=1e-12, equal_nan=True,
                                       err_msg=f'{name}: {key} (stored fixture vs live PyBLP)')
