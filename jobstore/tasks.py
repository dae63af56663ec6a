"""Celery task names: the API publishes by name and the worker registers under these, so neither imports the other."""

ESTIMATE, MULTISTART, COUNTERFACTUAL = 'blp.estimate', 'blp.multistart', 'blp.counterfactual'
MULTISTART_START, MULTISTART_FINALIZE = 'blp.multistart.start', 'blp.multistart.finalize'
# What `POST /v1/jobs` and counterfactuals publish, by job kind.
BY_KIND = {'estimate': ESTIMATE, 'multistart': MULTISTART, 'counterfactual': COUNTERFACTUAL}
