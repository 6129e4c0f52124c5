"""Chapter 7: transfer learning (E9): tasks from class subsets, head replacement, freezing,
per-group learning rates, fine-tuning and the ready mnist10k experiment."""

import numpy as np
import pytest

from minicompress.compress.transfer import (
    class_subset,
    few_per_class,
    fine_tune,
    head_index,
    param_groups,
    replace_head,
    transfer_experiment,
)
from minicompress.models import build, mlp
from minicompress.nn import Linear
from minicompress.optim import Adam
from minicompress.training import evaluate, fit

pytestmark = pytest.mark.transfer


def test_class_subset_relabels_in_the_given_order():
    x = np.arange(10, dtype=np.float32)[:, None]
    y = np.array([5, 0, 7, 5, 9, 1, 7, 0, 2, 9])
    xs, ys = class_subset(x, y, [7, 5])
    np.testing.assert_array_equal(xs[:, 0], [0, 2, 3, 6])
    np.testing.assert_array_equal(ys, [1, 0, 1, 0])
    _, kept = class_subset(x, y, [7, 5], relabel=False)
    np.testing.assert_array_equal(kept, [5, 7, 5, 7])
    with pytest.raises(ValueError, match=r"no samples of class\(es\) \[3\]"):
        class_subset(x, y, [3, 5])
    with pytest.raises(ValueError, match="distinct"):
        class_subset(x, y, [5, 5])


def test_few_per_class_is_balanced_seeded_and_checked(mnist10k):
    x, y = mnist10k[0], mnist10k[1]
    xa, ya = few_per_class(x, y, 7, seed=3)
    xb, yb = few_per_class(x, y, 7, seed=3)
    assert np.bincount(ya).tolist() == [7] * 10
    np.testing.assert_array_equal(xa, xb)
    assert not np.array_equal(few_per_class(x, y, 7, seed=4)[0], xa)
    with pytest.raises(ValueError, match="fewer than per_class"):
        few_per_class(x[:30], y[:30], 20)
    with pytest.raises(ValueError, match="positive integer"):
        few_per_class(x, y, 0)


def test_replace_head_keeps_the_body_and_leaves_the_source_alone():
    source = build("lenet5", seed=0)
    before = source.state_dict()
    target = replace_head(source, 5, seed=1)
    assert head_index(target) == 11 and target[11].out_features == 5 and source[11].out_features == 10
    for name, value in target.state_dict().items():
        if not name.startswith("11."):
            np.testing.assert_array_equal(value, before[name])
    target[0].weight.data += 1.0  # a copy, not shared weights
    np.testing.assert_array_equal(source[0].weight.data, before["0.weight"])
    block = replace_head(source, 5, head_from=7)
    assert not np.array_equal(block[7].weight.data, before["7.weight"])
    np.testing.assert_array_equal(block[3].weight.data, before["3.weight"])
    with pytest.raises(ValueError, match="head_from must be in"):
        replace_head(source, 5, head_from=12)
    with pytest.raises(ValueError, match="positive integer"):
        replace_head(source, 0)


def test_param_groups_freeze_or_split_learning_rates():
    model = mlp([784, 16, 8, 3], seed=0)
    groups = param_groups(model, head_lr=1e-2, body_lr=None)
    assert len(groups) == 1 and list(map(id, groups[0]["params"])) == list(map(id, model[5].parameters()))
    assert not model[1].weight.requires_grad and model[5].weight.requires_grad
    groups = param_groups(model, head_lr=1e-2, body_lr=1e-4)
    assert [g["lr"] for g in groups] == [1e-4, 1e-2]
    assert all(p.requires_grad for p in model.parameters())
    assert len(groups[0]["params"]) == 4 and len(groups[1]["params"]) == 2
    with pytest.raises(ValueError, match="body_lr must be a finite learning rate"):
        param_groups(model, 1e-3, -1.0)


def _tiny(mnist10k):
    x, y = class_subset(mnist10k[0][:600], mnist10k[1][:600], [5, 6, 7, 8, 9])
    return x, y


def test_head_only_fine_tuning_leaves_the_body_untouched(mnist10k):
    x, y = _tiny(mnist10k)
    model = replace_head(mlp([784, 32, 10], seed=0), 5)
    body = model[1].weight.data.copy()
    head = model[3].weight.data.copy()
    fine_tune(model, x, y, strategy="head", epochs=2, progress=False)
    np.testing.assert_array_equal(model[1].weight.data, body)
    assert not np.array_equal(model[3].weight.data, head)
    with pytest.raises(ValueError, match="freezes the body"):
        fine_tune(model, x, y, strategy="head", body_lr=1e-4)
    with pytest.raises(ValueError, match="strategy must be one of"):
        fine_tune(model, x, y, strategy="everything")


def test_full_fine_tuning_moves_the_body_less_at_a_smaller_rate(mnist10k):
    x, y = _tiny(mnist10k)
    moves = []
    for body_lr in (1e-5, 1e-3):
        model = replace_head(mlp([784, 32, 10], seed=0), 5)
        start = model[1].weight.data.copy()
        fine_tune(model, x, y, strategy="full", head_lr=1e-3, body_lr=body_lr, epochs=1, progress=False)
        moves.append(np.abs(model[1].weight.data - start).max())
    assert 0 < moves[0] < moves[1] / 10


def test_a_pretrained_body_gives_a_head_useful_features(mnist10k):
    # Source 0-4, target 5-9 with 20 labels per class: LeNet-5's last hidden layer (84 units),
    # frozen, from a network trained on 0-4 against the same architecture at random init.
    # Only the features differ; a linear head on the trained ones must do better on unseen
    # digits (measured: 0.52 vs 0.24). The benchmark compares with training from scratch.
    x_train, y_train, x_test, y_test = mnist10k
    xs, ys = class_subset(x_train[:3000], y_train[:3000], range(5))
    xt, yt = few_per_class(*class_subset(x_train, y_train, range(5, 10)), 20, seed=0)
    xt_test, yt_test = class_subset(x_test, y_test, range(5, 10))
    source = replace_head(build("lenet5", seed=0), 5)
    fit(source, Adam(source.parameters()), xs, ys, epochs=1, progress=False)
    accs = []
    for body in (source, replace_head(build("lenet5", seed=0), 5)):
        model = replace_head(body, 5, seed=1)
        fine_tune(model, xt, yt, strategy="head", head_lr=3e-3, epochs=20, progress=False)
        accs.append(evaluate(model, xt_test, yt_test)["accuracy"])
    assert accs[0] > accs[1] + 0.1, accs


def test_transfer_experiment_reports_every_variant(mnist10k):
    r = transfer_experiment(mnist10k, arch="mlp", labels_per_class=10, source_epochs=1, target_epochs=3,
                            progress=False)
    for key in ("scratch", "scratch_best", "head_only", "classifier_only", "full_finetune"):
        assert 0.2 < r[f"{key}_accuracy"] <= 1.0, (key, r)  # 5 classes: chance is 0.2
    assert r["source_accuracy"] > 0.9 and r["n_target_train"] == 50
    assert r["scratch_best_accuracy"] >= r["scratch_accuracy"]
    with pytest.raises(ValueError, match="arch must be one of"):
        transfer_experiment(mnist10k, arch="resnet")


def test_head_index_needs_a_linear_layer():
    from minicompress.nn import Flatten, ReLU, Sequential

    with pytest.raises(ValueError, match="no Linear layer"):
        head_index(Sequential(Flatten(), ReLU()))
    assert isinstance(build("doc001-mlp")[head_index(build("doc001-mlp"))], Linear)
