"""The depth families; importing a family's module registers it in ``DEPTH_FAMILIES``."""
from . import cnn, swin, vit  # noqa: F401
