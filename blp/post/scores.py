"""Scores of micro observations, as PyBLP's `compute_micro_scores` and `compute_agent_scores`: d log P_n / d theta.

An observation n in market t chose j; agents i in I_n (its integration nodes with its demographics) give
    P_n = sum_{i in I_n} w_i s_ij w_dij / D,    D = sum_t sum_{i in I_t} sum_j w_it s_ijt w_dijt (the problem's agents),
so the score is dN_n/dtheta / N_n - dD/dtheta / D (D over the markets of the micro data, as PyBLP sums it).
Utilities V_ij = delta_j(theta) + sum_k x2_jk (Sigma nu_i + Pi d_i)_k move with theta through delta (the implicit
function theorem at the estimates, the core's delta Jacobian) and through the agent's own coefficients;
ds_ij/dtheta = s_ij (G_ij - sum_k s_ik G_ik) with G = dV/dtheta. Supported for sigma and pi parameters with linear
random coefficients and no nests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
import pandas as pd

from blp.configurations.integration import Integration
from blp.configurations.solve_options import Iteration
from blp.exceptions import SpecificationError
from blp.micro.moments import MicroDataset
from blp.micro.views import MarketView, MarketViews, call_market_function, market_columns
from blp.post.micro_data import dataset_markets
from blp.primitives.products import as_frame, nodes_columns

SCORE_ITERATION = Iteration('squarem', {'atol': 1e-14})


@dataclass(frozen=True)
class ScoreModel:
    """What scores need at the estimates: delta, its Jacobian, sigma and pi, and which agent variable each
    parameter multiplies in which X2 column."""

    delta: np.ndarray        # N
    jacobian: np.ndarray     # N x P  d delta / d theta
    sigma: np.ndarray
    pi: np.ndarray
    kinds: list[str]         # 'sigma' or 'pi' per parameter
    locations: list[tuple[int, int]]

    def evaluate(self, rows: np.ndarray, X2: np.ndarray, nodes: np.ndarray, demographics: np.ndarray,
                 weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For agents with these nodes and demographics among products `rows`: choice probabilities s with the
        outside good first (I x (1 + J)) and sum_i A_ij ds_ij/dtheta ((1 + J) x P) for weights A (I x (1 + J)).

        With ds_ij/dtheta = s_ij (G_ij - m_i), m_i = sum_k s_ik G_ik and G_ij = d delta_j/dtheta + x2_j,k(p) z_ip
        (zero for the outside good), every sum is a matrix product: the I x J x P array is never formed."""
        coefficients = nodes @ self.sigma.T + (demographics @ self.pi.T if self.pi.size else 0.0)
        V = self.delta[rows][None, :] + coefficients @ X2.T
        V = np.c_[np.zeros(V.shape[0]), V]
        V -= V.max(axis=1, keepdims=True)
        shares = np.exp(V)
        shares /= shares.sum(axis=1, keepdims=True)
        z = np.stack([nodes[:, l] if kind == 'sigma' else demographics[:, l]
                      for kind, (_, l) in zip(self.kinds, self.locations)], axis=1) \
            if self.kinds else np.zeros((nodes.shape[0], 0))
        jacobian = self.jacobian[rows]                                       # J x P
        moved = X2[:, [k for k, _ in self.locations]]                        # J x P: x2_j,k(p)
        inside = shares[:, 1:]
        m = inside @ jacobian + (inside @ moved) * z                         # I x P
        weighted = weights * shares                                          # A_ij s_ij
        sums = -(weighted.T @ m)                                             # (1 + J) x P
        sums[1:] += weighted[:, 1:].sum(axis=0)[:, None] * jacobian + moved * (weighted[:, 1:].T @ z)
        return shares, sums


def score_model(results: Any) -> ScoreModel:
    """The estimates' ScoreModel; refuses what it does not cover (nests, lognormal coefficients, beta or rho in
    theta)."""
    problem = results.problem
    parameters = results._estimation.parameters
    if problem.H or any(kind != 'linear' for kind in problem.rc_types) or problem.agents is None:
        raise SpecificationError('micro scores need random coefficients that are linear (rc_types) without nests',
                                 parameter='dataset')
    unfixed = list(parameters.unfixed)
    kinds = [parameter.kind for parameter in unfixed]
    if any(kind not in ('sigma', 'pi') for kind in kinds):
        raise SpecificationError('micro scores cover sigma and pi parameters only (not beta or rho in theta)',
                                 parameter='dataset')
    model, values = results.demand_model, results.nonlinear_values
    layout = problem.products.layout
    inversion = model.invert(values, layout.pad(results.delta[:, 0]), SCORE_ITERATION)
    variables, columns = model.parameter_variables(parameters)
    jacobian, _ = model.delta_jacobian(inversion, parameters, variables, columns)
    return ScoreModel(inversion.delta, jacobian, values.sigma, values.pi, kinds,
                      [tuple(parameter.location) for parameter in unfixed])


def _integration_nodes(integration: Integration, sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nodes (I x K2) and weights, built only for X2 columns with a nonzero diagonal of sigma (PyBLP's rule)."""
    built = np.flatnonzero(np.diag(sigma) != 0)
    node_list, weight_list = integration.build(built.size, 1)
    nodes = np.zeros((len(weight_list[0]), sigma.shape[0]))
    nodes[:, built] = node_list[0]
    return nodes, weight_list[0]


class Scorer:
    """Scores of observations of one dataset at the estimates."""

    def __init__(self, results: Any, dataset: MicroDataset) -> None:
        if not isinstance(dataset, MicroDataset):
            raise SpecificationError('dataset must be a MicroDataset', parameter='dataset')
        self.results, self.dataset = results, dataset
        self.problem = problem = results.problem
        self.model = score_model(results)
        self.views = MarketViews(problem, problem.agents)
        self._products: dict[int, MarketView] = {}  # per-market product views, built once
        self.layout = problem.products.layout
        self.markets = dataset_markets(dataset, self.layout.markets, results._market_order)
        self.P = len(self.model.kinds)
        self.parts: dict[int, tuple[float, np.ndarray]] = {}
        for t in self.markets:  # each market's part of D and dD/dtheta, over the problem's agents
            agents = self.views.agents_in(t)
            weights = self._weights(t, agents)[0] * agents.weights
            shares, sums = self._choices(t, agents.nodes, agents.demographics, weights)
            self.parts[t] = (float((weights * shares).sum()), sums.sum(axis=0))
        self.over(self.markets)

    def over(self, markets: Any) -> None:
        """dD/dtheta / D with D summed over `markets` (PyBLP sums micro scores' D over the micro data's markets)."""
        missing = [self.layout.markets[t] for t in markets if t not in self.parts]
        if missing:
            raise SpecificationError(f'micro_data has market {missing[0]!r}, which micro dataset '
                                     f'{self.dataset.name!r} does not cover', parameter='micro_data')
        total = sum(self.parts[t][0] for t in markets)
        if not total > 0:
            raise SpecificationError(f'micro dataset {self.dataset.name!r} has zero weight everywhere',
                                     parameter='dataset')
        self.denominator: np.ndarray = np.sum([self.parts[t][1] for t in markets], axis=0) / total

    def _rows(self, t: int) -> np.ndarray:
        return np.flatnonzero(self.layout.market_index == t)[np.argsort(
            self.layout.position[self.layout.market_index == t])]

    def _choices(self, t: int, nodes: np.ndarray, demographics: np.ndarray,
                 weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rows = self._rows(t)
        return self.model.evaluate(rows, self.problem.X2[rows], nodes, demographics, weights)

    def _weights(self, t: int, agents: MarketView) -> tuple[np.ndarray, bool]:
        """The dataset's weights with the outside good first (zero when the dataset leaves it out), and whether the
        dataset has it."""
        if t not in self._products:
            self._products[t] = self.views.products(t)
        products = self._products[t]
        weights = call_market_function(self.dataset.compute_weights, self.layout.markets[t], products, agents,
                                       f'compute_weights of micro dataset {self.dataset.name!r}', 'dataset')
        J_t = products.size
        if weights.shape not in ((agents.size, J_t), (agents.size, 1 + J_t)):
            raise SpecificationError(f'compute_weights of micro dataset {self.dataset.name!r} returned shape '
                                     f'{weights.shape}: scores need first choices ({agents.size}, {J_t}) or '
                                     f'({agents.size}, {1 + J_t})', parameter='dataset')
        outside = weights.shape[1] == 1 + J_t
        return (weights if outside else np.c_[np.zeros(agents.size), weights]), outside

    def observation(self, t: int, nodes: np.ndarray, weights: np.ndarray, demographics: np.ndarray,
                    columns: dict[str, np.ndarray]) -> tuple[np.ndarray, bool]:
        """Scores (1 + J_t x P) of every choice for an observation integrated over these agents, and whether the
        dataset's weights include the outside good."""
        I_n = weights.size
        arrays = {name: np.repeat(values, I_n, axis=0) for name, values in columns.items()}
        arrays.update(weights=weights[:, None], nodes=nodes, demographics=demographics,
                      market_ids=np.full((I_n, 1), self.layout.markets[t], dtype=object))
        agents = MarketView(I_n, arrays, 'agents')
        dataset_weights, outside = self._weights(t, agents)
        weighted = dataset_weights * weights[:, None]
        shares, sums = self._choices(t, nodes, demographics, weighted)
        with np.errstate(divide='ignore', invalid='ignore'):
            numerator = sums / (weighted * shares).sum(axis=0)[:, None]
        scores = numerator - self.denominator[None, :]
        scores[~np.isfinite(scores)] = np.nan  # P_n = 0: the dataset could not have sampled this choice (PyBLP)
        return scores, outside


def _demographics(problem: Any, frame: pd.DataFrame) -> np.ndarray:
    formulation = problem.agent_formulation
    if formulation is None:
        return np.zeros((len(frame), 0))
    return formulation.build(frame, 'agent formulation').matrix


def _market_index(layout: Any, market: Any) -> int:
    for t, known in enumerate(layout.markets):
        if known == market or str(known) == str(market):
            return t
    raise SpecificationError(f'micro_data market {market!r} has no products', parameter='micro_data')


def _observations(scorer: Scorer, frame: pd.DataFrame, integration: Optional[Integration]) -> list[tuple]:
    """(market, frame rows, nodes, weights, demographics) per observation: one per row with `integration`, else
    the rows of each micro id (sorted) with their own nodes and weights."""
    problem = scorer.problem
    demographics = _demographics(problem, frame)
    if integration is not None:
        nodes, weights = _integration_nodes(integration, scorer.model.sigma)
        return [(_market_index(scorer.layout, frame['market_ids'].iloc[n]), np.array([n]), nodes, weights,
                 np.repeat(demographics[[n]], weights.size, axis=0)) for n in range(len(frame))]
    for column in ('micro_ids', 'weights'):
        if column not in frame.columns:
            raise SpecificationError(f'micro_data needs {column!r} without integration', parameter='micro_data')
    node_columns = nodes_columns(frame, problem.K2)
    all_nodes = frame[node_columns].to_numpy(dtype=float) if node_columns else np.zeros((len(frame), 0))
    padded = np.zeros((len(frame), problem.K2))
    padded[:, :all_nodes.shape[1]] = all_nodes
    observations = []
    for _, rows in sorted(frame.groupby('micro_ids', sort=True).indices.items()):
        observations.append((_market_index(scorer.layout, frame['market_ids'].iloc[rows[0]]), rows[:1], padded[rows],
                             frame['weights'].to_numpy(dtype=float)[rows], demographics[rows]))
    return observations


def compute_micro_scores(results: Any, dataset: MicroDataset, micro_data: Any,
                         integration: Optional[Integration] = None) -> list[np.ndarray]:
    """Scores per parameter (theta's order), one per observation in micro_data's order."""
    scorer = Scorer(results, dataset)
    frame = as_frame(micro_data, 'micro_data')
    if 'choice_indices' not in frame.columns or 'market_ids' not in frame.columns:
        raise SpecificationError("micro_data needs 'market_ids' and 'choice_indices'", parameter='micro_data')
    observations = _observations(scorer, frame, integration)
    scorer.over(sorted({observation[0] for observation in observations}))
    columns = market_columns(frame, np.arange(len(frame)))
    scores = []
    for t, rows, nodes, weights, demographics in observations:
        by_choice, outside = scorer.observation(t, nodes, weights, demographics,
                                                {name: values[rows] for name, values in columns.items()})
        choice = int(frame['choice_indices'].iloc[rows[0]]) + (0 if outside else 1)
        scores.append(by_choice[choice])
    matrix = np.array(scores).reshape(-1, scorer.P)
    return [matrix[:, p].copy() for p in range(scorer.P)]


def compute_agent_scores(results: Any, dataset: MicroDataset, micro_data: Any = None,
                         integration: Optional[Integration] = None) -> list[dict]:
    """Scores per parameter as {market id: I_t x (1 + J_t) or I_t x J_t array}, every agent of the problem (or
    of micro_data) an observation of every choice."""
    scorer = Scorer(results, dataset)
    problem, layout = scorer.problem, scorer.layout
    found: list[dict] = [{} for _ in range(scorer.P)]
    for t in scorer.markets:
        if micro_data is None:
            agents = problem.agents
            I_t = int(agents.layout.counts[t])
            frame_rows = np.flatnonzero(agents.layout.market_index == t)
            columns_of = market_columns(agents.frame, frame_rows) if agents.frame is not None else {}
            own = [(agents.nodes[t, [i]], np.ones(1), agents.demographics[t, [i]]) for i in range(I_t)]
        else:
            frame = as_frame(micro_data, 'micro_data')
            selected = frame[frame['market_ids'].astype(str) == str(layout.markets[t])].reset_index(drop=True)
            columns_of = market_columns(selected, np.arange(len(selected)))
            demographics = _demographics(problem, selected)
            node_columns = nodes_columns(selected, problem.K2)
            nodes = np.zeros((len(selected), problem.K2))
            nodes[:, :len(node_columns)] = selected[node_columns].to_numpy(dtype=float) if node_columns else 0.0
            own = [(nodes[[i]], np.ones(1), demographics[[i]]) for i in range(len(selected))]
        rows_scores = []
        outside = True
        for i, (nodes_i, weights_i, demographics_i) in enumerate(own):
            if integration is not None:
                nodes_i, weights_i = _integration_nodes(integration, scorer.model.sigma)
                demographics_i = np.repeat(demographics_i, weights_i.size, axis=0)
            columns = {name: values[[i]] for name, values in columns_of.items()}
            by_choice, outside = scorer.observation(t, nodes_i, weights_i, demographics_i, columns)
            rows_scores.append(by_choice if outside else by_choice[1:])
        stacked = np.array(rows_scores)
        for p in range(scorer.P):
            found[p][layout.markets[t]] = stacked[:, :, p]
    return found
