"""Compile-time choice of the activations and the loss a kernel handles.

Activations and losses are chosen by integer codes at run time (``layout[:, ACT]``, the
``loss`` argument), so a kernel taking only the codes compiles every branch: every
activation into every dense layer call, every loss into the loss and its gradient, in
every caller. A :class:`Kinds` argument says which codes can occur; its Numba TYPE
carries them (:class:`KindsType`), so the helpers dispatching on a code
(:func:`code_chain`) compile only those branches, as
:func:`~fastnn.kernels.optimizers.epoch_update` does for the optimizer. ``None`` in its
place compiles all of them (the kernels' default: one signature for any network).

How much it saves: ``python -m asv_benchmarks.compile_times --run fit`` (README,
"Compile time").
"""

import functools

from numba import types
from numba.extending import NativeValue, models, register_jitable, register_model, typeof_impl, unbox

from ._jit import HELPER_OPTIONS


class Kinds:
    """The activation codes and the loss code a kernel call can meet.

    Parameters
    ----------
    acts : iterable of int
        Activation codes (:data:`fastnn.kernels.activations.CODES`) of the network's layers.
    loss : int
        Loss code (:data:`fastnn.kernels.losses.CODES`).
    """

    def __init__(self, acts, loss):
        self.acts = tuple(sorted({int(a) for a in acts}))
        self.loss = int(loss)
        self._type = KindsType(self.acts, self.loss)

    def __repr__(self):
        return f"Kinds(acts={self.acts}, loss={self.loss})"


class KindsType(types.Type):
    """Numba type of a :class:`Kinds`: the codes are part of the type, no data at run time."""

    def __init__(self, acts, loss):
        self.acts = acts
        self.loss = loss
        super().__init__(name=f"Kinds(acts={acts}, loss={loss})")


@typeof_impl.register(Kinds)
def _typeof_kinds(val, c):
    return val._type


register_model(KindsType)(models.OpaqueModel)


@unbox(KindsType)
def _unbox_kinds(typ, obj, c):
    return NativeValue(c.context.get_dummy_value())


def activation_codes(kinds, every):
    """The activation codes a kernel typed with ``kinds`` (a Numba type) must handle."""
    return kinds.acts if isinstance(kinds, KindsType) else tuple(every)


def loss_codes(kinds, every):
    """The loss codes a kernel typed with ``kinds`` (a Numba type) must handle."""
    return (kinds.loss,) if isinstance(kinds, KindsType) else tuple(every)


@functools.lru_cache(maxsize=None)
def code_chain(table, codes):
    """A jitable ``f(a, b, c, d, code, kinds)`` calling ``table[code](a, b, c, d, kinds)`` for
    the ``code`` among ``codes`` (the last one otherwise): one branch per code, no more.

    ``table`` is a tuple of ``(code, function)`` pairs (each function jitable).
    """
    impls = dict(table)
    first, head = codes[0], impls[codes[0]]
    if len(codes) == 1:
        def only(a, b, c, d, code, kinds):
            return head(a, b, c, d, kinds)
        return register_jitable(**HELPER_OPTIONS)(only)
    rest = code_chain(table, codes[1:])

    def branch(a, b, c, d, code, kinds):
        if code == first:
            return head(a, b, c, d, kinds)
        return rest(a, b, c, d, code, kinds)
    return register_jitable(**HELPER_OPTIONS)(branch)
