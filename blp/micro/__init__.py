"""Micro moments: PyBLP's `MicroDataset`, `MicroPart` and `MicroMoment` (`moments`), compiled against a problem's
markets (`compiled`), built from the JSON form (`from_spec`), and stacked as a moment block (`block`)."""
