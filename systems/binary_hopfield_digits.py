"""A layered Hopfield network with binary synapses (and optionally binary hidden neurons),
sized for scikit-learn's digits (Laydevant et al. 2021):

    E = ½‖h‖² + ½‖o‖² − hᵀ(α1·W1)x − oᵀ(α2·W2)h − b1ᵀh − b2ᵀo,   W ∈ {±1},  s ∈ [0, 1],
    C = ½‖o − y‖²

``binary=[W1, W2]`` declares the weights as signs with a per-layer scale ``alpha_W1``,
``alpha_W2`` (initialised to the mean |W| of the float draw); ``--set activations=True`` also
makes the hidden layer emit H(h − ½), relaxed by s ← (1 − γ_n)s + γ_n·clip(…) with γ_n = 0.5
(gradient flow with step 0.5) for at most 40 steps (the dynamics may cycle instead of
converging: the paper's fixed number of steps); ``--set hidden_bias=0.2`` starts the hidden
biases nearer the threshold ½ of binary neurons (more of them start active). The output
layer stays continuous (the cost reads it). Train the signs with the flip rule: ``glep train
systems/binary_hopfield_digits.py --data digits --optimizer flip`` (the README's binary
section).
"""

import random

import sympy as sp

from glep import Energy, EnergyCost, EnergyProblem

n_in = 64
hidden = 32
n_out = 10
samples = 4
seed = 0
activations = False
#: the hidden layer's initial bias (binary neurons start less silent nearer their threshold ½)
hidden_bias = 0.1

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
           box=(0, 1), binary=[W1, W2, h] if activations else [W1, W2]),
    EnergyCost((o - y).T * (o - y) / 2, targets=[y]),
    params={b1: [hidden_bias] * hidden, b2: [0.1] * n_out},
    inputs={x: images},
    targets={y: labels},
    relaxation="gradient" if activations else "async",
    step=0.5,
    max_iterations=40 if activations else 100_000,
    seed=seed,
)
