"""Layer types by their ``type`` name in network files.
"""
from __future__ import annotations

from networks.layers.activation import ReLU, Sign, Ternarize, Uniform
from networks.layers.linear import Conv2d, Dense
from networks.layers.norm import BatchNorm
from networks.layers.pool import AvgPool2d, MaxPool2d
from networks.layers.residual import Residual
from networks.layers.shape import Flatten

LAYER_TYPES = {c.type: c for c in (Dense, Conv2d, BatchNorm, Sign, Ternarize, Uniform, ReLU,
                                    MaxPool2d, AvgPool2d, Flatten, Residual)}
