"""`results.to_dict()` is PyBLP's (issue 24): its 75 keys, each value of its type and shape and, for what is not a
time or a count of the contraction's work, its value at the project's tolerances; against PyBLP 1.3.0 live on Nevo's
cereal data in 20 markets, two GMM steps at fixed parameters (PyBLP's 'return'), with a supply
side and with nests (one rho): a few seconds."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import blp

pyblp = pytest.importorskip('pyblp')
from test_results_api_against_pyblp import nevo  # noqa: E402 - Nevo in 20 markets at fixed parameters

TIMES = {'optimization_time', 'cumulative_optimization_time', 'total_time', 'cumulative_total_time'}
# our contraction (SQUAREM) takes its own number of steps; PyBLP's counts are compared in shape and type only
COUNTS = {'fp_iterations', 'cumulative_fp_iterations', 'contraction_evaluations', 'cumulative_contraction_evaluations',
          'computation_time'}


@pytest.fixture(scope='module', params=['demand', 'supply', 'nested'])
def dictionaries(request: pytest.FixtureRequest) -> dict[Any, dict]:
    return {library: nevo(library, supply=request.param == 'supply', nested=request.param == 'nested',
                          method='2s').to_dict() for library in (blp, pyblp)}


def assert_same(name: str, ours: Any, theirs: Any) -> None:
    if isinstance(theirs, tuple):
        assert isinstance(ours, tuple) and len(ours) == len(theirs), name
        for mine, their in zip(ours, theirs):
            assert_same(name, mine, their)
        return
    if isinstance(theirs, list):
        assert isinstance(ours, list) and [str(value) for value in ours] == [str(value) for value in theirs], name
        return
    assert isinstance(ours, type(theirs)) or isinstance(theirs, type(ours)), (name, type(ours), type(theirs))
    if isinstance(theirs, np.ndarray):
        assert ours.shape == theirs.shape and ours.dtype == theirs.dtype, (name, ours.shape, theirs.shape)
    if name in TIMES or name in COUNTS:
        return
    tolerance = 1e-3 if name.endswith('_se') or 'covariances' in name or name == 'parameter_sensitivity' else 1e-6
    theirs = np.asarray(theirs, dtype=float)
    # both Hessians are finite differences: their entries agree relative to the largest (PyBLP's and ours)
    scale = np.abs(theirs[np.isfinite(theirs)]).max(initial=0) if 'hessian' in name else 0.0
    np.testing.assert_allclose(np.asarray(ours, dtype=float), theirs, rtol=tolerance, atol=1e-10 + 1e-4 * scale,
                               err_msg=name)


def test_every_key_of_pyblps_to_dict_with_its_type_and_value(dictionaries: dict) -> None:
    ours, theirs = dictionaries[blp], dictionaries[pyblp]
    assert list(ours) == list(theirs) and len(theirs) == 75
    for name, value in theirs.items():
        assert_same(name, ours[name], value)


def test_attributes_selects_keys_and_the_json_document_stays() -> None:
    results = nevo(blp, method='2s')
    assert list(results.to_dict(['beta', 'step'])) == ['beta', 'step']
    assert results.to_document()['parameters'][0]['row'] == 'prices'


@pytest.mark.parametrize('supply', [False, True], ids=['demand', 'supply'])
def test_bootstrap_and_optimal_instruments_to_dict_are_pyblps(supply: bool) -> None:
    """Their keys, types and shapes, and values but for times and the equilibria's iteration counts. The bootstrap
    without a supply side only: with one, at these fixed parameters (not an estimate) PyBLP's equilibria of the drawn
    costs take it 16 s a draw (`test_bootstrap_supply_against_pyblp.py` checks them on an estimate)."""
    solved = {library: nevo(library, supply=supply) for library in (blp, pyblp)}
    computations = [lambda results: results.compute_optimal_instruments(seed=0)]
    if not supply:
        computations.append(lambda results: results.bootstrap(draws=3, seed=0))
    for compute in computations:
        ours, theirs = (compute(solved[library]).to_dict() for library in (blp, pyblp))
        assert list(ours) == list(theirs)
        for name, value in theirs.items():
            assert_same(name, ours[name], value)


def test_importance_sampling_to_dict_is_pyblps() -> None:
    """Its keys in PyBLP's order and the diagnostics' types, shapes and values; the sampled agents are agent data
    here (a DataFrame, PyBLP's an `Agents` record array) with PyBLP's markets, weights and nodes for the seed."""
    ours, theirs = (nevo(library).importance_sampling(draws=5, seed=0).to_dict() for library in (blp, pyblp))
    assert list(ours) == list(theirs)
    for name, value in theirs.items():
        if name == 'diagnostic_market_ids':
            assert ours[name].shape == value.shape and ours[name].astype(str).tolist() == value.astype(str).tolist()
        elif name != 'sampled_agents':
            assert_same(name, ours[name], value)
    agents, sampled = theirs['sampled_agents'], ours['sampled_agents']
    assert sampled['market_ids'].astype(str).tolist() == [str(market) for market in agents.market_ids[:, 0]]
    np.testing.assert_allclose(sampled['weights'].to_numpy(), agents.weights[:, 0], rtol=1e-10)
    np.testing.assert_array_equal(sampled[[f'nodes{k}' for k in range(3)]].to_numpy(), agents.nodes)
