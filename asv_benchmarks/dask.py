"""Data-parallel training on Dask (:func:`fastnn.dask.fit`): when does scale-out pay?

    python -m asv_benchmarks.dask                  # both tables (a few minutes on 2 cores)
    python -m asv_benchmarks.dask --repeats 5      # more rounds
    python -m asv_benchmarks.dask --skip-comm      # the speed-up table only

Starts a ``LocalCluster`` of 2 worker PROCESSES (one thread each) and prints:

1. Compute-bound: 784-1024-1024-10, float32, batch 512, accumulate 8 (one update = 8
   micro-batches of 512). Time per update of ``fastnn.dask.fit`` on 1 and on 2 workers
   (``workers=[...]`` of the same cluster), rounds interleaved, medians, and the speed-up;
   the single-process ``Network.fit`` with the same options as the reference.
2. Communication per update against the parameter count (1e3 .. 1e7): networks d-d-1
   with one sample per micro-batch and one micro-batch per worker, so the compute is
   negligible; the cost is the time per update of ``fastnn.dask.fit`` on 2 workers minus
   that of ``Network.fit`` (the weights go out to every worker, the first worker's fold
   goes straight to the second, whose fold comes back to the client).

Time per update: each epoch's wall time (between epoch callbacks) divided by its updates,
the first epoch dropped (start-up), median over the rest and over the rounds. The machine
is shared: the script also prints the load average and the "parallel capacity" of the two
workers (the same matrix products on both at once against one), about the most any speed-up
can show at that moment.
"""

import argparse
import os
import statistics
import time

import numpy as np


def _per_update(fit, updates_per_epoch):
    """Seconds per update of each epoch after the first: ``fit(callback)`` runs the fit."""
    stamps = []
    fit(lambda epoch, metrics: stamps.append(time.perf_counter()))
    return [(b - a) / updates_per_epoch for a, b in zip(stamps, stamps[1:])]


def speedup(client, workers, repeats, epochs=4, updates_per_epoch=2):
    import fastnn
    from fastnn import dask as fdask

    sizes, batch, accumulate = [784, 1024, 1024, 10], 512, 8
    N = batch * accumulate * updates_per_epoch
    rng = np.random.default_rng(0)
    X = rng.random((784, N), dtype=np.float32)
    y = rng.integers(0, 10, N)
    options = dict(epochs=epochs, batch_size=batch, accumulate=accumulate, verbose=0)
    runs = {"Network.fit (1 process)": None, "dask, 1 worker": workers[:1], "dask, 2 workers": workers[:2]}
    times = {label: [] for label in runs}
    rounds = []  # per round: (parallel capacity, speed-up 2 workers over 1)
    for _ in range(repeats):
        capacity = parallel_capacity(client, workers)
        for label, chosen in runs.items():
            net = fastnn.Network(sizes, loss="cce", activation="relu", seed=0)

            def run(callback, net=net, chosen=chosen):
                if chosen is None:
                    return net.fit(X, y, callbacks=[callback], optimizer=fastnn.SGD(0.01), **options)
                return fdask.fit(net, X, y, client=client, workers=chosen, callbacks=[callback],
                                 optimizer=fastnn.SGD(0.01), **options)
            times[label] += _per_update(run, updates_per_epoch)
        one, two = (statistics.median(times[label][-(epochs - 1):]) for label in list(runs)[1:])
        rounds.append((capacity, one / two))
    print(f"\nCompute-bound: {'-'.join(map(str, sizes))} float32, batch {batch}, accumulate {accumulate} "
          f"({repeats} rounds x {epochs - 1} epochs x {updates_per_epoch} updates, medians)")
    medians = {label: statistics.median(values) for label, values in times.items()}
    for label, value in medians.items():
        print(f"  {label:26s} {value * 1e3:8.1f} ms per update")
    print(f"  speed-up, 2 workers over 1:  {medians['dask, 1 worker'] / medians['dask, 2 workers']:.2f}x")
    print("  per round (parallel capacity before it -> speed-up): "
          + ", ".join(f"{capacity:.2f}x -> {ratio:.2f}x" for capacity, ratio in rounds))
    return medians


def communication(client, workers, repeats, epochs=4, updates_per_epoch=4):
    import fastnn
    from fastnn import dask as fdask

    print(f"\nCommunication per update, 2 workers, float32 ({repeats} rounds, medians)")
    print(f"  {'parameters':>10s} {'d':>5s} " + " ".join(f"{name:>9s}" for name in
                                                     ("dask ms", "local ms", "comm ms", "MB/update")))
    rng = np.random.default_rng(0)
    for d in (31, 100, 316, 1000, 3162):
        net0 = fastnn.Network([d, d, 1], seed=0)
        N = 2 * updates_per_epoch
        X = rng.random((d, N), dtype=np.float32)
        y = rng.integers(0, 2, N)
        options = dict(epochs=epochs, batch_size=1, accumulate=2, verbose=0, optimizer="sgd")
        dask_times, local_times = [], []
        for _ in range(repeats):
            net = net0.__class__([d, d, 1], seed=0)
            dask_times += _per_update(lambda cb: fdask.fit(net, X, y, client=client, workers=workers[:2],
                                                           callbacks=[cb], **options), updates_per_epoch)
            net = net0.__class__([d, d, 1], seed=0)
            local_times += _per_update(lambda cb: net.fit(X, y, callbacks=[cb], **options), updates_per_epoch)
        t_dask, t_local = statistics.median(dask_times), statistics.median(local_times)
        # Per update: the weights to 2 workers, a fold from one worker to the other, one back.
        megabytes = 4 * net0.n_params * 4 / 1e6
        print(f"  {net0.n_params:10.2g} {d:5d} {t_dask * 1e3:9.2f} {t_local * 1e3:9.3f} "
              f"{(t_dask - t_local) * 1e3:9.2f} {megabytes:9.2f}")


def _products(_):
    """Seconds for 10 float32 products of 1024 x 1024 (one BLAS thread in a worker)."""
    a = np.ones((1024, 1024), dtype=np.float32)
    a @ a
    start = time.perf_counter()
    for _ in range(10):
        a @ a
    return time.perf_counter() - start


def parallel_capacity(client, workers):
    """How much two worker processes get done at once relative to one, right now: the same
    matrix products on one worker, then on both (1: no core to spare, 2: two free cores)."""
    one = client.submit(_products, 0, workers=workers[:1], pure=False).result()
    both = client.gather([client.submit(_products, i, workers=[address], pure=False)
                          for i, address in enumerate(workers[:2])])
    return 2 * one / max(both)


def main(argv=None):
    import warnings

    import distributed

    import fastnn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-comm", action="store_true")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=fastnn.TrainingWarning)
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores "
          f"(other processes take cores from the workers: compare runs at a similar load)")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        workers = sorted(client.scheduler_info(n_workers=-1)["workers"])
        speedup(client, workers, args.repeats)
        if not args.skip_comm:
            communication(client, workers, args.repeats)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
