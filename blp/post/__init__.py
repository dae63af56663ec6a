"""Post-estimation on an estimate: market arguments, choice probabilities at other prices, elasticities and diversion,
markups and costs, equilibrium prices for counterfactuals, optimal instruments and the parametric bootstrap."""
