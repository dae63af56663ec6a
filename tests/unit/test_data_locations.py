"""`blp.data` names PyBLP's example data under PyBLP's names, so `pyblp.data.X_LOCATION` ports by renaming."""

import filecmp
from pathlib import Path

import pyblp
import pytest

import blp

LOCATIONS = [name for name in dir(pyblp.data) if name.endswith('_LOCATION')]


def test_every_pyblp_location_is_named():
    assert len(LOCATIONS) == 8
    assert sorted(name for name in dir(blp.data) if name.endswith('_LOCATION')) == sorted(LOCATIONS)


@pytest.mark.parametrize('name', LOCATIONS)
def test_each_location_holds_pyblp_s_file_unchanged(name):
    ours, theirs = Path(getattr(blp.data, name)), Path(getattr(pyblp.data, name))
    assert ours.is_file() and ours.parent.name == 'data' and ours.parent.parent.name == 'blp'
    assert filecmp.cmp(ours, theirs, shallow=False), f'{ours.name} differs from PyBLP 1.3.0 file'


def test_the_licence_ships_beside_the_data():
    licence = Path(blp.data.__file__).with_name('LICENSE-pyblp.txt').read_text()
    assert 'Gortmaker' in licence and 'Permission is hereby granted' in licence
