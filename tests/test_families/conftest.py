"""The tiny real models of tests/test_depth/conftest.py, as fixtures here too."""
from ..test_depth.conftest import setr, swin_retinanet, vit_classifier  # noqa: F401
