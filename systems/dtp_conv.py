"""A small convolutional network on 8 × 8 images (one channel), trained by difference target
propagation with learned feedback (L-DRL) or by backpropagation; its convolution's feedback
layer is the transposed convolution with the same kernel size, stride and padding:

    s_1 = elu(conv_{3×3, pad 1}(x; W1) + b1)              (8 channels, 8 × 8)
    s_2 = elu(conv_{3×3, stride 2, pad 1}(s_1; W2) + b2)  (16 channels, 4 × 4)
    s_3 = W3 s_2 + b3 (logits)
    G_2(s) = conv_transposed(s; V2) + c2,  G_3(s) = V3ᵀ s + c3.

``glep train systems/dtp_conv.py --data digits --rule DTP --compare BP``.
"""

from glep import Conv2d, Dense, FeedforwardProblem

problem = FeedforwardProblem(
    [Conv2d(8, 3, padding=1), Conv2d(16, 3, stride=2, padding=1), Dense(10)], (1, 8, 8),
    activation="elu", cost="cross_entropy", beta=0.7, sigma=[0.1, 0.1],
    feedback_iterations=20, feedback_lr=0.05, seed=0, name="dtp_conv",
)
