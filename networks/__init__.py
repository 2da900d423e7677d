"""networks: binary/ternary neural-network workloads for imcsim.

Layers, quantizers, graph networks (:mod:`networks.graph`), ONNX/QONNX import
(``networks.from_onnx``, needs ``onnx``), a numpy trainer (``python -m networks.train``),
datasets and a zoo.
This package knows nothing of hardware: a quantized layer asks a *backend* for its
integer matrix products through one call,
``backend.matmul(x_int, w_int, encoding=..., layer=name, asym=None)``; ``ExactBackend``
(here) and ``imcsim.ImcBackend`` serve it.  See docs/networks.md.
"""
from . import datasets, quant
from .backend import BackendError, ExactBackend
from .datasets import DatasetError
from .layers import (NetworkError, AvgPool2d, BatchNorm, Conv2d, Dense, Flatten, LayerError, MaxPool2d, ReLU,
                     Residual, Sign, Ternarize, Uniform, Add, Concat, Reshape, Transpose, GlobalAvgPool, Softmax,
                     Affine, PReLU, RPReLU, RSign, HardTanh, Quant, Bipolar, MultiThreshold, Trunc)
from .model import Network, NetworkFileError, load_network, save_network
from .graph import GraphNetwork, Node
from . import zoo
from .zoo import ZooError

def from_onnx(path, name=None):
    """Import a QONNX / ONNX model as a :class:`GraphNetwork` (needs the ``onnx`` package);
    see :mod:`networks.onnx_import`."""
    from .onnx_import import from_onnx as _from_onnx

    return _from_onnx(path, name)


def import_onnx(path, out_dir, name=None):
    """Import a QONNX / ONNX model and write ``out_dir/NAME.yaml`` + ``.npz``; returns
    ``(network, yaml path)``."""
    from .onnx_import import import_onnx as _import_onnx

    return _import_onnx(path, out_dir, name)


__all__ = ["GraphNetwork", "Node", "from_onnx", "import_onnx",
           "Add", "Concat", "Reshape", "Transpose", "GlobalAvgPool", "Softmax", "Affine", "PReLU", "RPReLU",
           "RSign", "HardTanh", "Quant", "Bipolar", "MultiThreshold", "Trunc",
           "ExactBackend", "BackendError", "NetworkError", "DatasetError", "ZooError", "Network", "NetworkFileError", "LayerError",
           "load_network", "save_network", "datasets", "zoo", "quant",
           "Dense", "Conv2d", "BatchNorm", "Sign", "Ternarize", "Uniform", "ReLU",
           "MaxPool2d", "AvgPool2d", "Flatten", "Residual"]
