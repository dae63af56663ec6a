"""The contract between the API and the worker: settings, the Redis job and dataset store, task names,
problem details and the stored dataset form. Imports neither FastAPI nor worker code."""
