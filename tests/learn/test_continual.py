"""The binarized network and task sequences of glep.learn.continual, against hand-written
references (autograd on an explicit sign network, analytic straight-through gradients)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from glep import DataError
from glep.learn.catalog import Classification
from glep.learn.continual import BNN, permuted, train_sequence
from glep.learn.optimizers import Metaplastic


def test_sign_activation_and_its_clipped_straight_through_gradient():
    net = BNN([3, 4, 2], seed=1)
    x = torch.tensor([[-2.0, -0.5, 0.5], [2.0, 0.3, -0.1], [1.0, 1.0, -1.0]],
                     requires_grad=True)
    net(x).sum().backward()
    # the same network with the signs written out and the activation's STE by hand
    w1, w2 = (torch.sign(w.detach()) for w in net.weights)
    xs = x.detach().clone().requires_grad_()
    pre = torch.nn.functional.batch_norm(xs @ w1.T, None, None, training=True)
    ste = pre + (torch.where(pre >= 0, 1.0, -1.0) - pre).detach()  # value sign, gradient 1
    ste = torch.where(pre.abs() <= 1, ste, ste.detach())           # ... where |pre| ≤ 1
    out = torch.nn.functional.batch_norm(ste @ w2.T, None, None, training=True)
    out.sum().backward()
    assert torch.allclose(net(x.detach()), out.detach(), atol=1e-6)
    assert torch.allclose(x.grad, xs.grad, atol=1e-5)


def test_hidden_weights_receive_the_gradient_of_their_signs():
    net = BNN([5, 3], seed=2)
    x = torch.randn(6, 5, generator=torch.Generator().manual_seed(0))
    target = torch.tensor([0, 1, 2, 0, 1, 2])
    torch.nn.functional.cross_entropy(net(x), target).backward()
    signs = torch.sign(net.weights[0].detach()).requires_grad_()
    out = torch.nn.functional.batch_norm(x @ signs.T, None, None, training=True)
    torch.nn.functional.cross_entropy(out, target).backward()
    assert torch.allclose(net.weights[0].grad, signs.grad, atol=1e-6)


def _blobs(n=120, features=6, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.normal(size=(n, features)) + 2.0 * y[:, None] * (np.arange(features) < 3)
    return Classification("blobs", x[:80], y[:80], x[80:], y[80:], ("a", "b"))


def test_permuted_tasks_permute_features_and_keep_labels():
    data = _blobs()
    tasks = permuted(data, 3, seed=4)
    assert [t[0] for t in tasks] == ["blobs-p0", "blobs-p1", "blobs-p2"]
    assert np.array_equal(tasks[0][1], data.x)
    for _, x, y, test_x, test_y in tasks[1:]:
        order = [int(np.flatnonzero((data.x == x[:, [j]]).all(0))[0]) for j in range(6)]
        assert sorted(order) == list(range(6)) and order != list(range(6))
        assert np.array_equal(test_x, data.test_x[:, order])
        assert np.array_equal(y, data.y) and np.array_equal(test_y, data.test_y)
    with pytest.raises(DataError, match="count"):
        permuted(data, 0)
    with pytest.raises(DataError, match="sizes"):
        BNN([4])


def test_sequence_history_reports_every_task_so_far():
    tasks = permuted(_blobs(), 2)
    net = BNN([6, 16, 2], seed=0)
    history = train_sequence(net, Metaplastic(net.parameters(), lr=0.01, meta=1.0), tasks,
                             epochs=3, batch=16)
    assert [r["task"] for r in history] == [0, 0, 0, 1, 1, 1]
    assert [len(r["accuracy"]) for r in history] == [1, 1, 1, 2, 2, 2]
    assert history[2]["accuracy"][0] > 0.8  # the first task is learnable
