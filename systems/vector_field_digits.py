"""A layered network with distinct forward and backward weights (the vector-field setting of
scaled EP), sized for scikit-learn's 8×8 digits: 64 inputs, 64 hidden units, 10 outputs,
states in [0, 1].

    F_h = −h + W1 x + B1 o + b1,   F_o = −o + W2 h + b2 − β (o − y),
    relaxation: h ← clip(W1 x + B1 o + b1), o ← clip(W2 h + b2) (one sweep).

With B1 = W2ᵀ the field is −∂E/∂s of systems/hopfield_digits.py's energy; B1 is drawn
independently, so it is the gradient of no energy. ``glep train
systems/vector_field_digits.py --data digits --rule VF-EP --compare BPTT`` (README).
"""

from glep import VectorFieldProblem

hidden = 64  # hidden units

problem = VectorFieldProblem((64, hidden, 10), beta=0.2, free_steps=30, nudged_steps=10,
                             feedback_decay=0.02, seed=0, name="vector_field_digits")
