"""A run compiles only the kernels it uses: a plain SGD fit of a Network compiles no Adam,
momentum or L2-penalty kernel (their dispatch is by argument type, pruned before typing:
:func:`fastnn.kernels.optimizers.epoch_update`, :func:`fastnn.kernels.training.train_epochs`),
and a sigmoid/bce network compiles no other activation or loss (:mod:`fastnn.kernels.kinds`).

One fresh interpreter with an EMPTY cache folder: a kernel loaded from the cache does not
compile its callees, so only a cold compile shows which of them the fit pulls in. Its
signatures are counted (``len(dispatcher.signatures)``), not timed.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import fastnn

CHILD = """
import json, warnings
import numpy as np, fastnn
from numba.core import event
from fastnn.kernels import activations as kact, optimizers as kopt, regularization as kreg
warnings.filterwarnings("ignore", category=fastnn.CompileWarning)
rng = np.random.default_rng(0)
X = rng.random((4, 40)).astype(np.float32)
Y = (X.sum(axis=0, keepdims=True) > 2).astype(np.float32)
net = fastnn.Network([4, 6, 1], dtype=np.float32, activation="sigmoid", loss="bce")
with event.install_recorder("numba:compile") as rec:
    net.fit(X, Y, epochs=2, batch_size=16, optimizer="sgd", verbose=0)
kernels = (kopt.adam_update, kopt.sgd_momentum_update, kopt.optimizer_update, kreg.scale_add_l2,
           kopt.sgd_plain_update, kact.softmax_columns)
names = sorted({ev.data["dispatcher"].py_func.__name__ for _, ev in rec.buffer})
print(json.dumps({"kernels": {k.__name__: len(k.signatures) for k in kernels}, "compiled": names}))
"""

# The per-code helpers of fastnn.kernels.activations and fastnn.kernels.losses: a sigmoid/bce
# fit compiles the first four, none of the others.
USED = {"_forward_sigmoid", "_backward_sigmoid", "_value_bce", "_gradient_matched"}
UNUSED = {"_forward_tanh", "_forward_relu", "_forward_identity", "_forward_softmax", "_forward_exp",
          "_backward_tanh", "_backward_relu", "_backward_identity", "_backward_softmax", "_backward_exp",
          "_value_cce", "_value_poisson", "_value_mse", "_gradient_cce", "_gradient_mse"}


def test_plain_sgd_fit_compiles_no_adam_momentum_or_l2_kernel(tmp_path):
    root = Path(fastnn.__file__).resolve().parent.parent
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
    done = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    compiled = result["kernels"]
    # The plain update did compile in this process: the counts see callees compiled for the fit.
    assert compiled.pop("sgd_plain_update") == 1
    assert compiled == {"adam_update": 0, "sgd_momentum_update": 0, "optimizer_update": 0,
                        "scale_add_l2": 0, "softmax_columns": 0}
    # The compile events name every function compiled, helpers included.
    names = set(result["compiled"])
    assert USED <= names, USED - names
    assert not UNUSED & names, UNUSED & names
