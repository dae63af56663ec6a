"""Analytic derivatives of the Bertrand-Nash markup against central finite differences of `supply.eta` on the
post-estimation demand model (`DemandAtEstimates`), on the cereal random-coefficients model with markets of unequal size
and on logit."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import blp
from blp.post.at_estimates import DemandAtEstimates
from blp.supply import bertrand as supply
from blp.supply import markups
from blp.supply.markups import (
    Directions,
    NestedChoices,
    directions,
    eta_by_delta,
    eta_by_theta,
    nested_eta_by_theta,
    nested_price_jacobian,
    ownership_factors,
)

STEP = 1e-6
RTOL, ATOL = 1e-6, 1e-7  # ATOL relative to the largest derivative: central differences lose ~1e-11
# sigma on prices, pi on mushy and on prices (the exercise's estimates, rounded)
SIGMA, PI, ALPHA = np.array([[0, 0], [0, 6.0]]), np.array([[0.11], [-5.9]]), 13.7


@pytest.fixture(scope='module')
def estimate(products, agents):
    """Demand at fixed theta in six markets with 24, 21, 24, 18, 24 and 23 products (padding)."""
    frame = products[products['market_ids'].isin(products['market_ids'].unique()[:6])]
    markets = frame['market_ids'].unique()
    drop = {markets[1]: 3, markets[3]: 6, markets[5]: 1}
    keep = np.ones(len(frame), dtype=bool)
    for market, count in drop.items():
        keep[np.flatnonzero(frame['market_ids'].to_numpy() == market)[-count:]] = False
    frame = frame[keep].reset_index(drop=True)
    formulations = (blp.Formulation('0 + prices', absorb='C(product_ids)'), blp.Formulation('0 + mushy + prices'))
    problem = blp.Problem(formulations, frame, blp.Formulation('0 + log_income'),
                          agents[agents['market_ids'].isin(markets)].reset_index(drop=True))
    return problem.solve(sigma=SIGMA, pi=PI, method='1s', optimization=blp.Optimization('return'))


@pytest.fixture(scope='module')
def model(estimate) -> DemandAtEstimates:
    """The demand model at theta, with beta on prices set to ALPHA (alpha is a parameter with a supply side)."""
    model = DemandAtEstimates.from_results(estimate)
    assert len(set(model.mask.sum(axis=1))) > 1, 'markets should differ in size'
    return dataclasses.replace(model, beta=np.array([ALPHA]))


def observed(model: DemandAtEstimates) -> np.ndarray:
    return model.choose().shares


def ownership(model: DemandAtEstimates, kind: str = 'firms') -> np.ndarray:
    """Three firms per market by product position (so that firms own several products); 'partial' adds a 25 % stake
    in every rival product (no firm partition: eta_by_theta then works with H itself)."""
    firms = np.where(model.mask, np.arange(model.mask.shape[1])[None, :] % 3, -1)
    H = supply.ownership_matrices(firms, model.mask)
    if kind == 'partial':
        pairs = model.mask[:, :, None] & model.mask[:, None, :]
        H = np.where(pairs & (H == 0), 0.25, H)
        assert markups.firm_membership(H) is None
    else:
        assert markups.firm_membership(H) is not None
    return H


def markup(model: DemandAtEstimates, shares: np.ndarray, H: np.ndarray) -> np.ndarray:
    choices = model.choose()
    return supply.eta(model.jacobian(choices, model.slopes('prices')), H, shares, model.mask)


def analytic_parts(model: DemandAtEstimates, shares: np.ndarray, H: np.ndarray) -> tuple:
    choices = model.choose()
    slopes = model.slopes('prices')
    Delta = supply.capital_delta(model.jacobian(choices, slopes), H, model.mask)
    eta = supply.solve_delta_system(Delta, shares[:, :, None])[:, :, 0]
    return choices.probabilities, choices.weights, slopes, eta, Delta


def at_theta(model: DemandAtEstimates, problem_demand, sigma: np.ndarray, pi: np.ndarray, alpha: float) -> DemandAtEstimates:
    """The model with delta held fixed and other parameters."""
    coefficients = problem_demand.coefficients(sigma, pi)
    utilities = model.delta[:, :, None] + problem_demand.X2 @ coefficients.transpose(0, 2, 1)
    utilities[~model.mask] = -np.inf
    return dataclasses.replace(model, utilities=utilities, coefficients=coefficients, beta=np.array([alpha]))


def test_eta_by_delta_matches_finite_differences_in_markets_of_unequal_size(model) -> None:
    shares, H = observed(model), ownership(model)
    probabilities, weights, slopes, eta, Delta = analytic_parts(model, shares, H)
    analytic = eta_by_delta(probabilities, weights, slopes, H, eta, Delta)
    T, J = model.mask.shape
    numeric = np.zeros_like(analytic)
    for m in range(J):
        moved = np.zeros((T, J))
        moved[:, m] = np.where(model.mask[:, m], STEP, 0.0)
        up = markup(dataclasses.replace(model, utilities=model.utilities + moved[:, :, None]), shares, H)
        down = markup(dataclasses.replace(model, utilities=model.utilities - moved[:, :, None]), shares, H)
        numeric[:, :, m] = (up - down) / (2 * STEP)
    assert np.abs(analytic).max() > 1e-3, 'the test needs markups that move with delta'
    np.testing.assert_allclose(analytic, numeric, rtol=RTOL, atol=ATOL * np.abs(numeric).max())
    padded = ~model.mask
    assert (analytic[padded] == 0).all() and (analytic.transpose(0, 2, 1)[padded] == 0).all()


@pytest.mark.parametrize('kind', ['firms', 'partial'])
def test_eta_by_theta_matches_finite_differences_of_sigma_pi_and_alpha(estimate, model, kind) -> None:
    problem_demand = estimate.problem.model.random
    shares, H = observed(model), ownership(model, kind)
    probabilities, weights, slopes, eta, Delta = analytic_parts(model, shares, H)
    elements = [('sigma', 1, 1), ('sigma', 0, 0), ('pi', 0, 0), ('pi', 1, 0), ('alpha',)]
    parameters = directions(problem_demand.X2, problem_demand.nodes, problem_demand.demographics, elements,
                            price_column=1)
    analytic = eta_by_theta(probabilities, weights, slopes, ownership_factors(H), eta, Delta, parameters)
    for p, element in enumerate(elements):
        def perturbed(step: float, element: tuple = element) -> np.ndarray:
            sigma, pi, alpha = SIGMA.astype(float), PI.astype(float), ALPHA
            if element[0] == 'sigma':
                sigma[element[1], element[2]] += step
            elif element[0] == 'pi':
                pi[element[1], element[2]] += step
            else:
                alpha += step
            return markup(at_theta(model, problem_demand, sigma, pi, alpha), shares, H)
        numeric = (perturbed(STEP) - perturbed(-STEP)) / (2 * STEP)
        assert np.abs(numeric).max() > 1e-4, f'{element}: the test needs markups that move'
        np.testing.assert_allclose(analytic[:, :, p], numeric, rtol=RTOL, atol=ATOL * np.abs(numeric).max(),
                                   err_msg=str(element))


@pytest.mark.parametrize('kind', ['firms', 'partial'])
def test_total_derivative_adds_eta_by_delta_times_delta_jacobian(estimate, model, kind) -> None:
    problem_demand = estimate.problem.model.random
    shares, H = observed(model), ownership(model, kind)
    probabilities, weights, slopes, eta, Delta = analytic_parts(model, shares, H)
    parameters = directions(problem_demand.X2, problem_demand.nodes, problem_demand.demographics,
                            [('sigma', 1, 1), ('pi', 0, 0), ('alpha',)], price_column=1)
    delta_jacobian = np.random.default_rng(0).normal(size=model.mask.shape + (parameters.P,))
    delta_jacobian[~model.mask] = 0.0
    total = eta_by_theta(probabilities, weights, slopes, ownership_factors(H), eta, Delta, parameters, delta_jacobian)
    partial = eta_by_theta(probabilities, weights, slopes, ownership_factors(H), eta, Delta, parameters)
    by_delta = eta_by_delta(probabilities, weights, slopes, H, eta, Delta)
    np.testing.assert_allclose(total, partial + by_delta @ delta_jacobian, rtol=1e-10, atol=1e-12)


def test_logit_eta_derivatives_match_finite_differences(products) -> None:
    """One agent of weight one: d eta/d delta and d eta/d alpha."""
    frame = products[products['market_ids'].isin(products['market_ids'].unique()[:4])].reset_index(drop=True)
    frame = frame.drop(index=[3, 30, 31]).reset_index(drop=True)
    results = blp.Problem(blp.Formulation('0 + prices', absorb='C(product_ids)'), frame).solve(method='1s')
    model = DemandAtEstimates.from_results(results)
    shares, H = observed(model), ownership(model)
    probabilities, weights, slopes, eta, Delta = analytic_parts(model, shares, H)
    T, J = model.mask.shape
    by_delta = eta_by_delta(probabilities, weights, slopes, H, eta, Delta)
    for m in range(J):
        moved = np.where(model.mask[:, m], STEP, 0.0)[:, None, None] * (np.arange(J) == m)[None, :, None]
        numeric = (markup(dataclasses.replace(model, utilities=model.utilities + moved), shares, H)
                   - markup(dataclasses.replace(model, utilities=model.utilities - moved), shares, H)) / (2 * STEP)
        np.testing.assert_allclose(by_delta[:, :, m], numeric, rtol=RTOL, atol=ATOL * np.abs(numeric).max())
    alpha = directions(np.zeros((T, J, 0)), np.zeros((T, 1, 0)), np.zeros((T, 1, 0)), [('alpha',)], None)
    by_alpha = eta_by_theta(probabilities, weights, slopes, ownership_factors(H), eta, Delta, alpha)[:, :, 0]
    beta = model.beta[0]
    numeric = (markup(dataclasses.replace(model, beta=np.array([beta + STEP])), shares, H)
               - markup(dataclasses.replace(model, beta=np.array([beta - STEP])), shares, H)) / (2 * STEP)
    np.testing.assert_allclose(by_alpha, numeric, rtol=RTOL, atol=ATOL * np.abs(numeric).max())
    np.testing.assert_allclose(by_alpha, -eta / beta, rtol=1e-10)  # logit: eta is proportional to 1 / alpha


def test_total_derivative_matches_finite_differences_with_delta_solved_again(estimate, model) -> None:
    """d eta/d theta with delta(theta) from the contraction at theta +- h: the composition the GMM gradient needs."""
    problem, step = estimate.problem, 1e-5
    shares, H = problem.products.layout.pad(problem.products.shares), ownership(model)
    probabilities, weights, slopes, eta, Delta = analytic_parts(model, shares, H)
    elements = [('sigma', 1, 1), ('pi', 0, 0), ('pi', 1, 0)]
    parameters = directions(problem.model.random.X2, problem.model.random.nodes, problem.model.random.demographics, elements,
                            price_column=1)
    markups, deltas = [], []
    for sign in (1, -1):
        for element in elements:
            sigma, pi = SIGMA.astype(float), PI.astype(float)
            (sigma if element[0] == 'sigma' else pi)[element[1], element[2]] += sign * step
            moved = DemandAtEstimates.from_results(problem.solve(sigma=sigma, pi=pi, method='1s',
                                                           optimization=blp.Optimization('return')))
            moved = dataclasses.replace(moved, beta=np.array([ALPHA]))
            markups.append(markup(moved, shares, H))
            deltas.append(moved.delta)
    P = len(elements)
    numeric = np.stack([(markups[p] - markups[P + p]) / (2 * step) for p in range(P)], axis=2)
    delta_jacobian = np.stack([(deltas[p] - deltas[P + p]) / (2 * step) for p in range(P)], axis=2)
    analytic = eta_by_theta(probabilities, weights, slopes, ownership_factors(H), eta, Delta, parameters, delta_jacobian)
    assert np.abs(delta_jacobian).max() > 1e-2 and np.abs(numeric).max() > 1e-4
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-6 * np.abs(numeric).max())


@pytest.fixture(scope='module')
def nested_problem(products) -> blp.Problem:
    """Nested logit by mushy in six markets of unequal size."""
    frame = products[products['market_ids'].isin(products['market_ids'].unique()[:6])]
    keep = np.random.default_rng(1).uniform(size=len(frame)) > 0.2
    frame = frame[keep].reset_index(drop=True).assign(nesting_ids=lambda f: f['mushy'])
    return blp.Problem(blp.Formulation('0 + prices', absorb='C(product_ids)'), frame)


def nested_at(problem: blp.Problem, rho: list) -> DemandAtEstimates:
    return DemandAtEstimates.from_results(problem.solve(rho=rho, method='1s', optimization=blp.Optimization('return')))


@pytest.fixture(scope='module')
def nested(nested_problem) -> DemandAtEstimates:
    """The model at rho 0.4 and 0.7."""
    model = nested_at(nested_problem, [0.4, 0.7])
    assert len(set(model.mask.sum(axis=1))) > 1
    return model


def nested_parts(model: DemandAtEstimates, shares: np.ndarray, H: np.ndarray) -> tuple:
    """The nested choices, eta and Delta at the model's utilities (nested logit: one agent)."""
    _, _, slopes, eta, Delta = analytic_parts(model, shares, H)
    choices = model.choose()
    nested = NestedChoices(choices.probabilities, choices.conditionals, choices.weights, slopes,
                           model.nests.rho_products, model.nests.same_nest)
    np.testing.assert_allclose(supply.eta(nested_price_jacobian(nested), H, shares, model.mask), eta, rtol=1e-12)
    return nested, eta, Delta


def nested_directions(model: DemandAtEstimates, characteristics: np.ndarray, moves_price: list) -> Directions:
    """Directions moving utilities by `characteristics` (T x J x P) or, where `moves_price`, alpha by one."""
    T, I = model.weights.shape
    return Directions(characteristics, np.ones((T, I, len(moves_price))), np.array(moves_price, dtype=bool))


def test_nested_logit_eta_by_delta_matches_finite_differences(nested) -> None:
    shares, H = observed(nested), ownership(nested)
    choices, eta, Delta = nested_parts(nested, shares, H)
    T, J = nested.mask.shape
    by_delta = np.broadcast_to(np.eye(J) * nested.mask[:, :, None], (T, J, J)).copy()
    analytic = nested_eta_by_theta(choices, H, eta, Delta, nested_directions(nested, by_delta, [False] * J),
                                   np.zeros((T, J, J)))
    for m in range(J):
        moved = np.where(nested.mask[:, m], STEP, 0.0)[:, None, None] * (np.arange(J) == m)[None, :, None]
        numeric = (markup(dataclasses.replace(nested, utilities=nested.utilities + moved), shares, H)
                   - markup(dataclasses.replace(nested, utilities=nested.utilities - moved), shares, H)) / (2 * STEP)
        np.testing.assert_allclose(analytic[:, :, m], numeric, rtol=RTOL, atol=ATOL * np.abs(numeric).max(),
                                   err_msg=f'delta {m}')


def test_nested_logit_eta_by_rho_and_alpha_match_finite_differences(nested) -> None:
    shares, H = observed(nested), ownership(nested)
    choices, eta, Delta = nested_parts(nested, shares, H)
    member = nested.nests.member
    rho_moves = np.stack([member[:, 0], member[:, 1], member.any(axis=1), np.zeros_like(nested.mask)], axis=2)
    T, J = nested.mask.shape
    analytic = nested_eta_by_theta(choices, H, eta, Delta,
                                   nested_directions(nested, np.zeros((T, J, 4)), [False, False, False, True]),
                                   rho_moves.astype(float))

    def at(rho: np.ndarray, alpha: float) -> np.ndarray:
        return markup(dataclasses.replace(nested, nests=dataclasses.replace(nested.nests, rho=rho),
                                          beta=np.array([alpha])), shares, H)

    rho, alpha = nested.nests.rho, nested.beta[0]
    for p, (change, shift) in enumerate([([1, 0], 0), ([0, 1], 0), ([1, 1], 0), ([0, 0], 1)]):
        change = STEP * np.array(change, dtype=float)
        numeric = (at(rho + change, alpha + STEP * shift) - at(rho - change, alpha - STEP * shift)) / (2 * STEP)
        assert np.abs(numeric).max() > 1e-5
        np.testing.assert_allclose(analytic[:, :, p], numeric, rtol=RTOL, atol=ATOL * np.abs(numeric).max(),
                                   err_msg=f'parameter {p}')


def test_nested_logit_total_derivative_matches_finite_differences_with_delta_solved_again(nested_problem,
                                                                                          nested) -> None:
    """rho of the first nest with delta(rho) from the problem at rho +- h; alpha held at its value at rho."""
    step, alpha = 1e-5, np.array([nested.beta[0]])
    shares, H = nested_problem.products.layout.pad(nested_problem.products.shares), ownership(nested)
    choices, eta, Delta = nested_parts(nested, shares, H)
    moved = [dataclasses.replace(nested_at(nested_problem, [0.4 + sign * step, 0.7]), beta=alpha) for sign in (1, -1)]
    numeric = (markup(moved[0], shares, H) - markup(moved[1], shares, H)) / (2 * step)
    delta_jacobian = ((moved[0].delta - moved[1].delta) / (2 * step))[:, :, None]
    T, J = nested.mask.shape
    total = nested_eta_by_theta(choices, H, eta, Delta, nested_directions(nested, np.zeros((T, J, 1)), [False]),
                                nested.nests.member[:, 0][:, :, None].astype(float), delta_jacobian)
    assert np.abs(delta_jacobian).max() > 1e-2
    np.testing.assert_allclose(total[:, :, 0], numeric, rtol=1e-5, atol=1e-6 * np.abs(numeric).max())


def test_firm_membership_factors_a_partition_and_refuses_partial_ownership() -> None:
    """Firms (padded products included) factor as H = F F' with one column per firm; partial or overlapping
    ownership has no such factor (eta_by_theta then uses H itself, as the finite-difference tests above check)."""
    rng = np.random.default_rng(3)
    firms = rng.integers(0, 4, size=(3, 7))
    present = np.ones((3, 7), dtype=bool)
    present[1, 5:] = False                                             # a smaller market, padded
    H = ((firms[:, :, None] == firms[:, None, :]) & present[:, :, None] & present[:, None, :]).astype(float)
    membership = markups.firm_membership(H)
    assert membership is not None
    np.testing.assert_array_equal(membership @ membership.transpose(0, 2, 1), H)
    assert membership.shape[2] == max(len(set(firms[t, present[t]])) for t in range(3))
    partial = H.copy()
    partial[0, 0, 1] = partial[0, 1, 0] = 0.5
    assert markups.firm_membership(partial) is None
    overlapping = H.copy()
    overlapping[2, 0, :] = 1.0                                         # not an equivalence relation
    assert markups.firm_membership(overlapping) is None
