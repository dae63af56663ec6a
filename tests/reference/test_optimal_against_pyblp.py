"""Optimal instruments against PyBLP on identical data and agents (Nevo's RC, nested logit and RCNL): the
approximate instruments' re-estimate (estimates 1e-4, SEs 1e-3, objective 1e-6 or ~0), expected prices and
instruments (1e-8), and instruments from `normal` and `empirical` draws with a seed (NumPy's RandomState in PyBLP's
order: the same draws, so the same instruments)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from generate_optimal_fixtures import DRAWN, FIXTURES, OPTIMAL, generate, instrument_summary, re_estimate
from test_against_pyblp import assert_close
from workloads import summarize

from blp.exceptions import SpecificationError

INSTRUMENT_RTOL = 1e-8
# RCNL's estimates (BFGS, unbounded) agree with PyBLP's to about 1e-7, and instruments built at them inherit that.
INSTRUMENT_RTOL_AT = {'nevo_rcnl': 1e-6}
# Drawn instruments are compared where PyBLP's are exact. In nevo_nested_logit rho ends at its 0.99 bound, so a normal
# draw of xi leaves some products with within-nest shares near 1e-117: the exact d xi / d rho there is -log s_j|h
# (about 266, which we return), while PyBLP's implicit-function Jacobian underflows to about 1e-113.
DRAWN_COMPARED = ('nevo',)
_ours: dict[str, tuple] = {}


def ours(name: str) -> tuple:
    if name not in _ours:
        _ours[name] = re_estimate(name, 'blp')
    return _ours[name]


def assert_instruments_close(actual: dict, expected: dict, what: str, rtol: float = INSTRUMENT_RTOL) -> None:
    scale = np.array(expected['norms'])
    np.testing.assert_allclose(actual['norms'], scale, rtol=rtol, err_msg=f'{what}: column norms')
    np.testing.assert_allclose(np.array(actual['rows']) / scale, np.array(expected['rows']) / scale, rtol=0,
                               atol=rtol, err_msg=f'{what}: first rows')


def compare(name: str, reference: dict) -> None:
    results, instruments, updated = ours(name)
    assert_close(f'{name} with optimal instruments', summarize(updated, 0.0), reference)
    np.testing.assert_allclose(instruments.expected_prices[:, 0], reference['expected_prices'], rtol=1e-10)
    assert_instruments_close(instrument_summary(instruments), reference['approximate'], f'{name} approximate',
                             INSTRUMENT_RTOL_AT.get(name, INSTRUMENT_RTOL))
    if name not in DRAWN_COMPARED:
        return
    for method, draws, seed in DRAWN:
        drawn = results.compute_optimal_instruments(method=method, draws=draws, seed=seed)
        key = f'{method}-{draws}-{seed}'
        assert_instruments_close(instrument_summary(drawn), reference['drawn'][key], f'{name} {key}')


@pytest.mark.parametrize('name', OPTIMAL)
def test_optimal_instruments_match_stored_pyblp_numbers(name: str) -> None:
    compare(name, json.loads((FIXTURES / f'optimal_{name}.json').read_text()))


def test_re_estimating_uses_exogenous_characteristics_optimal_columns_and_expected_prices() -> None:
    results, instruments, updated = ours('nevo')
    problem = updated.problem
    assert problem.ZD_labels == [f'optimal[{label}]' for label in results.theta_labels] + ['expected[prices]']
    assert problem.MD == problem.K1 + len(results.theta_labels)  # just identified, as PyBLP
    assert updated.objective < 1e-10


def test_bad_arguments_name_the_parameter() -> None:
    results = ours('nevo_nested_logit')[0]
    for arguments, parameter in (({'method': 'exact'}, 'method'), ({'method': 'normal', 'draws': 0}, 'draws'),
                                 ({'expected_prices': [1.0, 2.0]}, 'expected_prices')):
        with pytest.raises(SpecificationError) as error:
            results.compute_optimal_instruments(**arguments)
        assert error.value.parameter == parameter


@pytest.mark.live
@pytest.mark.parametrize('name', OPTIMAL)
def test_optimal_instruments_match_pyblp_run_now(name: str) -> None:
    live = generate(name)
    compare(name, live)
    stored = json.loads((FIXTURES / f'optimal_{name}.json').read_text())
    assert_close(f'{name} (stored fixture vs live PyBLP)', stored, live)
