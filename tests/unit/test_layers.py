"""Imports run one way (docs/concepts/design.md): only the argued-for ones run upward."""

import importlib.util

from tests.conftest import ROOT


def test_no_import_runs_upward_unless_argued_for():
    spec = importlib.util.spec_from_file_location("check_layers", ROOT / "scripts" / "check_layers.py")
    check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(check)
    found = check.upward()
    assert len(found) <= 3
    assert [f for f in found if (f[0], f[2]) not in check.ALLOWED] == []
