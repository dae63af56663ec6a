"""What `blp` prints is what PyBLP prints (issue 24): configurations, problems and results, against PyBLP 1.3.0
printing the same objects now, at the default digits and at `options.digits = 2` (the tutorials' setting).

Configurations must print the same text. Problems and results are compared as PyBLP's documentation notebooks are
(tests/port): the same lines of the same tables, and their numbers to the port's tolerance, except the columns that
describe the run rather than the model (time, iteration and evaluation counts, the gradient norm where the optimizer
stopped)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

import blp

pyblp = pytest.importorskip('pyblp')
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'port'))
from notebook_port import agree, mask, numbers  # noqa: E402 - the port's number comparison, after its path

DIGITS = (7, 2)


@pytest.fixture(params=DIGITS, ids=lambda digits: f'digits={digits}')
def digits(request: pytest.FixtureRequest) -> Iterator[int]:
    saved = blp.options.digits, pyblp.options.digits, blp.options.verbose, pyblp.options.verbose
    blp.options.digits = pyblp.options.digits = request.param
    blp.options.verbose = pyblp.options.verbose = False
    yield request.param
    blp.options.digits, pyblp.options.digits, blp.options.verbose, pyblp.options.verbose = saved


CONFIGURATIONS: list[Callable[[Any], Any]] = [
    lambda library: library.Formulation('0 + prices + size'),
    lambda library: library.Formulation('size + I(size ** 2) + C(product) * C(year)'),
    lambda library: library.Formulation('size + I(size ** 2)', absorb='C(product) * C(year)'),
    lambda library: library.Formulation('year:(log(income) + C(education))'),
    lambda library: library.Formulation('prices', absorb='C(product_ids)'),
    lambda library: library.Optimization('l-bfgs-b', {'gtol': 1e-3}),
    lambda library: library.Optimization('bfgs', {'gtol': 1e-4}),
    lambda library: library.Optimization('trust-constr', {'gtol': 1e-10, 'maxiter': 100}),
    lambda library: library.Optimization('slsqp'),
    lambda library: library.Optimization('tnc'),
    lambda library: library.Optimization('cg'),
    lambda library: library.Optimization('return'),
    lambda library: library.Optimization('bfgs', compute_gradient=False),
    lambda library: library.Optimization('nelder-mead', compute_gradient=False),
    lambda library: library.Optimization('powell', compute_gradient=False),
    lambda library: library.Integration('product', 5),
    lambda library: library.Integration('grid', size=7),
]


@pytest.mark.parametrize('index', range(len(CONFIGURATIONS)))
def test_configurations_print_as_pyblps(index: int, digits: int) -> None:
    configuration = CONFIGURATIONS[index]
    assert repr(configuration(blp)) == repr(configuration(pyblp)) == str(configuration(blp))


@pytest.mark.parametrize('method, options', [('squarem', {}), ('simple', {'atol': 1e-12, 'max_evaluations': 100})])
def test_iterations_print_pyblps_options_but_the_norm_it_names_by_pyblps_function(method: str, options: dict,
                                                                                  digits: int) -> None:
    ours, theirs = repr(blp.Iteration(method, options)), repr(pyblp.Iteration(method, options))
    assert ours == theirs.replace(', norm: pyblp.configurations.iteration.infinity_norm', '')


def test_a_seeded_monte_carlo_integration_prints_its_seed(digits: int) -> None:
    ours = blp.Integration('monte_carlo', size=50, seed=0)
    assert repr(ours) == repr(pyblp.Integration('monte_carlo', size=50, specification_options={'seed': 0}))


def test_digits_change_what_is_printed() -> None:
    saved = blp.options.digits
    try:
        blp.options.digits = 3
        assert repr(blp.Optimization('bfgs', {'gtol': 1e-4})).endswith('{gtol: +1.00E-04}.')
        blp.options.digits = 5
        assert repr(blp.Optimization('bfgs', {'gtol': 1e-4})).endswith('{gtol: +1.0000E-04}.')
    finally:
        blp.options.digits = saved


def compare_printed(ours: str, theirs: str) -> None:
    """The same lines (masked columns blanked), and numbers that agree to the port's tolerance."""
    assert [line.rstrip() for line in NUMBERLESS(mask(ours))] == [line.rstrip() for line in NUMBERLESS(mask(theirs))]
    ours_numbers, their_numbers = numbers(ours), numbers(theirs)
    assert len(ours_numbers) == len(their_numbers)
    differing = [(a, b) for a, b in zip(ours_numbers, their_numbers) if not agree(a, b)]
    assert not differing, differing


def NUMBERLESS(text: str) -> list[str]:  # noqa: N802 - a constant-like helper of compare_printed
    """The text's lines with each number replaced by `#`: the layout, whatever the last digits."""
    import re
    return [re.sub(r'[-+]?\d+\.\d+E[-+]\d+|(?<![\w.])\d+(?![\w.])', '#', line) for line in text.split('\n')]
