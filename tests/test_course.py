"""The course's tasks: every reference passes, every known variant fails and is named, examples are right.

Parametrized over ALL of ``minicompress.course.TASKS`` (every chapter, whoever wrote it), each
test carrying its chapter's marker, so ``pytest -m pruning tests/test_course.py`` runs one chapter.
"""

import pytest

from minicompress.course import CHAPTERS, TASKS, check_function, tasks_in
from minicompress.course.task import default_compare

ALL = tasks_in()


def _marked(task):
    return pytest.param(task, id=task.id, marks=getattr(pytest.mark, task.chapter))


def _variant_params():
    return [pytest.param(t, v, id=f"{t.id}:{v.name}", marks=getattr(pytest.mark, t.chapter))
            for t in ALL for v in t.variants]


@pytest.fixture(scope="session")
def candidate(request):
    """None, or (task id -> TaskResult, import problems) for the learner's --candidate PATH.

    Every selected task is checked once, in a child process with time limits (as
    ``minicompress check`` does), before the first test reads its result.
    """
    path = request.config.getoption("candidate")
    if path is None:
        return None
    from minicompress.course.sandbox import learner_files, run_checks

    try:
        files = learner_files(path)
    except ValueError as err:
        raise pytest.UsageError(f"--candidate: {err}") from None
    ids = {item.callspec.params["task"].id for item in request.session.items
           if item.originalname == "test_task_passes"}
    results, problems = run_checks(files, [t for t in ALL if t.id in ids],
                                   max_examples=request.config.getoption("candidate_examples"))
    return {r.task_id: r for r in results}, problems


def _reference_result(task, monkeypatch):
    import minicompress.course.checking as checking

    # the reference is minicompress's own code, which a learner's file may not use: check it unflagged
    assert check_function(task, task.reference, max_examples=1).status == "uses reference"
    monkeypatch.setattr(checking, "uses_reference", lambda fn: None)
    return check_function(task, task.reference, max_examples=30)


@pytest.mark.parametrize("task", [pytest.param(t, id=t.id, marks=[getattr(pytest.mark, t.chapter), pytest.mark.candidate])
                                  for t in ALL])
def test_task_passes(task, candidate, monkeypatch):
    """The reference passes every task; with --candidate PATH, the learner's function does."""
    if candidate is None:
        result = _reference_result(task, monkeypatch)
        assert result.status == "pass", result.detail
        assert result.examples_run >= 2
        return
    results, problems = candidate
    result = results[task.id]
    if result.status != "pass":
        notes = "".join(f"\n{f}: could not be imported: {p}" for f, p in problems)
        pytest.fail(f"{task.id}: {result.status}\n{result.detail}{notes}", pytrace=False)


@pytest.mark.parametrize("task, variant", _variant_params())
def test_every_variant_fails_and_is_diagnosed_as_itself(task, variant, monkeypatch):
    import minicompress.course.checking as checking

    monkeypatch.setattr(checking, "uses_reference", lambda fn: None)  # variants live in minicompress
    result = check_function(task, variant.fn, max_examples=200)
    assert result.status == "fail", (result.status, result.detail)
    assert result.variant == variant.name, result.detail
    assert variant.diagnosis in result.detail


@pytest.mark.parametrize("task", [_marked(t) for t in ALL])
def test_hand_worked_examples_equal_the_reference(task):
    import copy

    for ex in task.examples:
        got = task.reference(**copy.deepcopy(ex.kwargs))
        if task.mutates:
            args = copy.deepcopy(ex.kwargs)
            got = task.reference(**args)
        assert default_compare(ex.expected, got) is None, (ex.note, ex.expected, got)
        assert task.compare(ex.expected, got) is None


@pytest.mark.parametrize("task", [_marked(t) for t in ALL])
def test_every_task_is_complete(task):
    assert task.chapter in CHAPTERS and task.id == f"{task.chapter}.{task.name}"
    assert task.examples and task.variants
    assert task.signature.startswith(task.name + "(")
    assert task.doc.strip()
    names = task.names
    assert len(set(names)) == len(names)


@pytest.mark.engine
def test_ids_and_names_are_unique_across_chapters():
    names = {}
    for t in TASKS.values():
        for n in t.names:
            assert n not in names or names[n] == t.id, f"{n} is used by {names.get(n)} and {t.id}"
            names[n] = t.id


@pytest.mark.engine
def test_the_readme_table_and_counts_match_the_registry():
    from pathlib import Path

    from minicompress.course.table import END, START, markdown_table

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert readme[readme.index(START) + len(START):readme.index(END)] == markdown_table(), (
        "regenerate the README table: python -m minicompress.course.table README.md")
    chapters = {t.chapter for t in ALL}
    assert f"{len(ALL)} tasks in {len(chapters)}\nchapters" in readme
    assert len(ALL) >= 45 and len(chapters) >= 8


@pytest.mark.quantization
def test_the_same_seed_gives_the_same_examples_whatever_is_imported(tmp_path, monkeypatch):
    """Hypothesis mixes numbers from the source of imported modules into its inputs; the checker
    switches that off, so a learner's file or an earlier test does not change the examples."""
    import minicompress.course.checking as checking
    from minicompress.course import get_task

    monkeypatch.setattr(checking, "uses_reference", lambda fn: None)
    task = get_task("quantization.quantized_linear")
    variant = next(v for v in task.variants if v.name == "round_half_away")
    before = check_function(task, variant.fn, max_examples=200)
    (tmp_path / "many_constants.py").write_text(  # module-level constants, as a learner's file has
        "".join(f"I{i} = {k}\n" for i, k in enumerate(range(-127, 127, 3)))
        + "".join(f"F{i} = {k / 8}\n" for i, k in enumerate(range(-400, 400, 7))))
    monkeypatch.syspath_prepend(str(tmp_path))
    __import__("many_constants")
    after = check_function(task, variant.fn, max_examples=200)
    assert (after.status, after.examples_run, after.detail) == (before.status, before.examples_run, before.detail)
