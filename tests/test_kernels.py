"""Every GEMM kernel this CPU runs plays a model as the others do.

The core carries a kernel for its own compiler flags ("build") and, on x86-64, AVX2 and
AVX-512 kernels compiled apart and chosen at run time (cpp/src/layers/gemm_kernel.hpp).
The C++ tests hold each to exact convolutions; here each plays a real model, and the
sums in another order may differ only by rounding.
"""

from __future__ import annotations

import platform

import numpy as np
import pytest
from conftest import export_random
from neurorave import _core


@pytest.fixture
def restore_kernel():
    chosen = _core.active_kernel().split()[0]
    yield
    assert _core.use_kernel(chosen)


def test_each_kernel_plays_a_model_as_the_others(tmp_path, restore_kernel):
    model = export_random(tmp_path, "small", causal=True).path
    audio = (0.3 * np.sin(np.arange(8 * 2048) * 0.031)).astype(np.float32)
    outputs = {}
    for kernel in _core.runnable_kernels():
        assert _core.use_kernel(kernel)
        assert _core.active_kernel().startswith(kernel)
        outputs[kernel] = _core.Player(str(model)).process(audio)
    reference = outputs["build"]
    assert np.abs(reference).max() > 1e-3
    for kernel, out in outputs.items():
        np.testing.assert_allclose(out, reference, atol=2e-6 * np.abs(reference).max(), rtol=0,
                                   err_msg=kernel)


def test_the_widest_kernel_runs_and_unknown_names_change_nothing(restore_kernel):
    kernels = _core.runnable_kernels()
    assert kernels[0] == "build"
    if platform.machine() == "x86_64":
        assert set(kernels) <= {"build", "avx2", "avx512"}
    before = _core.active_kernel()
    assert not _core.use_kernel("avx9000")
    assert _core.active_kernel() == before
