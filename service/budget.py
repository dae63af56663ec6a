"""Keeping a request within the work budget: its cost is estimated from sizes before anything is built, and what
the API builds to check it is small and bounded in time and number.

Why: a spec can ask for millions of agents per market; building that problem inside the request once took 50 s of
CPU and 8.5 GB. Now the cost model (blp.configurations.budget) refuses it in microseconds, and the problem the API builds to check
columns, formulas and parameters uses a handful of integration nodes (the nodes change no check), so validation
costs about what the uploaded data costs to read (and happens in another process: service.numerics).
"""

from __future__ import annotations

from typing import Any, Optional

import pandas as pd

from blp.configurations.budget import check, sizes_of
from blp.exceptions import BLPError, SpecificationError
from blp.spec import EstimateSpec
from jobstore.problems import core_problem_details

# Nodes per dimension of the rule the API builds to check a spec with built agents (the worker builds the real one).
CHECK_NODES = {'product': 2, 'grid': 2}
CHECK_DRAWS = 8


def check_cost(spec: EstimateSpec, product: pd.DataFrame, agent: Optional[pd.DataFrame], budget: Any,
               starts: int = 1, draws: int = 1, draws_per_task: int = 1) -> None:
    """422 naming the sizes, the estimate and the limit (and the block or request field at fault) when the job would
    exceed the budget; also refuses a Gauss-Hermite rule that is not finite (the core says which size), all before
    any matrix is built. `draws` and `draws_per_task`: a bootstrap's draws and its draws per task."""
    from blp.configurations.integration import Integration  # scipy.special: not at the API's start, at a first check

    sizes, source = sizes_of(spec, product, agent, starts=starts, draws=draws, draws_per_task=draws_per_task)
    try:
        check(sizes, budget, 'spec.problem.' + source if source == 'integration.size' else source)
        if spec.problem.integration is not None:
            integration = spec.problem.integration
            rule = Integration(integration.specification, integration.size, seed=integration.seed)
            if agent is not None and sizes.K2:
                _enough_agent_rows(rule, sizes.K2, agent)
    except BLPError as error:  # BudgetError included: 422 `over-budget`
        raise core_problem_details(error) from None


def checkable(spec: EstimateSpec, agent: Optional[pd.DataFrame] = None) -> EstimateSpec:
    """The spec with its integration rule cut to a few nodes: what the API builds to check it. Not with agent data:
    the core then counts the agent rows of each market against the nodes the rule builds, so the rule keeps its size
    (its nodes are as many as the agent rows the request sent, and the cost check has passed)."""
    integration = spec.problem.integration
    if integration is None or agent is not None:
        return spec
    size = min(integration.size, CHECK_NODES.get(integration.specification, CHECK_DRAWS))
    problem = spec.problem.model_copy(update={'integration': integration.model_copy(update={'size': size})})
    return spec.model_copy(update={'problem': problem})


def _enough_agent_rows(rule: Any, dimensions: int, agent: pd.DataFrame) -> None:
    """With built nodes and agent data (for the demographics), every market needs at least as many agent rows as the
    rule builds: refused now, since the API checks the spec on a rule cut to a few nodes (`checkable`)."""
    _, weights = rule.build(dimensions, 1)
    counts = agent['market_ids'].value_counts()
    if int(counts.min()) < len(weights[0]):
        market = counts.idxmin()
        raise SpecificationError(f'with integration and agent_data together, every market needs at least as many agent '
                                 f'rows as the integration builds ({len(weights[0])}); market {market!r} has '
                                 f'{int(counts.min())}', parameter='spec.problem.integration.size')
