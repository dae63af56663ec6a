"""Post-estimation on an estimate: market arguments, choice probabilities at other prices, elasticities and diversion,
markups and costs, passthrough, equilibrium prices for counterfactuals, micro values, importance sampling of agents,
optimal instruments and the parametric bootstrap."""
