"""`blp_client.build_spec` gives the spec the API accepts from PyBLP's arguments: `rc_types`, `epsilon_scale` and
`costs_type` go to the problem (PyBLP's `Problem` arguments), the rest to `solve`; a `blp.Integration` becomes the
spec's integration with its seed; NaN (concentrate out) and infinite bounds become null; and the built problem is the
one `blp.Problem(...)` builds from the same arguments."""

from __future__ import annotations

import numpy as np
import pytest

import blp
from blp.spec import EstimateSpec, solve_options
from blp_client import build_spec
from examples import cereal

FORMULATIONS = (blp.Formulation('1 + prices + mushy'), blp.Formulation('0 + I(-prices)'),
                blp.Formulation('1 + mushy'))


def test_problem_arguments_go_to_the_problem_and_the_api_accepts_them():
    spec = build_spec(FORMULATIONS, agent_formulation=blp.Formulation('1 + income'),
                      integration=blp.Integration('halton', 50, {'seed': 3}), rc_types=np.array(['log']),
                      epsilon_scale=np.float64(1.5), costs_type='log', sigma=np.array([[0.5]]), pi=[[-1.0, 0.1]],
                      beta=[np.nan, -1.0, np.nan], gamma=[np.nan, 0.2], gamma_bounds=([-np.inf, 0], [np.inf, 1]),
                      method='1s', optimization=blp.Optimization('l-bfgs-b', {'gtol': 1e-8}))
    problem, solve = spec['problem'], spec['solve']
    assert problem['rc_types'] == ['log'] and problem['epsilon_scale'] == 1.5 and problem['costs_type'] == 'log'
    assert problem['integration'] == {'specification': 'halton', 'size': 50, 'seed': 3}
    assert not {'rc_types', 'epsilon_scale', 'costs_type'} & set(solve)
    assert solve['beta'] == [None, -1.0, None] and solve['gamma'] == [None, 0.2]
    assert solve['gamma_bounds'] == [[None, 0], [None, 1]]
    parsed = EstimateSpec.model_validate(spec)  # what the API validates a job's spec with
    assert parsed.problem.rc_types == ['log'] and parsed.problem.epsilon_scale == 1.5
    assert parsed.problem.costs_type == 'log' and parsed.solve.gamma == [None, 0.2]
    options = solve_options(parsed.solve)
    assert options.gamma == [None, 0.2] and options.gamma_bounds == ([-np.inf, 0], [np.inf, 1])


def test_the_spec_builds_the_problem_blp_builds_from_the_same_arguments():
    products, agents = cereal.product_data(), cereal.agent_data(5)
    arguments = dict(rc_types=['log'], epsilon_scale=2.0, costs_type='log')
    spec = EstimateSpec.model_validate(build_spec(FORMULATIONS[:2], blp.Formulation('0 + log_income'), **arguments))
    built = blp.Problem.from_spec(spec.problem, products, agents)
    direct = blp.Problem(FORMULATIONS[:2], products, blp.Formulation('0 + log_income'), agents, **arguments)
    assert built.epsilon_scale == direct.epsilon_scale == 2.0
    assert built.costs_type == direct.costs_type == 'log'
    assert list(built.model.log_columns) == list(direct.model.log_columns) == [True]


def test_integration_options_the_spec_cannot_carry_are_refused():
    with pytest.raises(ValueError, match='discard'):
        build_spec(FORMULATIONS, integration=blp.Integration('halton', 50, {'seed': 1, 'discard': 10}))
