"""Shared pytest setup: hypothesis profiles and the ``--candidate`` option.

Profiles: ``ci`` (no deadline, derandomized so a CI run is reproducible) is
loaded when the environment variable ``CI`` is set; ``dev`` otherwise.
Select one by hand with ``HYPOTHESIS_PROFILE=dev|ci``.
"""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    deadline=None,
    derandomize=True,
    max_examples=60,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "dev",
    deadline=None,
    max_examples=60,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


def pytest_addoption(parser):
    parser.addoption(
        "--candidate",
        action="store",
        default=None,
        metavar="PATH.py",
        help="run the equation tests (-m equations) against a learner's file instead of "
        "minicompress.equations; functions are named by E-id, see tutorials/exercises/template.py",
    )
