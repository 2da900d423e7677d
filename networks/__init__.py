"""networks: binary/ternary neural-network workloads for imcsim.

Layers, quantizers, a numpy trainer (``python -m networks.train``), datasets and a zoo.
This package knows nothing of hardware: a quantized layer asks a *backend* for its
integer matrix products through one call,
``backend.matmul(x_int, w_int, encoding=..., layer=name, asym=None)``; ``ExactBackend``
(here) and ``imcsim.ImcBackend`` serve it.  See docs/networks.md.
"""
from . import datasets, quant
from .backend import BackendError, ExactBackend
from .datasets import DatasetError
from .layers import (NetworkError, AvgPool2d, BatchNorm, Conv2d, Dense, Flatten, LayerError, MaxPool2d, ReLU,
                     Residual, Sign, Ternarize, Uniform)
from .model import Network, NetworkFileError, load_network, save_network
from . import zoo
from .zoo import ZooError

__all__ = ["ExactBackend", "BackendError", "NetworkError", "DatasetError", "ZooError", "Network", "NetworkFileError", "LayerError",
           "load_network", "save_network", "datasets", "zoo", "quant",
           "Dense", "Conv2d", "BatchNorm", "Sign", "Ternarize", "Uniform", "ReLU",
           "MaxPool2d", "AvgPool2d", "Flatten", "Residual"]
