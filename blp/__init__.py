"""BLP demand estimation: a numpy/scipy core that matches PyBLP's estimates.

Attributes load lazily so that `import blp.spec` (the wire format) stays light for the API process.
"""

from importlib import import_module
from typing import Any

__version__ = '0.1.0'

_EXPORTS = {
    'Problem': 'blp.estimation.problem',
    'ProblemResults': 'blp.estimation.results',
    'Formulation': 'blp.configurations.formulation',
    'Integration': 'blp.configurations.integration',
    'Optimization': 'blp.configurations.solve_options',
    'Iteration': 'blp.configurations.solve_options',
    'MicroDataset': 'blp.micro.moments',
    'MicroPart': 'blp.micro.moments',
    'MicroMoment': 'blp.micro.moments',
    'BLPError': 'blp.exceptions',
    'BLPWarning': 'blp.exceptions',
    'DataError': 'blp.exceptions',
    'SpecificationError': 'blp.exceptions',
    'NumericalError': 'blp.exceptions',
    'Cancelled': 'blp.exceptions',
    'build_blp_instruments': 'blp.primitives.instruments',
    'Simulation': 'blp.simulation.simulation',
    'SimulationResults': 'blp.simulation.results',
    'ImportanceSamplingResults': 'blp.post.importance',
    'build_differentiation_instruments': 'blp.primitives.instruments',
    'build_id_data': 'blp.primitives.builders',
    'build_ownership': 'blp.primitives.builders',
    'build_matrix': 'blp.primitives.builders',
    'data_to_dict': 'blp.primitives.builders',
    'build_integration': 'blp.configurations.integration',
    'parallel': 'blp.configurations.parallel',
    'read_pickle': 'blp.pickling',
}

# Public submodules PyBLP users reach as attributes (`blp.data.NEVO_PRODUCTS_LOCATION`, `blp.options.digits = 2`).
_SUBMODULES = ('data', 'options')

__all__ = sorted(_EXPORTS) + list(_SUBMODULES) + ['__version__']


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    if name in _SUBMODULES:
        return import_module(f'blp.{name}')
    raise AttributeError(f"module 'blp' has no attribute {name!r}")
