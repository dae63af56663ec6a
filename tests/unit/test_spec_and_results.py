"""The JSON form of a problem (blp.spec) builds the same estimate as the Python API, and results serialize."""

import json

import numpy as np
import pydantic
import pytest

import blp
import blp.spec
from blp.spec import EstimateSpec, solve_options

SPEC = {
    'problem': {
        'product_formulations': [{'formula': '0 + prices', 'absorb': 'C(market_ids) + C(product_ids)'},
                                 {'formula': '0 + mushy + prices'}],
        'agent_formulation': {'formula': '0 + log_income'},
    },
    'solve': {
        'sigma': [[0, 0], [0, 1]], 'pi': [[0.2], [1]], 'method': '1s',
        'optimization': {'method': 'l-bfgs-b', 'method_options': {'gtol': 1e-9}},
        'pi_bounds': [[[None], [-20]], [[None], [20]]],
    },
}


def test_spec_builds_the_same_estimate_as_the_python_api(products, agents):
    spec = EstimateSpec.model_validate(SPEC)
    from_spec = blp.Problem.from_spec(spec, products, agents).estimate(solve_options(spec.solve))
    direct = blp.Problem((blp.Formulation('0 + prices', absorb='C(market_ids) + C(product_ids)'),
                          blp.Formulation('0 + mushy + prices')), products, blp.Formulation('0 + log_income'),
                         agents).solve(sigma=[[0, 0], [0, 1]], pi=[[0.2], [1]], method='1s',
                                       pi_bounds=([[-np.inf], [-20]], [[np.inf], [20]]),
                                       optimization=blp.Optimization('l-bfgs-b', {'gtol': 1e-9}))
    np.testing.assert_allclose(from_spec.theta, direct.theta, rtol=1e-10)
    np.testing.assert_allclose(from_spec.beta, direct.beta, rtol=1e-10)


@pytest.mark.parametrize('change', [
    {'solve': {'sigma': [[0, 0], [0, float('nan')]]}},
    {'solve': {'method': '3s'}},
    {'solve': {'unknown': 1}},
    {'problem': {'product_formulations': []}},
    {'problem': {'product_formulations': [{'formula': ''}]}},
    {'solve': {'optimization': {'method': 'newton'}}},
])
def test_spec_refuses_bad_fields(change):
    spec = json.loads(json.dumps(SPEC))
    for section, values in change.items():
        spec[section].update(values)
    with pytest.raises(pydantic.ValidationError):
        EstimateSpec.model_validate(spec)


def test_pi_without_an_agent_formulation_is_refused_by_the_spec():
    spec = json.loads(json.dumps(SPEC))
    del spec['problem']['agent_formulation']
    with pytest.raises(pydantic.ValidationError, match='agent_formulation'):
        EstimateSpec.model_validate(spec)


def test_results_serialize_to_strict_json_and_restore_to_the_same_numbers(products, agents):
    spec = EstimateSpec.model_validate(SPEC)
    problem = blp.Problem.from_spec(spec, products, agents)
    results = problem.estimate(solve_options(spec.solve))
    payload = json.loads(json.dumps(results.to_document(), allow_nan=False))
    kinds = {(entry['kind'], entry['row'], entry['column']) for entry in payload['parameters']}
    assert ('sigma', 'prices', 'prices') in kinds and ('pi', 'mushy', 'log_income') in kinds
    assert ('beta', 'prices', None) in kinds
    assert payload['contraction_iterations'] == sum(payload['contraction_iterations_by_market'].values()) > 0
    restored = problem.restore(payload)
    np.testing.assert_allclose(restored.beta, results.beta, rtol=1e-10)
    np.testing.assert_allclose(restored.objective, results.objective, rtol=1e-8, atol=1e-14)
    np.testing.assert_allclose(restored.pi_se, results.pi_se, rtol=1e-6)


def test_progress_is_reported_each_iteration_and_can_cancel(products, agents):
    spec = EstimateSpec.model_validate(SPEC)
    problem = blp.Problem.from_spec(spec, products, agents)
    seen = []

    def progress(info):
        seen.append(info)
        if len(seen) == 3:
            raise blp.Cancelled('stop')

    with pytest.raises(blp.Cancelled):
        problem.estimate(solve_options(spec.solve), progress=progress)
    assert [info['iteration'] for info in seen] == [1, 2, 3]
    assert {'step', 'objective', 'gradient_norm', 'contraction_iterations', 'evaluations'} <= set(seen[0])


def test_restore_reproduces_clustered_two_step_standard_errors_without_recomputing_the_hessian(products, agents,
                                                                                             monkeypatch):
    data = products.assign(clustering_ids=products['product_ids'])
    problem = blp.Problem((blp.Formulation('0 + prices', absorb='C(market_ids) + C(product_ids)'),
                           blp.Formulation('0 + mushy')), data, blp.Formulation('0 + log_income'), agents)
    results = problem.solve(sigma=0, pi=1, method='2s', W_type='clustered', se_type='clustered')
    payload = json.loads(json.dumps(results.to_document(), allow_nan=False))

    from blp.estimation.estimator import Estimation

    def refuse(*_, **__):
        raise AssertionError('restore recomputed the Hessian')

    monkeypatch.setattr(Estimation, 'hessian', refuse)
    restored = problem.restore(payload)
    assert restored.step == 2
    np.testing.assert_allclose(restored.pi_se, results.pi_se, rtol=1e-8)
    np.testing.assert_allclose(restored.beta_se, results.beta_se, rtol=1e-8)
    np.testing.assert_allclose(restored.hessian_eigenvalues, results.hessian_eigenvalues, rtol=1e-12)


def test_a_problem_rebuilt_with_its_own_instruments_gives_the_same_estimate_and_other_ones_differ(products):
    problem = blp.Problem(blp.Formulation('0 + prices', absorb='C(market_ids) + C(product_ids)'), products)
    columns = [column for column in products.columns if column.startswith('demand_instruments')]
    same = problem.with_instruments(products[columns].to_numpy(), columns)
    assert same.ZD_labels == problem.ZD_labels
    first = problem.solve(method='1s')
    np.testing.assert_allclose(same.solve(method='1s').beta, first.beta, rtol=1e-10)
    fewer = problem.with_instruments(products[columns[:1]].to_numpy(), columns[:1])
    assert fewer.MD == 1 and problem.MD == len(columns)
    assert abs(fewer.solve(method='1s').beta[0, 0] - first.beta[0, 0]) > 1e-6
    with pytest.raises(blp.SpecificationError):
        problem.with_instruments(np.ones((3, 1)))
