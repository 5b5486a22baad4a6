"""A feedforward-tied energy-based model (ff-EBM): three hard-sigmoid Hopfield blocks joined
by affine feedforward maps (THEORY.md §7).

    block k:  E_k = ½‖h_k‖² + ½‖o_k‖² − h_kᵀU_k x_k − o_kᵀW_k h_k − c_kᵀh_k − d_kᵀo_k,
              states in [0, 1];
    maps:     x_2 = V_2 o_1 + e_2,   x_3 = V_3 o_2 + e_3;
    cost:     C = ½‖o_3 − y‖².

Learning: centered EP in each block, from the last to the first, nudged by the cost (last
block) or by the error signal δ_k backpropagated through the next map. The tests compare it
with autograd through the relaxed chain (implicit differentiation per block).
"""

import sympy as sp

from glep import Energy, EnergyChain, EnergyCost, FeedForward

n_in = 4
n_blocks = 3
hidden = 5  # hidden units of each block
width = 4  # output units of the inner blocks
n_out = 3  # output units of the last block
samples = 3
seed = 0

widths = [(hidden, width)] * (n_blocks - 1) + [(hidden, n_out)]  # (hidden, output) per block
blocks, maps, biases = [], [], {}
size = n_in
for k, (n_h, out) in enumerate(widths, start=1):
    x = sp.MatrixSymbol(f"x{k}", size, 1)
    h = sp.MatrixSymbol(f"h{k}", n_h, 1)
    o = sp.MatrixSymbol(f"o{k}", out, 1)
    U = sp.MatrixSymbol(f"U{k}", n_h, size)
    W = sp.MatrixSymbol(f"W{k}", out, n_h)
    c = sp.MatrixSymbol(f"c{k}", n_h, 1)
    d = sp.MatrixSymbol(f"d{k}", out, 1)
    biases.update({c: [0.3] * n_h, d: [0.2] * out})
    energy = h.T * h / 2 + o.T * o / 2 - h.T * U * x - o.T * W * h - c.T * h - d.T * o
    blocks.append(Energy(energy, states=[h, o], params=[U, W, c, d], inputs=[x], outputs=[o],
                         box=(0, 1)))
    if k > 1:
        V = sp.MatrixSymbol(f"V{k}", size, widths[k - 2][1])
        e = sp.MatrixSymbol(f"e{k}", size, 1)
        biases[e] = [0.1] * size
        maps.append(FeedForward(weight=V, bias=e))
    if k == 1:
        x_in = x
    size = out
    y = sp.MatrixSymbol("y", out, 1)

images = [[(0.37 * (i + 1) * (j + 2)) % 1.0 for j in range(n_in)] for i in range(samples)]
labels = [[1.0 if k == i % widths[-1][1] else 0.0 for k in range(widths[-1][1])]
          for i in range(samples)]

problem = EnergyChain(
    blocks, maps, EnergyCost((o - y).T * (o - y) / 2, targets=[y]),
    params=biases, inputs={x_in: images}, targets={y: labels}, relaxation="async", seed=seed,
)
