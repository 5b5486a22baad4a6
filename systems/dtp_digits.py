"""A tanh multilayer perceptron on side × side images, trained by difference target
propagation with learned feedback (L-DRL; Ernoult et al. 2022) or by backpropagation:

    s_1 = tanh(W1 x + b1),  s_2 = tanh(W2 s_1 + b2),  s_3 = W3 s_2 + b3 (logits),
    ℓ = cross-entropy(s_3, label);  feedback  G_n(s) = V_nᵀ s + c_n,  n = 2, 3.

``glep train systems/dtp_digits.py --data digits --rule DTP --compare BP``; for mnist5k,
``--set side=28``.
"""

from glep import Dense, FeedforwardProblem

side = 8  # the images' side: 8 (digits) or 28 (mnist5k)
hidden = 128  # units of each hidden layer

problem = FeedforwardProblem(
    [Dense(hidden), Dense(hidden), Dense(10)], (side * side,), activation="tanh",
    cost="cross_entropy", beta=0.7, sigma=[0.1, 0.1], feedback_iterations=20,
    feedback_lr=0.05, seed=0, name="dtp_digits",
)
