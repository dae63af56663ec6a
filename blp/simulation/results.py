"""`SimulationResults`: a solved simulation, as PyBLP's. Post-estimation (elasticities, costs, prices, surpluses, ...)
runs at the true parameters on the solved data; `to_problem` turns the data into a `Problem` with default
instruments (`blp.simulation.instruments`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional, Sequence

import numpy as np
import pandas as pd

from blp.configurations.formulation import Formulation
from blp.configurations.integration import Integration
from blp.estimation.problem import Problem
from blp.exceptions import SpecificationError
from blp.pickling import Pickled
from blp.primitives.products import DataLike
from blp.simulation.economy import Economy
from blp.simulation.instruments import with_default_instruments
from blp.simulation.profits import by_market, profit_derivatives
from blp.simulation.records import to_records
from blp.simulation.summary import results_summary

if TYPE_CHECKING:  # the simulation builds its results: a back-reference for the type checker only
    from blp.simulation.simulation import Simulation

ATTRIBUTES = ('product_data', 'delta', 'costs', 'computation_time', 'fp_converged', 'fp_iterations',
              'contraction_evaluations', 'profit_gradients', 'profit_gradient_norms', 'profit_hessians',
              'profit_hessian_eigenvalues')


class SimulationResults(Economy, Pickled):
    """Prices and shares (or exogenous characteristics) consistent with the true parameters, and PyBLP's
    post-estimation methods at them. Per-market arrays follow `Simulation.unique_market_ids` (sorted)."""

    def __init__(self, simulation: Simulation, economy: Economy, frame: pd.DataFrame, costs: np.ndarray,
                 converged: np.ndarray, iterations: np.ndarray, seconds: float, gradients: bool,
                 hessians: bool, evaluations: Optional[np.ndarray] = None) -> None:
        """`iterations` and `evaluations` per market of the fixed point solved (the same for the price equilibrium's
        simple iteration, so `evaluations` defaults to `iterations`)."""
        super().__init__(economy.problem, economy.beta, economy.nonlinear_values, economy.xi[:, 0])
        self.simulation = simulation
        self._frame = frame
        self.product_data = to_records(frame)
        self.costs = costs.reshape(-1, 1)
        order = self._market_order
        self.fp_converged = converged[order].copy()
        self.fp_iterations = iterations[order].copy()
        self.contraction_evaluations = (iterations if evaluations is None else evaluations)[order].copy()
        self.computation_time = seconds
        self.profit_gradients: dict = {}
        self.profit_gradient_norms: dict = {}
        self.profit_hessians: dict = {}
        self.profit_hessian_eigenvalues: dict = {}
        if gradients or hessians:
            self._profit_conditions(gradients, hessians)

    def _profit_conditions(self, gradients: bool, hessians: bool) -> None:
        layout = self._layout
        firm_ids = self.problem.products.firm_ids
        if firm_ids is None:
            return  # custom ownership only: PyBLP's per-firm conditions need firms
        codes, firms = pd.factorize(pd.Series(firm_ids, dtype=object), sort=True)
        model = self._model
        assert model.prices is not None  # a simulation always has prices
        padded_codes = layout.pad(codes.astype(float), fill=-1).astype(np.intp)
        found, second = profit_derivatives(model, model.prices, layout.pad(self.costs[:, 0]), padded_codes, hessians)
        markets, order = layout.markets, self._market_order
        if gradients:
            self.profit_gradients = by_market(found, markets, np.asarray(firms), order)
            self.profit_gradient_norms = {market: {firm: float(np.abs(values).max()) for firm, values in by.items()}
                                          for market, by in self.profit_gradients.items()}
        if hessians and any(second):
            self.profit_hessians = by_market(second, markets, np.asarray(firms), order)
            self.profit_hessian_eigenvalues = {market: {firm: np.linalg.eigvalsh(matrix) for firm, matrix in
                                                        by.items()} for market, by in self.profit_hessians.items()}

    def __repr__(self) -> str:
        """PyBLP's `Simulation Results Summary` table (`blp.simulation.summary`)."""
        return results_summary(self)

    def to_dict(self, attributes: Sequence[str] = ATTRIBUTES) -> dict[str, Any]:
        """The named attributes, as PyBLP's `to_dict`."""
        return {name: getattr(self, name) for name in attributes}

    def to_problem(self, product_formulations: Optional[Formulation | Sequence[Optional[Formulation]]] = None,
                   product_data: Optional[DataLike] = None, agent_formulation: Optional[Formulation] = None,
                   agent_data: Optional[DataLike] = None, integration: Optional[Integration] = None,
                   rc_types: Optional[Sequence[str]] = None, epsilon_scale: Optional[float] = None,
                   costs_type: Optional[str] = None, add_exogenous: bool = True) -> Problem:
        """A `Problem` on the solved data, by default with the simulation's formulations and agents and PyBLP's
        default "sums of characteristics" instruments and `epsilon_scale`."""
        if not add_exogenous:
            raise SpecificationError('exogenous characteristics are always instruments (add_exogenous=True)',
                                     parameter='add_exogenous')
        simulation = self.simulation
        formulations = simulation.product_formulations if product_formulations is None else product_formulations
        if product_data is None:
            X1, X3 = simulation.product_formulations[0], simulation.product_formulations[2]
            assert X1 is not None  # the simulation refuses a missing X1
            product_data = with_default_instruments(self._frame, X1, X3)
        if agent_formulation is None:
            agent_formulation = simulation.agent_formulation
        if agent_data is None and integration is None:
            agent_data = simulation._agents
        return Problem(formulations, product_data, agent_formulation, agent_data, integration,
                       simulation.rc_types if rc_types is None else rc_types,
                       simulation.epsilon_scale if epsilon_scale is None else epsilon_scale,
                       simulation.costs_type if costs_type is None else costs_type)
