"""The HTTP front end of the BLP estimator (FastAPI). `service.main:app` is the ASGI app.

`settings`, `store` and `datasets` are shared with the worker and import neither FastAPI nor the core.
"""
