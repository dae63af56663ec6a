"""One demand model for estimation and post-estimation.

- `demand.DemandModel`: delta(theta) and d delta / d theta for estimation; utilities, agents' coefficients and nests
  for post-estimation.
- `contraction`: the random-coefficients share inversion in the overflow-safe factored form (fast, estimation only).
- `choices`: logit and nested logit choice probabilities from full utilities (post-estimation).
"""

from blp.model.choices import Choices, Nests
from blp.model.demand import DemandModel, Inversion

__all__ = ['Choices', 'DemandModel', 'Inversion', 'Nests']
