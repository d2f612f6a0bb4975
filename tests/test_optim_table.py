"""The table of rules (fastgd/optim/table.py) against the classes and the reference.

The classes' signatures hold the defaults the table states, for the fast and the reference
classes alike; every option of a row reaches the C rule (a field or a state slot reads
it); and the parity tests are strong enough to catch a broken mapping: each field of each
row is broken on purpose here, and the registry's cases must see it."""
import dataclasses
import inspect

import numpy as np
import pytest

import fastgd
from fastgd import reference
from fastgd.optim import _optim, table
from registry import CASES, Case

ROWS = {row.cls_name: row for row in table.ROWS}


def _signature_defaults(cls):
    return {k: p.default for k, p in inspect.signature(cls).parameters.items()
            if p.default is not inspect.Parameter.empty and k != "n_threads"}


@pytest.mark.parametrize("name", sorted(ROWS))
def test_signatures_hold_the_tables_defaults(name):
    row = ROWS[name]
    assert _signature_defaults(fastgd.optim.OPTIMIZERS[name]) == row.defaults
    assert _signature_defaults(reference.OPTIMIZERS[name]) == row.defaults
    p = np.zeros(3)
    assert fastgd.optim.OPTIMIZERS[name]([p]).defaults == {**row.defaults, **row.fixed}
    assert reference.OPTIMIZERS[name]([p]).defaults == {**row.defaults, **row.fixed}


@pytest.mark.parametrize("name", sorted(ROWS))
def test_every_option_reaches_the_rule_and_is_tried(name):
    row = ROWS[name]
    read = {f.option for f in row.fields.values()}
    read |= {s.when for s in row.state if s.when} | {s.init for s in row.state if s.init}
    assert read == set(row.options)
    assert set(row.fields) <= _optim.STEP_FIELDS
    varied = {k for v in row.variants for k, value in v.items() if value != row.defaults[k]}
    assert varied == set(row.defaults) - {"lr"} or varied == set(row.defaults)


def test_rule_ids_come_from_the_compiled_enum():
    assert {int(r.rule) for r in table.ROWS} == {int(e) for e in _optim.fg_rule}
    assert table.by_name("adam").rule == _optim.fg_rule.FG_ADAM


def test_unknown_fg_step_field_is_refused():
    with pytest.raises(ValueError, match="unknown"):
        _optim.Rule({"rule": 2, "lr": 0.1, "beta_2": 0.9})


def _parity_holds(case):
    from test_optim_parity import run_pair
    # flush_subnormal_state only acts on state near the subnormal range
    inputs = ("normal", "tiny") if case.kwargs.get("flush_subnormal_state") else ("normal",)
    try:
        for dtype in (np.float32, np.float64):
            for kind in inputs:   # RAdam rectifies from t=6
                run_pair(case, [(7,), (3, 2)], dtype, seed=1, steps=8, inputs=kind)
    except AssertionError:
        return False
    return True


def _broken_rows():
    """(description, row with one field broken): the field dropped (0 in C), or read from
    another option of the same row."""
    for row in table.ROWS:
        for field in row.fields:
            if field == "lr":
                continue
            yield f"{row.cls_name}: {field} dropped", dataclasses.replace(
                row, fields={k: f for k, f in row.fields.items() if k != field})


@pytest.mark.parametrize("description, broken", list(_broken_rows()),
                         ids=[d for d, _ in _broken_rows()])
def test_a_broken_mapping_fails_the_parity_tests(description, broken, monkeypatch):
    cls = fastgd.optim.OPTIMIZERS[broken.cls_name]
    monkeypatch.setattr(cls, "_row", broken)
    cases = [Case(broken, c.kwargs) for c in CASES if c.name == broken.cls_name]
    assert not all(_parity_holds(c) for c in cases), f"{description}: no case noticed"
