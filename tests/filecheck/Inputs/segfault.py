"""A model file whose loading crashes its process with a segfault (reading address 0): the
matrix must fail this one cell and go on (tests/unit/test_ray.py, tests/unit/test_matrix.py)."""

import ctypes

ctypes.string_at(0)
