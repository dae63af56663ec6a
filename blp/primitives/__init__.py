"""Product and agent data as the core holds them: validated columns with the market layout, fixed effects to absorb,
numbered columns (`demand_instruments0..`) and the instruments built from characteristics.

Named after PyBLP's `primitives`; `blp.data` stays free for PyBLP's bundled data sets."""
