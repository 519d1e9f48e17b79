"""The exercise machinery: stubs are recognised, reports and hints behave as documented."""

from vswin_edu.exercises import TODO, check, registry
from vswin_edu.exercises._core import _is_stub


def stub_with_long_docstring(x):
    """A learner's stub.

    Its docstring spans several lines, with a blank one.
    """
    # TODO: write me
    return TODO


def not_a_stub(x):
    return x


def test_stubs_are_recognised_whatever_their_docstring():
    assert _is_stub(stub_with_long_docstring)
    assert not _is_stub(not_a_stub)
    assert not _is_stub(len)  # builtins have no source


def test_every_chapter_registers_exercises_and_stubs_are_not_attempted(capsys):
    ids = registry()
    assert len(ids) >= 2 * 8
    first = sorted(ids)[0]
    report = check(first, stub_with_long_docstring)
    assert not report.ok and not report.attempted
    assert "not attempted yet" in capsys.readouterr().out
    assert not check(first, TODO, verbose=False).attempted
