"""A deep convolutional Hopfield network (DCHN) with hard-sigmoid units, sized for
scikit-learn's 8×8 digits: a 3×3 convolution (1 → 8 channels, padding 1), 2×2 max pooling,
then a dense layer to the 10 outputs.

    E = ½‖h‖² + ½‖o‖² − ⟨h, P(W1 ⋆ x)⟩ − oᵀW2 h − b1ᵀh − b2ᵀo,   s ∈ [0, 1],
    C = ½‖o − y‖²

``h`` holds 8 channels of 4×4 pooled features (128 units); ``--set side=28`` sizes it for
MNIST (8 channels of 14×14). The feature P(W1 ⋆ x) reads the
input only, so the energy is quadratic in each layer with Hessian blocks I and h, o have
different colours: the asynchronous schedule updates each layer exactly. ∂E/∂s and ∂E/∂W1
(the transposed convolution and the max-pooling switches) are derived, not written by hand.
Train it with ``glep train systems/conv_hopfield_digits.py --data digits`` (README).
``--set binary=True`` makes the kernel and the dense weights binary (α·sign, per layer), for
the flip rule: ``--optimizer flip`` (the README's binary EP section).
"""

import random

import sympy as sp

from glep import Energy, EnergyCost, EnergyProblem, conv

side = 8
channels = 8
n_out = 10
samples = 4
seed = 0
binary = False

pooled = channels * (side // 2) ** 2
x = sp.MatrixSymbol("x", side * side, 1)
h = sp.MatrixSymbol("h", pooled, 1)
o = sp.MatrixSymbol("o", n_out, 1)
y = sp.MatrixSymbol("y", n_out, 1)
W1 = sp.MatrixSymbol("W1", channels, 9)
W2 = sp.MatrixSymbol("W2", n_out, pooled)
b1 = sp.MatrixSymbol("b1", pooled, 1)
b2 = sp.MatrixSymbol("b2", n_out, 1)

feature = conv(W1, x, image=(1, side, side), kernel=3, padding=1, pool="max", pool_size=2)
energy = h.T * h / 2 + o.T * o / 2 - h.T * feature - o.T * W2 * h - b1.T * h - b2.T * o

rng = random.Random(seed)
images = [[rng.random() for _ in range(side * side)] for _ in range(samples)]
labels = [[1.0 if k == i % n_out else 0.0 for k in range(n_out)] for i in range(samples)]

problem = EnergyProblem(
    Energy(energy, states=[h, o], params=[W1, b1, W2, b2], inputs=[x], outputs=[o],
           box=(0, 1), binary=[W1, W2] if binary else []),
    EnergyCost((o - y).T * (o - y) / 2, targets=[y]),
    params={b1: [0.0] * pooled, b2: [0.0] * n_out},
    inputs={x: images},
    targets={y: labels},
    relaxation="async",
    seed=seed,
)
