"""Simulated BLP data, as PyBLP's `Simulation`: variables drawn where the data leave them out, true parameters, and
prices and shares (or an exogenous characteristic) made consistent with them (`SimulationResults`)."""
