"""Passthrough, micro values and importance sampling against PyBLP at the same theta (`generate_sampling_fixtures.py`).

- `compute_passthrough` (observed ownership, a merger's, one market): 1e-6 relative in RC, nested logit, RCNL,
  lognormal and supply-side workloads, NaN padding in the same places.
- `compute_micro_values`: exercise 3's moments and two it was not matched to, 1e-6.
- `importance_sampling`: the same seed samples the same agents (market ids, nodes and demographics exactly, weights
  and diagnostics 1e-10), and `to_problem()` at the same theta gives PyBLP's objective, beta and micro values (1e-6).
  The summary prints PyBLP's table.

blp runs at the theta the fixtures ran PyBLP at; the `live` tests run PyBLP now and compare against that as well.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from generate_sampling_fixtures import (
    FIXTURES,
    MICRO_WORKLOAD,
    PASSTHROUGH,
    SAMPLING,
    generate,
    micro_theta,
    micro_value_outputs,
    passthrough_outputs,
    passthrough_theta,
    passthrough_workload,
    problem_at,
    sampling_outputs,
)
from micro_workloads import MICRO_WORKLOADS
from test_postestimation_against_pyblp import assert_match
from workloads import WORKLOADS, cereal

import blp

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'port'))
from notebook_port import agree, numbers  # noqa: E402 - the port's number comparison, after its path

RTOL = 1e-6
_cache: dict[str, Any] = {}


def stored(case: str) -> dict[str, np.ndarray]:
    path = FIXTURES / f'sampling_{case}.npz'
    assert path.exists(), f'missing fixture {path}: run tests/reference/generate_sampling_fixtures.py'
    with np.load(path) as arrays:
        return dict(arrays)


def micro_results() -> Any:
    if 'micro' not in _cache:
        _cache['micro'] = problem_at(blp, MICRO_WORKLOADS[MICRO_WORKLOAD](), micro_theta())
    return _cache['micro']


def ours(case: str) -> Any:
    """Our outputs of a case (and for importance sampling the results), computed once per session."""
    if case not in _cache:
        if case.startswith('passthrough_'):
            name = case.removeprefix('passthrough_')
            workload = passthrough_workload(name)
            results = problem_at(blp, workload, passthrough_theta(name))
            _cache[case] = None, passthrough_outputs(results, workload['products'], PASSTHROUGH[name])
        elif case == 'micro_values':
            _cache[case] = None, micro_value_outputs(micro_results(), blp)
        else:
            _cache[case] = sampling_outputs(micro_results(), blp, SAMPLING[case.removeprefix('importance_')])
    return _cache[case]


def compare(case: str, reference: dict[str, np.ndarray]) -> None:
    _, outputs = ours(case)
    for key, value in outputs.items():
        if value.dtype.kind in 'US':
            assert list(value) == list(reference[key]), f'{case}: {key}'
        else:
            exact = key in ('nodes', 'log_income')
            rtol = 1e-10 if key in ('weights', 'weight_sums') or key.startswith('effective') else RTOL
            if exact:
                np.testing.assert_array_equal(value, reference[key], err_msg=f'{case}: {key}')
            else:
                assert_match(value, reference[key], f'{case}: {key}', rtol)


@pytest.mark.parametrize('name', sorted(PASSTHROUGH))
def test_passthrough_matches_stored_pyblp_numbers(name: str) -> None:
    compare(f'passthrough_{name}', stored(f'passthrough_{name}'))


def test_passthrough_is_the_derivative_of_equilibrium_prices() -> None:
    """dp/dc by differences of `compute_prices` after a small cost change (a check independent of PyBLP)."""
    name = 'nevo'
    results = problem_at(blp, WORKLOADS[name](), passthrough_theta(name))
    market = PASSTHROUGH[name]['market']
    upsilon = results.compute_passthrough(market_id=market)
    costs = results.compute_costs(market_id=market)[:, 0]
    iteration = blp.Iteration('simple', {'atol': 1e-14, 'max_evaluations': 100000})
    k, step = 3, 1e-6
    moved = [results.compute_prices(costs=costs + sign * step * np.eye(costs.size)[k], market_id=market,
                                    iteration=iteration)[:, 0] for sign in (1, -1)]
    np.testing.assert_allclose((moved[0] - moved[1]) / (2 * step), upsilon[:, k], rtol=1e-5, atol=1e-8)


def test_micro_values_match_stored_pyblp_numbers() -> None:
    compare('micro_values', stored('micro_values'))


def test_micro_values_of_the_estimated_moments_are_the_fitted_ones() -> None:
    results = problem_at(blp, MICRO_WORKLOADS[MICRO_WORKLOAD](), micro_theta(), micro=True)
    _, outputs = ours('micro_values')
    np.testing.assert_allclose(outputs['exercise_micro_values'], results.micro_values[:, 0], rtol=1e-12)


@pytest.mark.parametrize('variant', sorted(SAMPLING))
def test_importance_sampling_matches_stored_pyblp_draws(variant: str) -> None:
    compare(f'importance_{variant}', stored(f'importance_{variant}'))


def assert_same_summary(ours_text: str, theirs: str) -> None:
    """The same table (header words, rules where PyBLP has them) with numbers agreeing to the port's tolerance;
    a number's printed width (a weight sum's last digits) may move the columns."""
    ours_lines, their_lines = ours_text.splitlines(), theirs.splitlines()
    assert len(ours_lines) == len(their_lines)
    for mine, other in zip(ours_lines, their_lines):
        if set(other) <= {'=', '-', ' '}:
            assert set(mine) == set(other)
        elif not any(character.isdigit() for character in other):
            assert mine.split() == other.split()
    ours_numbers, their_numbers = numbers(ours_text), numbers(theirs)
    assert len(ours_numbers) == len(their_numbers)
    assert all(agree(a, b) for a, b in zip(ours_numbers, their_numbers)), (ours_numbers, their_numbers)


@pytest.mark.parametrize('variant', sorted(SAMPLING))
def test_importance_sampling_prints_pyblps_summary(variant: str) -> None:
    sampled, _ = ours(f'importance_{variant}')
    assert_same_summary(repr(sampled), str(stored(f'importance_{variant}')['summary']))


def test_importance_sampling_refuses_too_few_candidates() -> None:
    with pytest.raises(blp.SpecificationError, match='fewer than draws') as error:
        micro_results().importance_sampling(1001, seed=0)  # more than the 1000 agents of a market
    assert error.value.parameter == 'draws'


@pytest.mark.live
@pytest.mark.parametrize('case', [f'passthrough_{name}' for name in sorted(PASSTHROUGH)] + ['micro_values'] +
                         [f'importance_{variant}' for variant in sorted(SAMPLING)])
def test_sampling_matches_pyblp_run_now(case: str) -> None:
    live = generate(case)
    compare(case, live)
    reference = stored(case)
    for key, value in live.items():
        if key not in ('pyblp_version', 'summary'):
            if value.dtype.kind in 'US':
                assert list(value) == list(reference[key]), f'{case}: {key} (stored fixture vs live PyBLP)'
            else:  # PyBLP's own digits move with BLAS's threads: 1e-8 relative, or 1e-12 of the largest entry
                scale = float(np.nanmax(np.abs(reference[key]))) if reference[key].size else 0.0
                np.testing.assert_allclose(value, reference[key], rtol=1e-8, atol=1e-12 * scale,
                                           err_msg=f'{case}: {key} (stored fixture vs live PyBLP)')


@pytest.mark.parametrize('arguments, parameter', [
    (dict(draws=0), 'draws'), (dict(draws=2.5), 'draws'), (dict(draws=5, ar_constant=0.5), 'ar_constant'),
    (dict(draws=5, delta=[1.0, 2.0]), 'delta'),
])
def test_importance_sampling_refuses_bad_arguments_naming_them(arguments: dict, parameter: str) -> None:
    with pytest.raises(blp.SpecificationError) as error:
        micro_results().importance_sampling(**arguments)
    assert error.value.parameter == parameter


def test_micro_values_need_a_moment() -> None:
    with pytest.raises(blp.SpecificationError) as error:
        micro_results().compute_micro_values([])
    assert error.value.parameter == 'micro_moments'


def integration_only(library: Any) -> tuple[Any, Any]:
    """Importance sampling of a problem whose agents are Monte Carlo nodes (no agent data) from Monte Carlo candidates,
    and its re-created problem at the same sigma."""
    formulations = [library.Formulation('0 + prices', absorb='C(market_ids) + C(product_ids)'),
                    library.Formulation('0 + prices')]
    problem = library.Problem(formulations, cereal.product_data(), integration=library.Integration(
        'monte_carlo', 50, {'seed': 1}))
    solve = dict(sigma=[[2.0]], method='1s', optimization=library.Optimization('return'))
    sampled = problem.solve(**solve).importance_sampling(
        5, seed=2, integration=library.Integration('monte_carlo', 300, {'seed': 4}))
    return sampled, sampled.to_problem().solve(**solve)


@pytest.mark.live
def test_importance_sampling_from_integration_alone_matches_pyblp_run_now() -> None:
    import pyblp
    pyblp.options.verbose = False
    (ours_sampled, ours_updated), (their_sampled, their_updated) = integration_only(blp), integration_only(pyblp)
    agents = their_sampled.sampled_agents
    np.testing.assert_array_equal(ours_sampled.sampled_agents['nodes0'].to_numpy(), agents.nodes[:, 0])
    np.testing.assert_allclose(ours_sampled.sampled_agents['weights'].to_numpy(), agents.weights[:, 0], rtol=1e-10)
    np.testing.assert_allclose(ours_updated.objective, np.squeeze(their_updated.objective), rtol=1e-6)
    np.testing.assert_allclose(ours_updated.beta, their_updated.beta, rtol=1e-6)
