"""Transfer Scout core: rank pre-trained backbones for a target dataset without fine-tuning them all.

Heavy dependencies (torch, timm, sklearn) are imported lazily by the submodules that need them, so
``python -m transfer_core --help`` stays fast.
"""

__version__ = "0.1.0"
