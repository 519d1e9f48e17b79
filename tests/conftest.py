"""Fixtures shared by several test files, one section per group of files.

Library imports happen inside the fixtures, so that a module that fails to import breaks only the
tests that use it, not the collection of every file.
"""

from __future__ import annotations

import inspect

import pytest

# --- exercises: reference solutions and diagnoses (tests/test_exercises_*.py) ---------------------


def notebook_names() -> dict:
    """The names a chapter's notebook has imported when the learner types the printed solution."""
    import math

    import torch
    import torch.nn.functional as F

    from vswin_edu.relpos import window_coords
    from vswin_edu.shift import cyclic_shift, region_ids, reverse_cyclic_shift, shifted_window_mask
    from vswin_edu.windows import effective_window, pad_to_window, window_partition, window_reverse

    return dict(
        torch=torch,
        F=F,
        math=math,
        region_ids=region_ids,
        window_partition=window_partition,
        shifted_window_mask=shifted_window_mask,
        effective_window=effective_window,
        pad_to_window=pad_to_window,
        window_reverse=window_reverse,
        window_coords=window_coords,
        cyclic_shift=cyclic_shift,
        reverse_cyclic_shift=reverse_cyclic_shift,
    )


def reference_solution(id: str):
    """The one function defined by the registered (printed) solution of exercise ``id``."""
    from vswin_edu.exercises import registry

    imported = notebook_names()
    namespace = dict(imported)
    exec(registry()[id].solution, namespace)
    functions = [v for k, v in namespace.items() if k not in imported and inspect.isfunction(v)]
    assert len(functions) == 1, f"the solution of {id} defines {functions}"
    return functions[0]


def wrong_answer_diagnosis(id: str, answer) -> str:
    """The printed report on a wrong answer to exercise ``id``, after checking that it is one."""
    from vswin_edu.exercises import check

    report = check(id, answer, verbose=False)
    assert not report.ok, f"{id} accepted a wrong answer"
    assert report.attempted, f"{id} took a wrong answer for a stub"
    return str(report)


@pytest.fixture(scope="session")
def solution():
    """``solution(id)``: the reference solution of exercise ``id``, as a function."""
    return reference_solution


@pytest.fixture(scope="session")
def diagnosis():
    """``diagnosis(id, wrong_answer)``: the report's text; fails the test if the answer passed."""
    return wrong_answer_diagnosis


# --- chapter 13: a small model's state dict (test_convert_browse.py, test_widgets.py) -------------


@pytest.fixture(scope="module")
def micro_sd():
    """The state dict of a seeded ``build("micro")`` (310,934 parameters)."""
    import torch

    from vswin_edu.model import build

    torch.manual_seed(0)
    return build("micro").state_dict()


# --- the fast route's caches (tests/test_fast.py) --------------------------------------------------


@pytest.fixture
def fresh_caches():
    """Empty every cache of :mod:`vswin_edu.fast` before (and after) the test, so that a test of a
    cache sees it built by the test itself and cannot pass on what another test left there."""
    from vswin_edu.fast import clear_caches

    clear_caches()
    yield
    clear_caches()
