import numpy as np

import fastnn


def test_xor_learned_by_step():
    X = np.array([[0, 0, 1, 1], [0, 1, 0, 1]], dtype=np.float32)
    Y = np.array([[0, 1, 1, 0]], dtype=np.float32)
    net = fastnn.Network([2, 8, 1], seed=0)
    for _ in range(3000):
        net.forward(X)
        net.zero_grad()
        net.backward(Y)
        net.step(2.0)
    assert net.loss(X, Y) < 0.05
