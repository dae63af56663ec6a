"""BLP demand estimation: a numpy/scipy core that matches PyBLP's estimates.

Attributes load lazily so that `import blp.spec` (the wire format) stays light for the API process.
"""

from importlib import import_module
from typing import Any

__version__ = '0.1.0'

_EXPORTS = {
    'Problem': 'blp.problem',
    'ProblemResults': 'blp.results',
    'Formulation': 'blp.formulation',
    'Integration': 'blp.integration',
    'Optimization': 'blp.options',
    'Iteration': 'blp.options',
    'MicroDataset': 'blp.micro',
    'MicroPart': 'blp.micro',
    'MicroMoment': 'blp.micro',
    'BLPError': 'blp.exceptions',
    'DataError': 'blp.exceptions',
    'SpecificationError': 'blp.exceptions',
    'NumericalError': 'blp.exceptions',
    'Cancelled': 'blp.exceptions',
    'build_blp_instruments': 'blp.instruments',
    'build_differentiation_instruments': 'blp.instruments',
}

__all__ = sorted(_EXPORTS) + ['__version__']


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'blp' has no attribute {name!r}")
