"""``python -m fastnn``: train a small sigmoid network on XOR and print the loss."""

import numpy as np

from . import Network


def main():
    X = np.array([[0, 0, 1, 1], [0, 1, 0, 1]], dtype=np.float32)
    Y = np.array([[0, 1, 1, 0]], dtype=np.float32)
    net = Network([2, 8, 1], activation="sigmoid", loss="bce", seed=0)
    for epoch in range(1, 3001):
        net.train_step(X, Y, lr=2.0)
        if epoch % 500 == 0:
            print(f"epoch {epoch:5d}  loss {net.loss(X, Y):.5f}")
    print("predictions:", np.round(net.predict(X), 3).ravel(), "targets:", Y.ravel())


if __name__ == "__main__":
    main()
