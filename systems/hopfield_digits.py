"""A layered Hopfield network with hard-sigmoid units, sized for scikit-learn's digits.

    E = ½‖h‖² + ½‖o‖² − hᵀW1 x − oᵀW2 h − b1ᵀh − b2ᵀo,   s ∈ [0, 1] (hard sigmoid),
    C = ½‖o − y‖²

Quadratic in each layer given its neighbours (Hessian blocks I), and no two layers of the
same parity interact: the exact block update is h ← clip(W1 x + W2ᵀo + b1), o ← clip(W2 h + b2
+ βy)/(1 + β)... clipped, and the asynchronous schedule alternates h and o. Declared with
matrix symbols: the derivation does not depend on the layer sizes. The default batch is a
handful of synthetic images; training on the real digits is bench/train_digits.py.
"""

import random

import sympy as sp

from glep import Energy, EnergyCost, EnergyProblem

n_in = 64
hidden = 32
n_out = 10
samples = 4
seed = 0

x = sp.MatrixSymbol("x", n_in, 1)
h = sp.MatrixSymbol("h", hidden, 1)
o = sp.MatrixSymbol("o", n_out, 1)
y = sp.MatrixSymbol("y", n_out, 1)
W1 = sp.MatrixSymbol("W1", hidden, n_in)
W2 = sp.MatrixSymbol("W2", n_out, hidden)
b1 = sp.MatrixSymbol("b1", hidden, 1)
b2 = sp.MatrixSymbol("b2", n_out, 1)

energy = h.T * h / 2 + o.T * o / 2 - h.T * W1 * x - o.T * W2 * h - b1.T * h - b2.T * o

rng = random.Random(seed)
images = [[rng.random() for _ in range(n_in)] for _ in range(samples)]
labels = [[1.0 if k == i % n_out else 0.0 for k in range(n_out)] for i in range(samples)]

problem = EnergyProblem(
    Energy(energy, states=[h, o], params=[W1, b1, W2, b2], inputs=[x], outputs=[o],
           box=(0, 1)),
    EnergyCost((o - y).T * (o - y) / 2, targets=[y]),
    params={b1: [0.1] * hidden, b2: [0.1] * n_out},
    inputs={x: images},
    targets={y: labels},
    relaxation="async",
    seed=seed,
)
