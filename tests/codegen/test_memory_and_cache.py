import os
import subprocess
import sys
import textwrap

import numpy as np

import staticnet as sn
from staticnet.codegen.memory import plan_memory
from staticnet.passes import optimize
from tests.conftest import mlp_training_program


def test_buffers_with_disjoint_lifetimes_share_storage():
    program, _ = mlp_training_program(batch=8)
    plan = plan_memory(optimize(program))
    total = sum(b.elements(64) * b.dtype.itemsize for b in plan.buffers)
    assert plan.peak_bytes(64) < total
    offsets, _ = plan.layout(64)
    for a in plan.buffers:  # buffers that are live together never overlap
        for b in plan.buffers:
            if a.slot < b.slot and a.start <= b.end and b.start <= a.end and a.dtype == b.dtype:
                lo_a, lo_b = offsets[a.slot], offsets[b.slot]
                assert lo_a + a.elements(64) <= lo_b or lo_b + b.elements(64) <= lo_a


def test_generated_source_is_readable_python_with_source_lines():
    x = sn.input("x", (None, 3))
    f = sn.function([x], sn.sigmoid(x * 2.0 + 1.0))
    assert "def step(" in f.source and "test_memory_and_cache.py" in f.source
    [loop] = f.driver.kernels.values()
    assert "K.fastmath.exp32" in loop.source  # float32: the vectorisable exp
    assert "(n * s0, x, b0)" in f.source  # rows of 3 run as one loop over n * 3 values
    compile(f.source, "generated", "exec")
    compile(loop.source, "kernel", "exec")


SCRIPT = textwrap.dedent("""
    import numpy as np, staticnet as sn
    x = sn.input("x", (None, 5)); y = sn.input("y", (None, 2))
    p = sn.dense(sn.dense(x, 7, activation="tanh", name="h"), 2, activation="softmax", name="o")
    net = sn.compile(sn.cross_entropy(p, y), outputs=p, optimizer=sn.SGD(lr=0.1))
    seconds, cached = net.warm_up(4)
    print("CACHED" if cached else "COLD", net.from_cache)
""")


def test_a_second_process_loads_the_compiled_code_from_the_cache(tmp_path):
    env = dict(os.environ, STATICNET_CACHE=str(tmp_path))
    first = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env)
    second = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert first.stdout.split() == ["COLD", "False"]
    assert second.stdout.split() == ["CACHED", "True"]
    assert any(name.endswith(".py") for name in os.listdir(tmp_path))
