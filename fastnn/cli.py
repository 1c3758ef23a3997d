"""The ``fastnn`` command line: ``fastnn train`` trains a network on the shipped digits.

Run ``fastnn train --help`` (or ``python -m fastnn train --help``) for the options.
"""

import argparse
import sys
import textwrap
import time
import warnings

import numpy as np

from .optimizers import DEFAULT_LR


def _hidden(text):
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated layer sizes like 64,32; got {text!r}")
    if any(size < 1 for size in sizes):
        raise argparse.ArgumentTypeError(f"layer sizes must be positive; got {text!r}")
    return sizes


def _positive(kind):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a positive {kind.__name__}; got {text!r}")
        if not value > 0 or (kind is float and not np.isfinite(value)):
            raise argparse.ArgumentTypeError(f"expected a positive {kind.__name__}; got {text!r}")
        return value

    parse.__name__ = kind.__name__
    return parse


def _fraction(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a fraction in (0, 1); got {text!r}")
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a fraction in (0, 1); got {text!r}")
    return value


def build_parser():
    parser = argparse.ArgumentParser(
        prog="fastnn", description="Fast multi-layer perceptrons on the CPU (Numba kernels).")
    from ._version import __version__

    parser.add_argument("--version", action="version", version=f"fastnn {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    train = commands.add_parser(
        "train", help="train a network on the shipped 8x8 digits and print its test accuracy",
        description=(
            "Train a multi-layer perceptron on the 8x8 handwritten digits that ship with "
            "fastnn (1,797 images, 64 pixels, 10 classes), holding out a test split. The "
            "progress bar shows the training metrics and, as val_loss/val_accuracy, those "
            "of the test split (for reporting only: it never steers training). The "
            "defaults (a 64-64-10 network, sigmoid hidden units, a softmax output with "
            "categorical cross-entropy, SGD with momentum 0.9) reach about 97% test "
            "accuracy in a fraction of a second of training."),
    )
    train.add_argument("--hidden", type=_hidden, default=[64], metavar="SIZES",
                       help="hidden layer sizes, comma-separated, e.g. 64,32 (default: 64)")
    train.add_argument("--activation", default="sigmoid",
                       choices=["sigmoid", "tanh", "relu", "identity"],
                       help="hidden activation (default: sigmoid)")
    train.add_argument("--loss", default="cce", choices=["cce", "bce", "mse"],
                       help="cce: categorical cross-entropy on softmax outputs (default: one "
                            "class per digit); bce: binary cross-entropy on sigmoid outputs; "
                            "mse: mean squared error (no accuracy shown)")
    train.add_argument("--epochs", type=_positive(int), default=50, help="(default: 50)")
    train.add_argument("--batch-size", type=_positive(int), default=32, help="(default: 32)")
    train.add_argument("--optimizer", default="sgd", choices=["sgd", "adam"], help="(default: sgd)")
    train.add_argument("--lr", type=_positive(float), default=None,
                       help="learning rate (default: 0.1 for sgd, 0.001 for adam, as in fit)")
    train.add_argument("--momentum", type=float, default=0.9, help="SGD momentum, in [0, 1) (default: 0.9)")
    train.add_argument("--seed", type=int, default=0,
                       help="seeds the initialization, the split and the shuffling (default: 0)")
    train.add_argument("--test-size", type=_fraction, default=0.2, help="held-out fraction of the samples (default: 0.2)")
    train.add_argument("--dtype", default="float32", choices=["float32", "float64"],
                       help="(default: float32)")
    train.add_argument("--save", metavar="PATH", help="write the trained network to PATH (.npz)")
    train.add_argument("--plot", metavar="PATH",
                       help="write the loss and accuracy curves to PATH as a PNG (needs matplotlib)")
    train.add_argument("--export-onnx", metavar="PATH",
                       help='write the trained network to PATH as an ONNX model, for ONNX Runtime '
                            '(needs pip install "fastnn[onnx]")')
    train.add_argument("--quiet", action="store_true", help="no progress bar, only the result")
    return parser


def _plot(history, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = history.epoch
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    for key, label in (("loss", "train"), ("val_loss", "test")):
        ax_loss.plot(epochs, history.history[key], label=label)
    for key, label in (("accuracy", "train"), ("val_accuracy", "test")):
        ax_acc.plot(epochs, history.history[key], label=label)
    ax_loss.set(xlabel="epoch", ylabel="loss", title="loss", yscale="log")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=100)
    plt.close(fig)


def train(args):
    """Run ``fastnn train`` with parsed arguments; returns the exit code."""
    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            print("fastnn train: error: --plot needs matplotlib, which is not installed; install it "
                  "with: python -m pip install 'fastnn[plot]'  (or: python -m pip install matplotlib)",
                  file=sys.stderr)
            return 2
    if args.export_onnx:
        try:
            import onnx  # noqa: F401
        except ImportError:
            print('fastnn train: error: --export-onnx needs onnx, which is not installed; install it '
                  'with: python -m pip install "fastnn[onnx]"', file=sys.stderr)
            return 2
    if not 0 <= args.momentum < 1:
        print(f"fastnn train: error: --momentum must be in [0, 1); got {args.momentum}", file=sys.stderr)
        return 2

    from .io import check_destination

    # Before training, not after: a typo in a folder name must not cost the whole run.
    for option, path in (("--save", args.save), ("--plot", args.plot), ("--export-onnx", args.export_onnx)):
        if path:
            try:
                check_destination(path, option)
            except OSError as err:
                print(f"fastnn train: error: {option}: {err}", file=sys.stderr)
                return 2

    start = time.perf_counter()
    import fastnn
    from fastnn import datasets

    X, y = datasets.load_digits(dtype=args.dtype)
    X_train, X_test, y_train, y_test = datasets.train_test_split(
        X, y, test_size=args.test_size, seed=args.seed)
    lr = args.lr if args.lr is not None else DEFAULT_LR[args.optimizer]  # fit's defaults
    if args.optimizer == "sgd":
        optimizer = fastnn.SGD(lr, momentum=args.momentum)
    else:
        optimizer = fastnn.Adam(lr)
    net = fastnn.Network([X.shape[0], *args.hidden, 10], loss=args.loss, dtype=args.dtype,
                         seed=args.seed, activation=args.activation)
    if not args.quiet:
        print(f"digits: {X_train.shape[1]} training and {X_test.shape[1]} test samples, "
              f"{X.shape[0]} features, 10 classes")
        print(_describe(net, optimizer, args), flush=True)
        if not _kernels_cached():
            print("compiling fastnn's kernels: 10-30 s on a first run, cached for later runs",
                  flush=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = net.fit(X_train, y_train, epochs=args.epochs, batch_size=args.batch_size,
                          optimizer=optimizer, seed=args.seed, validation_data=(X_test, y_test),
                          verbose=0 if args.quiet else 1)
    for caught_warning in caught:
        if issubclass(caught_warning.category, fastnn.TrainingWarning):
            print(textwrap.fill(f"fastnn train: warning: {caught_warning.message}", width=79,
                                subsequent_indent="  "), file=sys.stderr, flush=True)
        elif not issubclass(caught_warning.category, fastnn.CompileWarning):  # said above
            warnings.warn_explicit(caught_warning.message, caught_warning.category,
                                   caught_warning.filename, caught_warning.lineno)
    test_loss, test_accuracy = net.evaluate(X_test, y_test)
    elapsed = time.perf_counter() - start
    correct = int(round(test_accuracy * X_test.shape[1]))
    losses = f"test loss {test_loss:.4f}, train loss {history.history['loss'][-1]:.4f} ({elapsed:.1f} s)"
    if net.loss_name == "mse":  # a regression loss: no accuracy
        print(losses[0].upper() + losses[1:], flush=True)
    else:
        print(f"test accuracy: {100 * test_accuracy:.2f}% ({correct}/{X_test.shape[1]}), {losses}",
              flush=True)
    if args.save:
        net.save(args.save)
        print(f"saved the network to {args.save}")
    if args.export_onnx:
        net.to_onnx(args.export_onnx)
        print(f"exported the network to {args.export_onnx} (ONNX; input: one sample per row)")
    if args.plot:
        _plot(history, args.plot)
        print(f"wrote the loss curves to {args.plot}")
    return 0


def _describe(net, optimizer, args):
    """The configuration, in lines that fit 80 columns."""
    hidden = {layer.activation for layer in net.layers[:-1]}
    units = f"{'/'.join(sorted(hidden))} hidden, " if hidden else ""
    defaults = type(optimizer)(optimizer.lr).get_config()  # show the settings that differ
    config = ", ".join(f"{key} {value}" for key, value in optimizer.get_config().items()
                       if key == "lr" or (key != "name" and value != defaults[key]))
    return (f"network {'-'.join(map(str, net.sizes))}: {units}{net.layers[-1].activation} output, "
            f"loss {net.loss_name}, {net.dtype.name}\n"
            f"training: {optimizer.get_config()['name']} ({config}), {args.epochs} epochs, "
            f"batches of {args.batch_size}")


def _kernels_cached():
    """Whether fit's kernel (train_epochs) is in Numba's on-disk cache (True if unknown)."""
    from .kernels import training as ktrain
    from .notices import kernels_cached

    return kernels_cached(ktrain.train_epochs)


def main(argv=None):
    """Entry point of the ``fastnn`` command; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return train(args)
    except (ValueError, TypeError, OSError, FloatingPointError) as err:
        print(f"fastnn {args.command}: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
