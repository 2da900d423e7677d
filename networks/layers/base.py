"""The layer base class, the execution context and the errors of networks.

Every layer maps float64 arrays to float64 arrays and can run three ways:

* ``forward(x, ctx)``: inference.  A *quantized* layer (weights not ``fp``) turns its
  input into integer codes, asks ``ctx.backend.matmul(x_int, w_int, encoding=...,
  layer=self.name, asym=...)`` for the integer product and applies its scales and bias.
  Full-precision layers compute in float64 themselves (digital, no backend call).
* ``train_forward(x)`` / ``backward(g)``: training with fake quantization and the
  straight-through estimator on latent float weights (see ``networks.quant``).
* folding (:mod:`networks.layers.fold`): a quantized layer followed by BatchNorm and a
  Sign / Ternarize / Uniform activation is evaluated as per-channel thresholds on the
  integer accumulator.
"""
from __future__ import annotations


class NetworkError(ValueError):
    """Base of the errors of the networks package (bad input: a user-facing message)."""


class LayerError(NetworkError):
    """Bad layer definition or incompatible shapes."""


class Context:
    """What a forward pass needs: the backend, and whether to fold BN into thresholds."""

    def __init__(self, backend=None, fold: bool = True):
        self.backend = backend
        self.fold = fold


class Layer:
    type = "layer"
    params: tuple = ()        #: names of trainable arrays (attributes)
    buffers: tuple = ()       #: names of non-trainable state arrays

    def __init__(self, name: str):
        if not isinstance(name, str) or not name:
            raise LayerError(f"layer name must be a non-empty string, got {name!r}")
        self.name = name
        self.in_shape = None
        self.out_shape = None
        self.grads: dict = {}

    # shape propagation -----------------------------------------------------------------
    def build(self, in_shape: tuple) -> tuple:
        self.in_shape = tuple(in_shape)
        self.out_shape = self._out_shape(self.in_shape)
        return self.out_shape

    def _out_shape(self, s):
        return s

    # parameters ------------------------------------------------------------------------
    def init(self, rng) -> None:
        pass

    def has_weights(self) -> bool:
        return True

    def state(self) -> dict:
        """Arrays of the inference form, keyed ``<name>.<key>``."""
        return {}

    def expected_state(self) -> dict:
        """Expected ``{key: (shape, dtype kind)}`` of :meth:`state`."""
        return {}

    def load_state(self, arrays: dict) -> None:
        pass

    def spec(self) -> dict:
        return {"type": self.type, "name": self.name}

    def children(self):
        return ()

    def __repr__(self):
        return f"{type(self).__name__}({self.name!r}, in={self.in_shape}, out={self.out_shape})"
