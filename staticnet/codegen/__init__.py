"""From an optimized Program to compiled code: memory plan (memory.py), the per-model driver (driver.py,
loops.py) and the kernel layer it calls (kernel_layer.py, elementwise.py, library.py), the cache (cache.py)."""
