"""Reference workloads with a supply side (issue 10), each defined once and runnable in PyBLP on the very data and
agents our side will use.

A workload is a dict like those of `workloads.py` with three product formulations, plus `problem` (keyword arguments
of `Problem`, e.g. `costs_type`) and `truth` (known parameters, for the simulation). `agents_digest` fingerprints the
agent data so a test can check that it estimates on identical draws.
"""

from __future__ import annotations

import hashlib
from typing import Any, Callable

import numpy as np
import pandas as pd
from workloads import ABSORB_BOTH, ROOT, TRUST_CONSTR, _solve_arguments, cereal

FIXTURES = ROOT / 'tests' / 'reference' / 'fixtures'
SIMULATION_DATA = FIXTURES / 'supply_simulation_data.npz'

# PyBLP's tutorial "Random Coefficients Logit Tutorial with the Automobile Data": the published BLP (1995) estimates
# as starting values, pi on prices x 1/income only.
AUTOS_SIGMA = np.diag([3.612, 0, 4.628, 1.818, 1.050, 2.056])
AUTOS_PI = [[0], [-43.501], [0], [0], [0], [0]]

# The simulation's true parameters (PyBLP's simulation tutorial design on a smaller panel).
SIMULATION_TRUTH = dict(beta=[1.0, -2.0, 2.0], sigma=[[1.0]], gamma=[1.0, 4.0])
SIMULATION_SIZE = dict(T=50, J=20, F=10)


def frame_digest(frame: pd.DataFrame) -> str:
    """sha256 of a frame's column names and float values: identical draws have identical digests."""
    digest = hashlib.sha256(','.join(map(str, frame.columns)).encode())
    for column in frame.columns:
        values = frame[column].to_numpy()
        digest.update(values.astype(float).tobytes() if np.issubdtype(values.dtype, np.number)
                      else '\x1f'.join(map(str, values)).encode())
    return digest.hexdigest()


def _autos_data() -> tuple[pd.DataFrame, pd.DataFrame]:
    """PyBLP's BLP (1995) automobile data (MIT licence, shipped with pyblp, a test dependency)."""
    import pyblp
    return pd.read_csv(pyblp.data.BLP_PRODUCTS_LOCATION), pd.read_csv(pyblp.data.BLP_AGENTS_LOCATION)


def blp_autos() -> dict:
    """PyBLP's BLP-autos replication exactly as its tutorial runs it: log costs bounded below by 0.001, clustered
    weighting and SEs by `clustering_ids`, initial_update, PyBLP's default 2-step GMM and L-BFGS-B."""
    products, agents = _autos_data()
    return dict(formulations=[('1 + hpwt + air + mpd + space', None), ('1 + prices + hpwt + air + mpd + space', None),
                              ('1 + log(hpwt) + air + log(mpg) + log(space) + trend', None)],
                products=products, agent_formulation='0 + I(1 / income)', agents=agents,
                problem=dict(costs_type='log'),
                solve=dict(sigma=AUTOS_SIGMA, pi=AUTOS_PI, costs_bounds=(0.001, None), W_type='clustered',
                           se_type='clustered', initial_update=True))


def cereal_supply() -> dict:
    """Exercise 2's random-coefficients model with its supplemental supply side: linear costs on 1 + mushy. With a
    supply side alpha is not concentrated out, so `beta` gives it a starting value (PyBLP requires one)."""
    return dict(formulations=[('0 + prices', ABSORB_BOTH), ('0 + mushy + prices', None), ('1 + mushy', None)],
                products=cereal.product_data(), agent_formulation='0 + log_income', agents=cereal.agent_data(),
                problem=dict(costs_type='linear'),
                solve=dict(sigma=[[0, 0], [0, 1]], pi=[[0.2], [1]], beta=[[10]], method='1s',
                           optimization=TRUST_CONSTR))


def with_cost_shifters(workload: dict) -> dict:
    """Two excluded supply instruments (the first two demand instruments), so that the supply moments are
    over-identified and move the estimates (with X3's columns alone they are zero at every theta)."""
    products = workload['products']
    workload['products'] = products.assign(supply_instruments0=products['demand_instruments0'],
                                           supply_instruments1=products['demand_instruments1'])
    return workload


def cereal_supply_rcnl() -> dict:
    """`cereal_supply` with products nested by mushy (RCNL, one rho) and two excluded cost shifters: pi on mushy is
    fixed at zero so that the four demand instruments identify rho; 20 agents per market keep it fast. rho stops at
    its upper bound, as in PyBLP."""
    workload = cereal_supply()
    workload['products'] = workload['products'].assign(nesting_ids=workload['products']['mushy'])
    workload['agents'] = cereal.agent_data(size=20)
    workload['solve'].update(pi=[[0], [1]], rho=0.3, rho_bounds=([0], [0.8]), optimization=('l-bfgs-b', {'gtol': 1e-10}))
    return with_cost_shifters(workload)


def cereal_supply_lognormal() -> dict:
    """The lognormal price coefficient of `workloads.cereal_lognormal_prices` (beta - exp(sigma nu + pi log income),
    100 agents) with a linear-cost supply side on 1 + mushy; alpha starts near its demand-only estimate."""
    workload = cereal_supply()
    workload['formulations'][1] = ('0 + I(-prices)', None)
    workload.update(agents=cereal.agent_data(size=100), rc_types=['log'])
    workload['solve'] = dict(sigma=[[0.5]], pi=[[0.3]], beta=[[-10]], sigma_bounds=([[0]], [[2]]),
                             pi_bounds=([[-0.5]], [[0.6]]), method='1s', optimization=('l-bfgs-b', {'gtol': 1e-10}))
    return with_cost_shifters(workload)


def simulation_data() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The simulated market stored by `generate_supply_fixtures.py` (products with excluded instruments, agents)."""
    stored = np.load(SIMULATION_DATA, allow_pickle=False)

    def frame(prefix: str) -> pd.DataFrame:
        return pd.DataFrame({key[len(prefix):]: stored[key] for key in stored.files if key.startswith(prefix)})
    return frame('products/'), frame('agents/')


def simulate() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Simulate equilibrium prices and shares with PyBLP (linear costs x + z, known gamma) and build PyBLP's default
    excluded instruments (sums of characteristics over own firm and rivals, and cost shifters: `to_problem()`'s)."""
    import pyblp
    id_data = pyblp.build_id_data(**SIMULATION_SIZE)
    simulation = pyblp.Simulation(
        product_formulations=(pyblp.Formulation('1 + prices + x'), pyblp.Formulation('0 + x'),
                              pyblp.Formulation('0 + x + z')),
        product_data=id_data, beta=SIMULATION_TRUTH['beta'], sigma=SIMULATION_TRUTH['sigma'],
        gamma=SIMULATION_TRUTH['gamma'], integration=pyblp.Integration('product', 9), seed=0)
    results = simulation.replace_endogenous()
    data = results.product_data
    products = pd.DataFrame({'market_ids': data.market_ids[:, 0].astype(int),
                             'firm_ids': data.firm_ids[:, 0].astype(int), 'shares': data.shares[:, 0],
                             'prices': data.prices[:, 0], 'x': data.x[:, 0], 'z': data.z[:, 0]})
    demand, supply = results._compute_default_instruments()  # what to_problem() would use
    for name, block in (('demand_instruments', demand), ('supply_instruments', supply)):
        for k in range(block.shape[1]):
            products[f'{name}{k}'] = block[:, k]
    agents = simulation.agent_data
    agents = pd.DataFrame({'market_ids': agents.market_ids[:, 0].astype(int), 'weights': agents.weights[:, 0],
                           'nodes0': agents.nodes[:, 0]})
    return products, agents


def simulated_supply() -> dict:
    """The stored simulation estimated with the true model; sigma and alpha start away from the truth."""
    products, agents = simulation_data()
    return dict(formulations=[('1 + prices + x', None), ('0 + x', None), ('0 + x + z', None)], products=products,
                agents=agents, problem=dict(costs_type='linear'), truth=SIMULATION_TRUTH,
                solve=dict(sigma=0.5, beta=[None, -1, None], method='2s', optimization=('l-bfgs-b', {'gtol': 1e-10})))


def bootstrap_supply() -> dict:
    """`simulated_supply` on its first 12 markets in one GMM step: small enough to estimate in seconds for the
    bootstrap's reference test (`generate_bootstrap_supply_fixtures.py`)."""
    workload = simulated_supply()
    products, agents = workload['products'], workload['agents']
    workload.update(products=products[products['market_ids'] < 12].reset_index(drop=True),
                    agents=agents[agents['market_ids'] < 12].reset_index(drop=True))
    workload['solve'].update(method='1s')
    return workload


def bootstrap_supply_log() -> dict:
    """`bootstrap_supply` with log costs (bounded below by 0.001, a few are clipped); sigma ends at its zero bound."""
    workload = bootstrap_supply()
    workload['problem'] = dict(costs_type='log')
    workload['solve'].update(costs_bounds=(0.001, None))
    return workload


SUPPLY_WORKLOADS: dict[str, Callable[[], dict]] = {
    'supply_simulation': simulated_supply,
    'supply_cereal': cereal_supply,
    'supply_blp_autos': blp_autos,
    'supply_cereal_rcnl': cereal_supply_rcnl,
    'supply_cereal_lognormal': cereal_supply_lognormal,
}


def run_blp(workload: dict) -> Any:
    import blp
    formulations = [None if formulation is None else blp.Formulation(*formulation)
                    for formulation in workload['formulations']]  # None: no X2 (logit)
    agent_formulation = blp.Formulation(workload['agent_formulation']) if 'agent_formulation' in workload else None
    problem = blp.Problem(formulations, workload['products'], agent_formulation, workload.get('agents'),
                          rc_types=workload.get('rc_types'), **workload.get('problem', {}))
    return problem.solve(**_solve_arguments(workload['solve'], blp))


def run_pyblp(workload: dict) -> Any:
    import pyblp
    pyblp.options.verbose = False
    formulations = [None if formulation is None else pyblp.Formulation(formulation[0], absorb=formulation[1])
                    for formulation in workload['formulations']]
    agent_formulation = pyblp.Formulation(workload['agent_formulation']) if 'agent_formulation' in workload else None
    problem = pyblp.Problem(formulations, workload['products'], agent_formulation, workload.get('agents'),
                            rc_types=workload.get('rc_types'), **workload.get('problem', {}))
    return problem.solve(**_solve_arguments(workload['solve'], pyblp))
