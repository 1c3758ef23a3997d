"""fastnn.kernels._jit: every kernel compiled with the one JIT policy; no hard-coded fastmath."""

import re
from pathlib import Path

import numba

import fastnn
from fastnn.kernels import _jit, activations, dense, losses, network, optimizers

PACKAGE = Path(fastnn.__file__).resolve().parent


def test_no_hard_coded_fastmath_outside_jit_policy():
    sources = sorted(PACKAGE.rglob("*.py"))
    assert PACKAGE / "kernels" / "_jit.py" in sources and len(sources) > 5
    pattern = re.compile(r"fastmath\s*=")
    # The policy module itself mentions it, so the pattern is known to match.
    assert pattern.search((PACKAGE / "kernels" / "_jit.py").read_text())
    offenders = [
        str(path.relative_to(PACKAGE.parent))
        for path in sources
        if path != PACKAGE / "kernels" / "_jit.py" and pattern.search(path.read_text())
    ]
    assert offenders == [], f"hard-coded fastmath= in {offenders}; use fastnn.kernels._jit.kernel"


def test_every_kernel_compiled_with_the_jit_policy():
    dispatchers = {
        f"{module.__name__}.{name}": obj
        for module in (activations, dense, losses, network, optimizers)
        for name, obj in vars(module).items()
        if isinstance(obj, numba.core.dispatcher.Dispatcher) and obj.py_func.__module__ == module.__name__
    }
    assert len(dispatchers) >= 10
    for name, disp in dispatchers.items():
        assert disp.targetoptions["fastmath"] == set(_jit.FASTMATH), name
        assert disp.targetoptions["error_model"] == "numpy", name
        assert type(disp._cache).__name__ != "NullCache", f"{name} is not cached"
    assert not {"nnan", "ninf", "fast"} & set(_jit.FASTMATH)
