"""Persistent unobservables (`phi` with `lag_indices`, innovations moments) against PyBLP 1.3.0 on the seeded panel
of `persistence_workloads.py`, demand alone and with a supply side (phi 2 x 2 with its cross terms): stored numbers
(`generate_persistence_fixtures.py`) in every run, a live re-run of PyBLP under `-m live`."""

from __future__ import annotations

import json

import numpy as np
import pytest
from persistence_workloads import FIXTURES, WORKLOADS, build, panel, run_pyblp, summary
from supply_workloads import frame_digest

import blp


def ours(name: str) -> dict:
    problem, solve = build(blp, name)
    return summary(problem.solve(**solve), 0.0)


def compare(name: str, reference: dict) -> None:
    mine = ours(name)
    assert mine['theta_labels'] == reference['theta_labels']
    assert mine['printed'] == reference['printed'] and len(mine['printed']) == (3 if 'supply' in name else 2)
    np.testing.assert_allclose(mine['objective'], reference['objective'], rtol=1e-6)
    for key in ('theta', 'beta', 'sigma', 'phi', 'gamma', 'xi', 'xi_jacobian', 'omega_jacobian', 'bootstrapped_phi'):
        np.testing.assert_allclose(mine[key], reference[key], rtol=1e-4, atol=1e-8, err_msg=key)
    for key in ('beta_se', 'sigma_se', 'phi_se', 'gamma_se'):
        np.testing.assert_allclose(mine[key], reference[key], rtol=1e-3, err_msg=key)


@pytest.mark.parametrize('name', sorted(WORKLOADS))
def test_persistent_unobservables_match_stored_pyblp(name: str) -> None:
    reference = json.loads((FIXTURES / f'{name}.json').read_text())
    assert frame_digest(panel()[0]) == reference['products_digest'], 'the panel is not the one PyBLP estimated on'
    compare(name, reference)


@pytest.mark.live
@pytest.mark.parametrize('name', sorted(WORKLOADS))
def test_persistent_unobservables_match_pyblp_live(name: str) -> None:
    compare(name, run_pyblp(name))


# Lists of (type, instruments) that PyBLP 1.3.0 refuses for the demand side of `persistence_moment_types` (7
# demand instruments): a list as a pair, a wrong type, a count out of range or not an integer, duplicate types,
# counts not summing to MD.
BAD_MOMENT_TYPES = {
    'a list, not a tuple': [['levels', 7]],
    'unknown type': [('levels', 1), ('first_differences', 6)],
    'negative count': [('levels', -1), ('innovations', 8)],
    'count above MD': [('levels', 8)],
    'count not an integer': [('levels', 1.0), ('innovations', 6)],
    'duplicate types': [('innovations', 3), ('innovations', 4)],
    'counts not summing to MD': [('levels', 1), ('innovations', 3)],
    'neither a string nor a list': 3,
}


@pytest.mark.parametrize('case', sorted(BAD_MOMENT_TYPES))
def test_lists_of_moment_types_pyblp_refuses_are_refused_naming_the_option(case: str) -> None:
    import pyblp
    pyblp.options.verbose = False
    value = BAD_MOMENT_TYPES[case]
    theirs, solve = build(pyblp, 'persistence_moment_types')
    with pytest.raises((TypeError, ValueError)):
        theirs.solve(**dict(solve, demand_moment_types=value, optimization=pyblp.Optimization('return')))
    problem, solve = build(blp, 'persistence_moment_types')
    with pytest.raises(blp.exceptions.SpecificationError) as error:
        problem.solve(**dict(solve, demand_moment_types=value, optimization=blp.Optimization('return')))
    assert error.value.parameter == 'demand_moment_types'
    assert ('duplicate' in error.value.message) == (case == 'duplicate types')
    assert ('sum to the number of demand-side instruments, 7' in error.value.message) == (
        case == 'counts not summing to MD')
