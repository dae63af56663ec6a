"""The supply side: Bertrand–Nash first-order conditions (ownership, Δ, η), markups and their derivatives, marginal
cost functions and X3 / ZS with their fixed effects."""
