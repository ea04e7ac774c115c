"""The runtime's workspaces: a batch that cannot fit in memory is refused naming its largest buffers."""
import inspect
import os
import re

import numpy as np
import pytest

import staticnet as sn
from staticnet import checks, runtime

HERE = re.escape(os.path.relpath(__file__))


@pytest.fixture(scope="module")
def huge_one_hot():
    labels = sn.input("labels", (None,), dtype="int64")
    line = inspect.currentframe().f_lineno + 1
    f = sn.function([labels], sn.one_hot(labels, 10**10))  # 40 GB a row
    return f, line


def test_a_workspace_larger_than_the_memory_available_is_refused_before_allocating(huge_one_hot, monkeypatch):
    f, line = huge_one_hot
    monkeypatch.setattr(checks, "memory_available", lambda: 2**30)
    with pytest.raises(MemoryError, match=rf"^the workspace for batches of up to 2 rows needs 74\.5 GiB, more than the "
                                          rf"1\.0 GiB of memory available; its largest buffers: one_hot at {HERE}:{line} "
                                          r"\(2, 10000000000\) float32 74\.5 GiB\. Use smaller batches or smaller layers$"):
        f(np.array([1, 2]))


def test_an_allocation_that_fails_names_the_largest_buffers(huge_one_hot, monkeypatch):
    f, line = huge_one_hot
    monkeypatch.setattr(checks, "memory_available", lambda: None)  # a system that does not say

    class NumpyWithoutMemory:
        def __getattr__(self, name):
            return getattr(np, name)

        @staticmethod
        def zeros(*args, **kwargs):
            raise MemoryError("Unable to allocate")

    monkeypatch.setattr(runtime, "np", NumpyWithoutMemory())
    with pytest.raises(MemoryError, match=rf"^the workspace for batches of up to 4 rows needs 149\.0 GiB, which could "
                                          rf"not be allocated; its largest buffers: one_hot at {HERE}:{line} "
                                          r"\(4, 10000000000\) float32 149\.0 GiB\."):
        f(np.array([1, 2, 3]))
