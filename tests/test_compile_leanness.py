"""A run compiles only the kernels it uses: a plain SGD fit of a Network compiles no Adam,
momentum or L2-penalty kernel (their dispatch is by argument type, pruned before typing:
:func:`fastnn.kernels.optimizers.epoch_update`, :func:`fastnn.kernels.training.train_epochs`).

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
from fastnn.kernels import optimizers as kopt, regularization as kreg
warnings.filterwarnings("ignore", category=fastnn.CompileWarning)
rng = np.random.default_rng(0)
X = rng.random((4, 40)).astype(np.float32)
Y = (X.sum(axis=0, keepdims=True) > 2).astype(np.float32)
fastnn.Network([4, 6, 1], dtype=np.float32).fit(X, Y, epochs=2, batch_size=16, optimizer="sgd", verbose=0)
kernels = (kopt.adam_update, kopt.sgd_momentum_update, kopt.optimizer_update, kreg.scale_add_l2,
           kopt.sgd_plain_update)
print(json.dumps({k.__name__: len(k.signatures) for k in kernels}))
"""


def test_plain_sgd_fit_compiles_no_adam_momentum_or_l2_kernel(tmp_path):
    root = Path(fastnn.__file__).resolve().parent.parent
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
    done = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    compiled = json.loads(done.stdout.strip().splitlines()[-1])
    # The plain update did compile in this process: the counts see callees compiled for the fit.
    assert compiled.pop("sgd_plain_update") == 1
    assert compiled == {"adam_update": 0, "sgd_momentum_update": 0, "optimizer_update": 0,
                        "scale_add_l2": 0}
