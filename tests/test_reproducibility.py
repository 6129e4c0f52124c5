"""What the README promises about reproducibility, measured.

* Bit-identical on one machine with one set of library versions and one BLAS thread count: the
  same seed gives the same weights, byte for byte (checksum), not merely the same accuracy.
* Across CPUs, within a band: another CPU's BLAS kernel rounds differently (another summation
  order, FMA or not), so the weights drift by a few units in the last place and training follows
  a nearby path. The test simulates that drift (every initial weight moved one ulp up or down,
  at random) and measures how far the accuracy moves; and it holds the accuracy of the fixed
  recipe to the band around the value stored here, so that on another machine it checks the
  band, not exact digits.

The stored value was measured on the development machine (2-core AMD EPYC, AVX-512 VNNI,
numpy 2.x with OpenBLAS, one BLAS thread): LeNet-300-100, seed 0, Adam lr 1e-3, batch 64,
3 epochs on mnist10k: 93.55 % test accuracy. The band, 0.5 points (10 of the 2,000 test digits),
is the README's; the issue that asked for it saw at most 0.2 points between two x86 machines.
"""

import numpy as np
import pytest

from minicompress.data import load_mnist10k
from minicompress.io import model_checksum
from minicompress.models import build
from minicompress.optim import Adam
from minicompress.training import evaluate, fit

pytestmark = [pytest.mark.training, pytest.mark.slow]

STORED_ACCURACY = 0.9355  # the recipe of the trained_lenet300 fixture, on the development machine
BAND = 0.005  # the README's tolerance across CPUs: 0.5 points of test accuracy


def _train(perturb_seed=None):
    x_train, y_train, x_test, y_test = load_mnist10k()
    model = build("lenet-300-100", seed=0)
    if perturb_seed is not None:
        rng = np.random.default_rng(perturb_seed)
        for p in model.parameters():
            away = np.where(rng.random(p.data.shape) < 0.5, np.inf, -np.inf).astype(p.data.dtype)
            p.data = np.nextafter(p.data, away)  # one ulp: the size of a rounding difference
    fit(model, Adam(model.parameters(), lr=1e-3), x_train, y_train, epochs=3, seed=0, progress=False)
    return model, evaluate(model, x_test, y_test)["accuracy"]


def test_the_same_seed_gives_bit_identical_weights(trained_lenet300):
    model, _ = _train()
    assert model_checksum(model) == model_checksum(trained_lenet300)


def test_the_recipe_lands_in_the_stored_band(trained_lenet300, mnist10k):
    accuracy = evaluate(trained_lenet300, mnist10k[2], mnist10k[3])["accuracy"]
    assert abs(accuracy - STORED_ACCURACY) <= BAND, (
        f"{accuracy:.4f} is outside {STORED_ACCURACY} +- {BAND}: not the rounding of another CPU")


def test_rounding_drift_moves_accuracy_less_than_the_band(trained_lenet300, mnist10k):
    base = evaluate(trained_lenet300, mnist10k[2], mnist10k[3])["accuracy"]
    for seed in (1, 2):
        model, accuracy = _train(perturb_seed=seed)
        assert model_checksum(model) != model_checksum(trained_lenet300)  # the drift is real...
        assert abs(accuracy - base) <= BAND  # ...and stays in the band
