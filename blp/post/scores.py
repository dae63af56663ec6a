"""Scores of micro observations, as PyBLP's `compute_micro_scores` and `compute_agent_scores`: d log P_n / d theta.

An observation n in market t chose j; agents i in I_n (its integration nodes with its demographics) give
    P_n = sum_{i in I_n} w_i s_ij w_dij / D,    D = sum_t sum_{i in I_t} sum_j w_it s_ijt w_dijt (the problem's agents),
so the score is dN_n/dtheta / N_n - dD/dtheta / D (D over the markets of the micro data, as PyBLP sums it).
Utilities V_ij = delta_j(theta) + sum_k x2_jk c_ik, c_ik = (Sigma nu_i + Pi d_i)_k (exponentiated in lognormal
columns), move with theta through delta (the implicit function theorem at the estimates, the core's delta Jacobian)
and through the agent's own coefficients; without nests ds_ij/dtheta = s_ij (G_ij - sum_k s_ik G_ik) with
G = dV/dtheta, with nests (RCNL) the nested logit's log derivatives, rho included (`blp.micro.nested`). Elements of
theta that leave choices alone (beta, phi) have zero scores, as in PyBLP. Second choices: pi_ijk = s_ij s_ik / (1 - s_ij)
without nests, PyBLP's s_ik(-j) - s_ik with them; with `eliminated_product_ids_index` j's whole group leaves, nests
or not (`blp.micro.nested`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
import pandas as pd

from blp.configurations.integration import Integration
from blp.configurations.solve_options import Iteration
from blp.estimation.parameters import NonlinearValues, PiParameter, RhoParameter, SigmaParameter
from blp.exceptions import SpecificationError
from blp.micro.compiled import eliminated_groups, place_choices
from blp.micro.moments import MicroDataset
from blp.micro.nested import NestedSecondChoices, nested_log_derivatives
from blp.micro.views import MarketView, MarketViews, call_market_function, market_columns
from blp.model.choices import Choices, Nests, logit, nested_logit
from blp.model.contraction import RandomCoefficients
from blp.post.micro_data import dataset_markets
from blp.primitives.products import Layout, as_frame, nodes_columns

SCORE_ITERATION = Iteration('squarem', {'atol': 1e-14})


@dataclass(frozen=True)
class ScoreModel:
    """What scores need at the estimates: delta, its Jacobian in the parameters that move choices (sigma and pi,
    which move agents' coefficients, then rho), which agent variable and X2 column each of the first moves, and
    the nests. Other elements of theta (beta, phi) leave choice probabilities alone: zero scores, as PyBLP's. delta,
    its Jacobian and the X2 that `evaluate` gets are in choice units (`DemandModel.in_choice_units`: over a scaled
    logit error's e)."""

    delta: np.ndarray        # N
    jacobian: np.ndarray     # N x M  d delta / d theta for the M parameters that move choices
    values: NonlinearValues
    moving: np.ndarray       # M: their positions in theta
    sources: list[tuple[str, int]]  # ('nodes' or 'demographics', column) per coefficient-moving parameter
    columns: np.ndarray      # the X2 column each coefficient-moving parameter moves
    log_columns: np.ndarray  # K2: lognormal coefficients
    nests: Optional[Nests]   # padded layout
    rho_moves: np.ndarray    # T x J x R  d rho_j / d theta for the rho parameters
    P: int

    def evaluate(self, t: int, rows: np.ndarray, X2: np.ndarray, nodes: np.ndarray, demographics: np.ndarray,
                 weights: np.ndarray, groups: Optional[np.ndarray] = None) -> tuple[np.ndarray, np.ndarray]:
        """For agents with these nodes and demographics among market t's products `rows`: choice probabilities Q with
        the outside good first (I x (1 + J)) and sum_i A_ij dQ_ij/dtheta ((1 + J) x P) for weights A (I x (1 + J));
        for second-choice weights (I x (1 + J) x (1 + J)) the same of pi_ijk (`_second_choices`), `groups` ((1 + J) x
        (1 + J), 1 where j and k leave the choice set together) for an `eliminated_product_ids_index`."""
        J, I = rows.size, nodes.shape[0]
        kernel = RandomCoefficients(Layout.from_ids(np.zeros(J)), X2, np.ones((1, I)), nodes[None],
                                    demographics[None], self.log_columns)
        coefficients = kernel.coefficients(self.values.sigma, self.values.pi)            # 1 x I x K2
        utilities = self.delta[rows][None, :, None] + X2[None] @ coefficients.transpose(0, 2, 1)  # 1 x J x I
        raw = [nodes[:, l] if source == 'nodes' else demographics[:, l] for source, l in self.sources]
        variables = kernel.coefficient_derivatives(
            coefficients, np.stack(raw, axis=1)[None] if raw else np.zeros((1, I, 0)), self.columns)
        jacobian, moved = self.jacobian[rows][None], X2[None][:, :, self.columns]
        if self.nests is None:
            choices = logit(utilities, np.ones((1, I)))
            inside = choices.probabilities[0].T                                          # I x J
            changes = jacobian[0][None] + moved[0][None] * variables[0][:, None, :]      # I x J x M: dV_ij
            mean = np.einsum('ij,ijm->im', inside, changes)
            logs = np.concatenate([-mean[:, None, :], changes - mean[:, None, :]], axis=1)
        else:
            nests = Nests(self.nests.codes[[t], :J], self.nests.member[[t], :, :J], self.nests.rho)
            choices = nested_logit(utilities, np.ones((1, I)), nests)
            inside = choices.probabilities[0].T
            nested_logs = nested_log_derivatives(choices, nests, moved, variables, self.rho_moves[[t], :J], jacobian)
            logs = np.stack([np.c_[log.outside[0][:, None], (log.conditionals + log.nest_shares)[0].T]
                             for log in nested_logs], axis=2)
        shares = np.c_[choices.outside[0], inside]
        if weights.ndim == 3:
            groups = np.eye(J + 1) if groups is None else groups
            weights = weights * (1 - groups)  # pi is zero within a group
            if self.nests is not None:
                return self._nested_second_choices(shares, choices, nests, nested_logs, weights, groups)
            return self._second_choices(shares, logs, weights, groups)
        sums = np.zeros((J + 1, self.P))
        sums[:, self.moving] = np.einsum('ij,ijm->jm', weights * shares, logs)
        return shares, sums

    def _nested_second_choices(self, Q: np.ndarray, choices: Choices, nests: Nests, logs: list, weights: np.ndarray,
                               groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """As `_second_choices` with nests: PyBLP's pi_ijk = s_ik(-j) - s_ik (`blp.micro.nested`), whose derivative
        is taken one (j, k) with weight at a time."""
        assert choices.conditionals is not None
        same = nests.same_nest
        seconds = NestedSecondChoices(Q[None], choices.conditionals, same @ choices.probabilities, nests.rho_products,
                                      same, groups[None])
        sums = np.zeros(weights.shape[1:] + (self.P,))
        for j, k in zip(*np.nonzero(weights.any(axis=0))):
            single = np.zeros((1,) + weights.shape)
            single[0, :, j, k] = weights[:, j, k]
            sums[j, k, self.moving] = seconds.derivative(single, logs)
        return seconds.pi[0], sums

    def _second_choices(self, Q: np.ndarray, logs: np.ndarray, weights: np.ndarray,
                        groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """pi_ijk = Q_ij Q_ik / (1 - E_ij) for k outside j's group G(j) (logit errors; E_ij = sum_{l in G(j)} Q_il, Q_ij
        alone without eliminated groups) and sum_i A_ijk d pi_ijk / d theta, with d log pi_ijk = d log Q_ij + d log Q_ik
        + dE_ij / (1 - E_ij) (I x (1 + J) x (1 + J), (1 + J) x (1 + J) x P)."""
        E = Q @ groups
        with np.errstate(divide='ignore', invalid='ignore'):
            inverse = np.where(E < 1, 1 / (1 - E), 0.0)
        pi = Q[:, :, None] * Q[:, None, :] * inverse[:, :, None] * (1 - groups)[None]
        weighted = weights * pi
        first = logs + np.einsum('jl,il,ilm->ijm', groups, Q, logs) * inverse[:, :, None]  # d log Q_ij + dE_ij / (1 - E_ij)
        sums = np.zeros(pi.shape[1:] + (self.P,))
        sums[..., self.moving] = np.einsum('ijk,ijm->jkm', weighted, first) + np.einsum('ijk,ikm->jkm', weighted, logs)
        return pi, sums


def score_model(results: Any) -> ScoreModel:
    """The estimates' ScoreModel (scores need agents: random coefficients)."""
    problem = results.problem
    parameters = results._estimation.parameters
    if problem.agents is None:
        raise SpecificationError('micro scores need random coefficients (an X2 formulation with agents)',
                                 parameter='dataset')
    model, values = results.demand_model, results.nonlinear_values
    layout = problem.products.layout
    inversion = model.invert(values, layout.pad(results.delta[:, 0]), SCORE_ITERATION)
    variables, columns = model.parameter_variables(parameters)
    jacobian, _ = model.delta_jacobian(inversion, parameters, variables, columns)
    unfixed = list(parameters.unfixed)
    coefficient_moving = [p for p, parameter in enumerate(unfixed) if isinstance(parameter, (SigmaParameter,
                                                                                              PiParameter))]
    rho = [p for p, parameter in enumerate(unfixed) if isinstance(parameter, RhoParameter)]
    moving = np.array(coefficient_moving + rho, dtype=np.intp)
    sources = [('nodes' if isinstance(unfixed[p], SigmaParameter) else 'demographics', unfixed[p].location[1])
               for p in coefficient_moving]
    return ScoreModel(model.in_choice_units(inversion.delta), model.in_choice_units(jacobian[:, moving]), values,
                      moving, sources, np.array([unfixed[p].location[0] for p in coefficient_moving], dtype=np.intp),
                      model.log_columns, model.nests(values.rho), model.rho_moves(parameters)[:, :, rho],
                      parameters.P)


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
        self.P = self.model.P
        self.parts: dict[int, tuple[float, np.ndarray]] = {}
        for t in self.markets:  # each market's part of D and dD/dtheta, over the problem's agents
            agents = self.views.agents_in(t)
            dataset_weights = self._weights(t, agents)[0]
            weights = dataset_weights * agents.weights.reshape((-1,) + (1,) * (dataset_weights.ndim - 1))
            shares, sums = self._choices(t, agents.nodes, agents.demographics, weights)
            self.parts[t] = (float((weights * shares).sum()), sums.reshape(-1, self.P).sum(axis=0))
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
        groups = None
        if weights.ndim == 3 and self.dataset.eliminated_product_ids_index is not None:
            groups = eliminated_groups(self.problem, self.dataset, np.array([t]), 'dataset')[0, :1 + rows.size,
                                                                                             :1 + rows.size]
        X2 = self.results.demand_model.in_choice_units(self.problem.X2[rows])
        return self.model.evaluate(t, rows, X2, nodes, demographics, weights, groups)

    def _weights(self, t: int, agents: MarketView) -> tuple[np.ndarray, tuple[bool, ...]]:
        """The dataset's weights with the outside good first in each choice axis (zero where the dataset leaves it
        out), and per axis whether the dataset has it."""
        if t not in self._products:
            self._products[t] = self.views.products(t)
        products = self._products[t]
        weights = call_market_function(self.dataset.compute_weights, self.layout.markets[t], products, agents,
                                       f'compute_weights of micro dataset {self.dataset.name!r}', 'dataset')
        I, J_t = agents.size, products.size
        if weights.ndim not in (2, 3) or weights.shape[0] != I or \
                any(size not in (J_t, 1 + J_t) for size in weights.shape[1:]):
            raise SpecificationError(f'compute_weights of micro dataset {self.dataset.name!r} returned shape '
                                     f'{weights.shape}: scores need ({I}, J) or ({I}, J, J) with J {J_t} or '
                                     f'{1 + J_t} (the outside good first)', parameter='dataset')
        padded = np.zeros((I,) + (1 + J_t,) * (weights.ndim - 1))
        place_choices(padded, weights, J_t)
        return padded, tuple(size == 1 + J_t for size in weights.shape[1:])

    def observation(self, t: int, nodes: np.ndarray, weights: np.ndarray, demographics: np.ndarray,
                    columns: dict[str, np.ndarray]) -> tuple[np.ndarray, tuple[bool, ...]]:
        """Scores (1 + J_t [x 1 + J_t] x P) of every choice (and second choice) for an observation integrated over
        these agents, and per choice axis whether the dataset's weights include the outside good."""
        I_n = weights.size
        arrays = {name: np.repeat(values, I_n, axis=0) for name, values in columns.items()}
        arrays.update(weights=weights[:, None], nodes=nodes, demographics=demographics,
                      market_ids=np.full((I_n, 1), self.layout.markets[t], dtype=object))
        agents = MarketView(I_n, arrays, 'agents')
        dataset_weights, outside = self._weights(t, agents)
        weighted = dataset_weights * weights.reshape((-1,) + (1,) * (dataset_weights.ndim - 1))
        shares, sums = self._choices(t, nodes, demographics, weighted)
        with np.errstate(divide='ignore', invalid='ignore'):
            numerator = sums / (weighted * shares).sum(axis=0)[..., None]
        scores = numerator - self.denominator
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
        nodes, weights = _integration_nodes(integration, scorer.model.values.sigma)
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
        names = ['choice_indices', 'second_choice_indices'][:len(outside)]
        if names[-1] not in frame.columns:
            raise SpecificationError(f'micro dataset {dataset.name!r} has second choices: micro_data needs '
                                     f"'second_choice_indices'", parameter='micro_data')
        index = tuple(int(frame[name].iloc[rows[0]]) + (0 if has else 1) for name, has in zip(names, outside))
        if any(not 0 <= position < size for position, size in zip(index, by_choice.shape)):
            raise SpecificationError(f'micro_data row {int(rows[0])}: {", ".join(names)} outside the choices of '
                                     f'market {scorer.layout.markets[t]!r}', parameter='micro_data')
        scores.append(by_choice[index])
    matrix = np.array(scores).reshape(-1, scorer.P)
    return [matrix[:, p].copy() for p in range(scorer.P)]


def compute_agent_scores(results: Any, dataset: MicroDataset, micro_data: Any = None,
                         integration: Optional[Integration] = None) -> list[dict]:
    """Scores per parameter as {market id: I_t x (1 + J_t) or I_t x J_t array (x another such axis for second
    choices)}, every agent of the problem (or of micro_data) an observation of every choice."""
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
        for i, (nodes_i, weights_i, demographics_i) in enumerate(own):
            if integration is not None:
                nodes_i, weights_i = _integration_nodes(integration, scorer.model.values.sigma)
                demographics_i = np.repeat(demographics_i, weights_i.size, axis=0)
            columns = {name: values[[i]] for name, values in columns_of.items()}
            by_choice, outside = scorer.observation(t, nodes_i, weights_i, demographics_i, columns)
            rows_scores.append(by_choice[tuple(slice(0 if has else 1, None) for has in outside)])
        stacked = np.array(rows_scores)
        for p in range(scorer.P):
            found[p][layout.markets[t]] = stacked[..., p]
    return found
