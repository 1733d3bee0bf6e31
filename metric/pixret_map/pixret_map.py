# Copyright 2026 The pixret authors. MIT license.
"""pixret_map: mean mIoU and pixel-retrieval mAP@50:5:95 of the PROxford / PRParis benchmarks (An et al., ICCV 2023).

The evaluate module of the ``pixret`` package (``pip install pixret``): this script is the class that
``evaluate.load("pixret/pixret_map", "proxford")`` finds; the evaluation is ``pixret.metric`` (the class is
``pixret.metric.module.PixretMap``, its inputs and outputs are described there and in README.md beside this file).
Configs: "proxford", "prparis" (the benchmarks) and "custom" (data in their format that is neither).
"""

import evaluate  # noqa: F401 - evaluate loads this script as one of its modules
from pixret.metric import module


class PixretMap(module.PixretMap):
    __doc__ = module.PixretMap.__doc__
