"""The pytest option ``--candidate PATH``: check a learner's file (or folder) with the course's tests.

``python -m pytest -m pruning --candidate my_pruning.py`` runs the parametrized task tests of
``tests/test_course.py`` against the learner's functions (in a child process, with time
limits) instead of the reference. Registered twice over, so that pytest knows the option
before it reads the command line (otherwise ``--candidate my_file.py`` is taken for a test
path and rejected): as the ``pytest11`` entry point of the installed package, and with
``-p minicompress.course.pytest_plugin`` in ``pyproject.toml``'s ``addopts`` (same name, so
pytest loads it once).
"""


def pytest_addoption(parser):
    parser.addoption(
        "--candidate",
        action="store",
        default=None,
        metavar="PATH",
        help="check your own implementation: a .py file or a folder of them, with functions named as in "
        "tutorials/exercises/ (run with -m CHAPTER to check one chapter); without it the reference is checked",
    )
    parser.addoption(
        "--candidate-examples",
        action="store",
        type=int,
        default=50,
        metavar="N",
        help="generated examples per task for --candidate (default 50, as minicompress check --max-examples)",
    )


def pytest_configure(config):
    config.addinivalue_line("markers", "candidate: checks the --candidate file (the only tests run with --candidate)")


def pytest_collection_modifyitems(config, items):
    # With --candidate only the learner's checks run; the library's own tests are deselected (and counted so).
    if config.getoption("candidate", None) is None:
        return
    keep = [item for item in items if item.get_closest_marker("candidate")]
    dropped = [item for item in items if not item.get_closest_marker("candidate")]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep
