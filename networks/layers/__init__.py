"""Layers: dense, conv2d (im2col), batch norm, activations, pooling, flatten, residual, and
the graph operations of modern BNNs (add, concat, reshape, transpose, global average
pooling, PReLU, RPReLU, RSign, hardtanh, affine scaling, QONNX/QDQ quantizers).

One module per kind; :mod:`networks.layers.fold` holds the fold of a quantized layer,
its batch norm and activation into thresholds, and the execution of a layer sequence.
"""
from __future__ import annotations

from .activation import Activation, ReLU, Sign, Ternarize, Uniform
from .base import Context, Layer, LayerError, NetworkError
from .elementwise import Affine, HardTanh, PReLU, RPReLU, RSign
from .fold import backward_sequence, fold, run_sequence, threshold_activation, train_sequence
from .linear import Conv2d, Dense, _Linear
from .merge import Add, Concat
from .norm import BatchNorm
from .pool import AvgPool2d, MaxPool2d, _Pool
from .qact import Bipolar, MultiThreshold, Quant, Trunc
from .registry import LAYER_TYPES, MULTI_INPUT_TYPES
from .reshape import GlobalAvgPool, Pad, Reshape, Softmax, Transpose
from .residual import Residual
from .shape import Flatten
from .window import col2im, im2col
