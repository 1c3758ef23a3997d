import os

# scikit-learn's estimator checks include array-API checks that, for an estimator
# without array-API support, run on plain NumPy input; they skip themselves unless
# SCIPY_ARRAY_API is set before SciPy is imported. Set it so they run.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import numpy as np
import pytest

from helpers import DTYPES


@pytest.fixture(params=DTYPES, ids=lambda d: np.dtype(d).name)
def dtype(request):
    return np.dtype(request.param)
