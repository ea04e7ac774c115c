"""The ops: one module per family, each registering its ops' rules side by side (staticnet/registry.py):
shape rule, NumPy reference, gradient, fusion kind, lowering.  Shared shape rules live in shape_rules.py.  Importing the
package registers every op and gives Tensor its Python operators (operators.py)."""
from __future__ import annotations

from ..graph import Tensor


from . import elementwise, linalg, reduce, shape, activations, loss, nn, fused, conv, pool, rnn, slicing, layer_norm, batch_norm  # noqa: E402,F401  (they register themselves)
from . import lstm, gru, embedding  # noqa: E402,F401  (the gated recurrent layers, embeddings)
from .operators import install as _install_operators  # noqa: E402

_install_operators(Tensor)
