"""Where a fresh process's compile time goes: Numba's compile events, per kernel.

    python -m asv_benchmarks.compile_times                 # `fastnn train --epochs 5`
    python -m asv_benchmarks.compile_times --run fit       # first Network.fit, float32 SGD
    python -m asv_benchmarks.compile_times --run fit --optimizer adam --dtype float64

Each run is a child process with an EMPTY ``NUMBA_CACHE_DIR`` (a new temporary folder),
recorded with ``numba.core.event.install_recorder("numba:compile")``. The table gives,
per kernel, the number of compilations (one per signature) and their INCLUSIVE seconds
(a callee compiled for its caller is inside the caller's time); "top level" sums the
compilations that no other one contains, the compile time the process paid. The wall
time of the child (interpreter start to the end of the run) and its CPU time (the better
figure on a loaded machine: compiling is single-threaded) follow, then the same run again
with the cache the first one filled (the second run).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

_CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
from numba.core import event
with event.install_recorder("numba:compile") as rec:
    import numpy as np
    run = sys.argv[1]
    if run == "train":
        from fastnn.cli import main
        main(["train", "--epochs", "5"])
    else:
        import fastnn
        dtype = np.dtype(sys.argv[3])
        rng = np.random.default_rng(0)
        X = rng.random((4, 64)).astype(dtype)
        Y = (X.sum(axis=0, keepdims=True) > 2).astype(dtype)
        net = fastnn.Network([4, 8, 1], dtype=dtype, activation=sys.argv[4], loss=sys.argv[5])
        net.fit(X, Y, epochs=5, batch_size=16, optimizer=sys.argv[2], verbose=0)
wall = time.perf_counter() - t0
cpu = time.process_time()
spans = []
starts = {}
for ts, ev in rec.buffer:
    name = ev.data["dispatcher"].py_func.__qualname__
    if ev.is_start:
        starts.setdefault(id(ev.data["dispatcher"]), []).append((ts, name))
    else:
        t_start, _ = starts[id(ev.data["dispatcher"])].pop()
        spans.append((t_start, ts, name))
print("COMPILE-TIMES " + json.dumps({"spans": spans, "wall": wall, "cpu": cpu}))
"""


def run_child(args, cache_dir):
    """Run the recorded child once; return (spans, wall and CPU seconds in the child, wall
    seconds with the interpreter's start-up and exit)."""
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    cmd = [sys.executable, "-c", _CHILD, args.run, args.optimizer, args.dtype, args.activation, args.loss]
    start = time.perf_counter()
    done = subprocess.run(cmd, check=True, env=env, capture_output=True, text=True)
    outside = time.perf_counter() - start
    line = [ln for ln in done.stdout.splitlines() if ln.startswith("COMPILE-TIMES ")][-1]
    data = json.loads(line[len("COMPILE-TIMES "):])
    return data["spans"], data["wall"], data["cpu"], outside


def table(spans):
    """Rows (name, count, inclusive seconds) and the top-level total."""
    rows = {}
    for start, end, name in spans:
        count, total = rows.get(name, (0, 0.0))
        rows[name] = (count + 1, total + end - start)
    top = [s for s in spans if not any(o[0] < s[0] and s[1] < o[1] for o in spans)]
    return sorted(rows.items(), key=lambda kv: -kv[1][1]), sum(e - s for s, e, _ in top), len(spans)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", choices=["train", "fit"], default="train")
    parser.add_argument("--optimizer", default="sgd", help="fit only: sgd or adam")
    parser.add_argument("--dtype", default="float32", help="fit only")
    parser.add_argument("--activation", default="sigmoid", help="fit only")
    parser.add_argument("--loss", default="bce", help="fit only")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="fastnn-compile-times-") as cache_dir:
        spans, wall, cpu, outside = run_child(args, cache_dir)
        _, wall2, cpu2, outside2 = run_child(args, cache_dir)
    rows, top, n = table(spans)
    print(f"{'kernel':<28} {'count':>5} {'inclusive s':>12}")
    for name, (count, total) in rows:
        print(f"{name:<28} {count:>5} {total:>12.2f}")
    print(f"{'top level (paid)':<28} {n:>5} {top:>12.2f}")
    for label, w, c, o in (("first run (empty cache)", wall, cpu, outside),
                           ("second run (warm cache)", wall2, cpu2, outside2)):
        print(f"{label}: {w:.2f} s wall in the child ({c:.2f} s CPU), {o:.2f} s with start-up and exit")


if __name__ == "__main__":
    main()
