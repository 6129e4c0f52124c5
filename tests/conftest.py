"""Shared pytest setup: hypothesis profiles and the ``--candidate`` option.

Profiles: ``ci`` (no deadline, derandomized so a CI run is reproducible) is
loaded when the environment variable ``CI`` is set; ``dev`` otherwise.
Select one by hand with ``HYPOTHESIS_PROFILE=dev|ci``.
"""

import os

# One BLAS thread, as the command line uses (why: minicompress/cli/blas.py); before NumPy loads.
from minicompress.cli.blas import use_one_blas_thread  # noqa: E402

use_one_blas_thread()

from hypothesis import HealthCheck, settings  # noqa: E402

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


# ---------------------------------------------------------------- shared data and models
import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(scope="session")
def mnist10k():
    """(x_train, y_train, x_test, y_test) of the built-in dataset (read-only arrays)."""
    from minicompress.data import load_mnist10k

    return load_mnist10k()


@pytest.fixture(scope="session")
def trained_lenet300(mnist10k):
    """LeNet-300-100 after 3 epochs of Adam on mnist10k (about 93% test accuracy, ~1 s).

    Session-scoped: never modify it in place; take ``minicompress.io.copy_model(...)`` first.
    """
    from minicompress.models import build
    from minicompress.optim import Adam
    from minicompress.training import fit

    x_train, y_train, _, _ = mnist10k
    model = build("lenet-300-100", seed=0)
    fit(model, Adam(model.parameters(), lr=1e-3), x_train, y_train, epochs=3, seed=0, progress=False)
    return model


@pytest.fixture
def rng():
    return np.random.default_rng(0)
