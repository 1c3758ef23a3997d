"""The full-batch objective: the loss over a whole data set and its gradient, as one function.

:class:`FullBatchObjective` is what a quasi-Newton optimizer (``scipy.optimize.minimize``
with ``method="L-BFGS-B"``, scikit-learn's "lbfgs" solver) calls: a flat float64
parameter vector in, the mean loss plus scikit-learn's L2 term and its gradient out. One
evaluation is one compiled call (:func:`~fastnn.kernels.objective.full_batch_objective`:
forward and backward over chunks of the data, so memory stays bounded by one chunk's
activations whatever the number of samples, and the gradient written into one buffer).

Like :mod:`fastnn.engine`, it knows the network only by its kernel interface
(``net.kernel_buffers``, ``net.buffers_changed()``, ``net.product_size``).
"""

import numpy as np

from . import notices
from . import threads as _threads
from .kernels import network as knet
from .kernels import objective as kobj
from .kernels.sparse import plan_layout
from .sparse import SparseRows

CHUNK = 4096
"""Samples per kernel call: one call for scikit-learn's small data sets, and a work space of
``CHUNK * sum(n_l)`` values for large ones."""


class FullBatchObjective:
    """``J(theta) = loss_scale * mean_loss + 0.5 * alpha * sum ||W||^2 / N`` and its gradient.

    Parameters
    ----------
    net : Network
        Its parameters are overwritten by each call (and hold the last ``theta`` after it).
    Xs : ndarray of shape (N, n_0), C-contiguous, the network's dtype, or SparseRows
        Inputs, one sample per ROW (sparse: :class:`fastnn.sparse.SparseRows`).
    Ys : ndarray of shape (N, n_L), C-contiguous, the network's dtype
        Targets, one sample per row.
    alpha : float
        L2 penalty on the weights (not the biases), scikit-learn's convention.
    grad_scale, loss_scale : float
        Factors on the data gradient and on the data loss (turning fastnn's loss into
        scikit-learn's, see ``_loss_scales`` in :mod:`fastnn.sklearn`).
    sample_weight : ndarray of shape (N,), optional
        scikit-learn's sample weights ``w``: the mean loss becomes ``sum w_i l_i / sum w`` and
        the penalty divides by ``sum w`` instead of N (:mod:`fastnn.kernels.weights`, with
        ``ws = N w / sum w``).

    Attributes
    ----------
    calls : int
        Evaluations so far.

    Notes
    -----
    With chunks ``c`` of ``m_c`` samples, ``mean_loss = sum_c m_c J_c / N`` and the data
    gradient is ``sum_c (m_c / N) dJ_c``; ``dW += alpha W / N`` for every weight.
    """

    def __init__(self, net, Xs, Ys, alpha, grad_scale=1.0, loss_scale=1.0, sample_weight=None):
        self.net = net
        self.Xs, self.Ys = Xs, Ys
        self.n_samples = N = Ys.shape[0]
        self.alpha = float(alpha)
        self.grad_scale, self.loss_scale = float(grad_scale), float(loss_scale)
        buffers = net.kernel_buffers
        layout = buffers.layout
        self.chunk = chunk = min(N, CHUNK)
        self.bounds = [(start, min(start + chunk, N)) for start in range(0, N, chunk)]
        self.plan = plan_layout(layout, Xs)
        self.work = np.empty(knet.work_size(self.plan, chunk, True), dtype=buffers.params.dtype)
        self.total = np.empty(buffers.params.size, dtype=np.float64)
        self.blas_work = net.product_size(chunk)
        self.calls = 0
        self.divisor = float(N)
        self.ws = None
        if sample_weight is not None:
            weights = np.asarray(sample_weight, dtype=np.float64)
            self.divisor = float(weights.sum())
            self.ws = np.ascontiguousarray(weights * (N / self.divisor))
        # The kernel's arguments, built once: one evaluation is one call with no new array.
        data = tuple(Xs) if isinstance(Xs, SparseRows) else Xs
        rows = np.arange(N, dtype=np.int64)
        self._fixed = (*buffers, data, Ys, rows)
        self._tail = (self.total, self.work, chunk, self.alpha, self.divisor, self.grad_scale,
                      self.loss_scale) + (() if self.ws is None else (self.ws,))
        notices.announce_compilation(kobj.full_batch_objective)

    def __call__(self, theta):
        """The objective and its gradient at ``theta``.

        Parameters
        ----------
        theta : ndarray of shape (p,), float64
            Flat parameters in the network's layout (each layer's ``W`` row-major, then ``b``).

        Returns
        -------
        (float, ndarray of shape (p,), float64)
            The gradient array is reused by the next call.
        """
        self.calls += 1
        net = self.net
        try:
            with _threads.training_threads(self.blas_work, len(self.bounds), "full-batch"):
                value = kobj.full_batch_objective(*self._fixed, theta, *self._tail)
        finally:
            net.buffers_changed()
        return value, self.total
