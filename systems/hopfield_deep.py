"""A layered Hopfield network with two hidden layers of hard-sigmoid units (64-64-32-10 for
scikit-learn's digits; ``--set n_in=784`` for MNIST images):

    E = Σ_l ½‖s_l‖² − h1ᵀW1 x − h2ᵀW2 h1 − oᵀW3 h2 − Σ_l b_lᵀs_l,   s ∈ [0, 1],
    C = ½‖o − y‖²

Each layer's block of the Hessian is I and layers of the same parity (h1, o) do not interact:
the asynchronous schedule (h1 and o, then h2) updates each layer exactly. Train it with
``glep train systems/hopfield_deep.py --data digits`` (the recipe is in the README).
"""

import random

import sympy as sp

from glep import Energy, EnergyCost, EnergyProblem

n_in = 64
hidden1 = 64
hidden2 = 32
n_out = 10
samples = 4
seed = 0

x = sp.MatrixSymbol("x", n_in, 1)
h1 = sp.MatrixSymbol("h1", hidden1, 1)
h2 = sp.MatrixSymbol("h2", hidden2, 1)
o = sp.MatrixSymbol("o", n_out, 1)
y = sp.MatrixSymbol("y", n_out, 1)
W1 = sp.MatrixSymbol("W1", hidden1, n_in)
W2 = sp.MatrixSymbol("W2", hidden2, hidden1)
W3 = sp.MatrixSymbol("W3", n_out, hidden2)
b1 = sp.MatrixSymbol("b1", hidden1, 1)
b2 = sp.MatrixSymbol("b2", hidden2, 1)
b3 = sp.MatrixSymbol("b3", n_out, 1)

energy = (h1.T * h1 / 2 + h2.T * h2 / 2 + o.T * o / 2 - h1.T * W1 * x - h2.T * W2 * h1
          - o.T * W3 * h2 - b1.T * h1 - b2.T * h2 - b3.T * o)

rng = random.Random(seed)
images = [[rng.random() for _ in range(n_in)] for _ in range(samples)]
labels = [[1.0 if k == i % n_out else 0.0 for k in range(n_out)] for i in range(samples)]

problem = EnergyProblem(
    Energy(energy, states=[h1, h2, o], params=[W1, b1, W2, b2, W3, b3], inputs=[x],
           outputs=[o], box=(0, 1)),
    EnergyCost((o - y).T * (o - y) / 2, targets=[y]),
    params={b1: [0.0] * hidden1, b2: [0.0] * hidden2, b3: [0.0] * n_out},
    inputs={x: images},
    targets={y: labels},
    relaxation="async",
    seed=seed,
)
