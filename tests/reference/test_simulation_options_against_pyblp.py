"""`blp.Simulation` with the options PyBLP 1.3 accepts beyond the first port, against PyBLP's numbers stored by
`generate_simulation_option_fixtures.py`: a scaled logit error (`epsilon_scale`: equilibrium, `replace_exogenous`,
elasticities, markups, profit gradients and Hessians, also with a lognormal coefficient and on markets of unequal
sizes, consumer surplus as PyBLP computes it) and profit Hessians with nests (nested logit, RCNL, also on markets of
unequal sizes); an economy at scale e is also checked against PyBLP's at scale 1 with utilities divided by e. Fixed
effects: PyBLP refuses them in simulations, and so do we. The `live` test re-runs PyBLP and compares with the stored numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from simulation_option_workloads import NOT_COMPARED, WORKLOADS, demographics, ids, nested, outcomes, simulate
from stored_outcomes import assert_live_equals_stored, generate
from stored_outcomes import stored as stored_outcomes

import blp


def stored(name: str) -> dict[str, np.ndarray]:
    return stored_outcomes('simulation', name, 'generate_simulation_option_fixtures.py')


@pytest.mark.parametrize('name', sorted(WORKLOADS))
def test_simulation_outcomes_equal_pyblps(name: str) -> None:
    reference, ours = stored(name), outcomes(blp, name)
    compared = set(reference) - {'pyblp_version', *NOT_COMPARED.get(name, ())}
    assert compared <= set(ours), sorted(compared - set(ours))
    if 'profit_hessians' in compared:  # PyBLP computed them: none is missing from the comparison
        assert reference['profit_hessians'].size and ours['profit_hessians'].size == reference['profit_hessians'].size
    for key in sorted(compared):
        if key == 'fp_iterations':
            np.testing.assert_array_equal(ours[key], reference[key], err_msg=f'{name}: {key}')
        else:
            np.testing.assert_allclose(ours[key], reference[key], rtol=1e-8, atol=1e-10, equal_nan=True,
                                       err_msg=f'{name}: {key}')


def test_epsilon_scale_moves_the_equilibrium() -> None:
    """The scale is not ignored: at e = 2 the prices differ from e = 1's (and PyBLP's stored prices are e = 2's)."""
    scaled = stored('scale_demographics')['endogenous_prices']
    plain = simulate(blp, demographics(blp, 1.0)).replace_endogenous()
    assert np.abs(np.asarray(plain.product_data['prices'], dtype=float).ravel() - scaled).max() > 1e-3


def test_epsilon_scale_is_refused_where_pyblp_refuses_it() -> None:
    for value in (0, -1.0, float('nan')):
        with pytest.raises(blp.SpecificationError, match='positive') as error:
            simulate(blp, demographics(blp, value))
        assert error.value.parameter == 'epsilon_scale'
    with pytest.raises(blp.SpecificationError, match='nesting groups') as error:
        simulate(blp, {**nested(blp), 'epsilon_scale': 0.5})
    assert error.value.parameter == 'epsilon_scale'
    results = simulate(blp, demographics(blp, 2.0)).replace_endogenous()
    assert results.to_problem().epsilon_scale == 2 and results.to_problem(epsilon_scale=1).epsilon_scale == 1


def test_fixed_effects_are_refused_as_pyblp_refuses_them() -> None:
    pyblp = pytest.importorskip('pyblp')
    data = ids(4, 6, 3)
    for library in (pyblp, blp):
        arguments = dict(product_formulations=(library.Formulation('1 + prices + x', absorb='C(firm_ids)'),),
                         beta=[1, -2, 2], xi=np.zeros(24), product_data=data)
        with pytest.raises((ValueError, blp.SpecificationError), match='absor') as error:
            simulate(library, arguments)
        if library is blp:
            assert error.value.parameter == 'product_formulations[0]'


@pytest.mark.live
@pytest.mark.parametrize('name', sorted(WORKLOADS))
def test_stored_simulation_fixtures_match_pyblp_run_now(name: str) -> None:
    assert_live_equals_stored(generate(outcomes, name), stored(name), name)


def test_ids_follow_pyblps_build_id_data() -> None:
    pyblp = pytest.importorskip('pyblp')
    built = pyblp.build_id_data(T=12, J=6, F=3)
    pd.testing.assert_frame_equal(ids(12, 6, 3), pd.DataFrame({'market_ids': built.market_ids[:, 0],
                                                                'firm_ids': built.firm_ids[:, 0]}), check_dtype=False)
