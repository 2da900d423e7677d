"""Layer types by their ``type`` name in network files.
"""
from __future__ import annotations

from networks.layers.activation import ReLU, Sign, Ternarize, Uniform
from networks.layers.elementwise import Affine, HardTanh, PReLU, RPReLU, RSign
from networks.layers.linear import Conv2d, Dense
from networks.layers.merge import Add, Concat
from networks.layers.norm import BatchNorm
from networks.layers.pool import AvgPool2d, MaxPool2d
from networks.layers.qact import Bipolar, MultiThreshold, Quant, Trunc
from networks.layers.reshape import GlobalAvgPool, Pad, Reshape, Softmax, Transpose
from networks.layers.residual import Residual
from networks.layers.shape import Flatten

LAYER_TYPES = {c.type: c for c in (Dense, Conv2d, BatchNorm, Sign, Ternarize, Uniform, ReLU,
                                    MaxPool2d, AvgPool2d, Flatten, Residual,
                                    Affine, PReLU, RPReLU, RSign, HardTanh,
                                    Add, Concat, Reshape, Transpose, GlobalAvgPool, Softmax, Pad,
                                    Quant, Bipolar, MultiThreshold, Trunc)}

#: types with several inputs: only in graph networks (``imcsim-network/2``)
MULTI_INPUT_TYPES = ("add", "concat")
