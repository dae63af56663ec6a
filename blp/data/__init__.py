"""PyBLP's example data sets, under the names PyBLP gives their locations (`blp.data.NEVO_PRODUCTS_LOCATION`, ...),
so that code written for `pyblp.data` runs with the import renamed.

The CSV files are PyBLP 1.3.0's, shipped unchanged under its MIT licence (`LICENSE-pyblp.txt` beside them,
copyright Jeff Gortmaker and Christopher Conlon):

- Nevo (2000a)'s fake cereal data: products with their excluded instruments, agents with Monte Carlo weights, draws
  and demographics (from Aviv Nevo's Matlab code).
- Berry, Levinsohn and Pakes (1995/1999)'s automobile data as extracted by Andrews, Gentzkow and Shapiro (2017):
  products with BLP instruments (demand and supply), agents with importance-sampling weights, draws and income.
- Petrin (2002)'s automobile data: products with instruments, agents (1,000 scrambled Halton draws per market with
  resampled CEX demographics), the micro moments' values (Table 6a) and their sample covariances.
"""

from pathlib import Path

_DATA_PATH = Path(__file__).resolve().parent
NEVO_PRODUCTS_LOCATION = str(_DATA_PATH / 'nevo_products.csv')
NEVO_AGENTS_LOCATION = str(_DATA_PATH / 'nevo_agents.csv')
BLP_PRODUCTS_LOCATION = str(_DATA_PATH / 'blp_products.csv')
BLP_AGENTS_LOCATION = str(_DATA_PATH / 'blp_agents.csv')
PETRIN_PRODUCTS_LOCATION = str(_DATA_PATH / 'petrin_products.csv')
PETRIN_AGENTS_LOCATION = str(_DATA_PATH / 'petrin_agents.csv')
PETRIN_VALUES_LOCATION = str(_DATA_PATH / 'petrin_values.csv')
PETRIN_COVARIANCES_LOCATION = str(_DATA_PATH / 'petrin_covariances.csv')
