import functools

import pytest
import torch
from mmengine.config import config as mmengine_config


@pytest.fixture(scope='package', autouse=True)
def _fast_config_loading():
    """Memoise MMEngine's lookup of ``pkg::`` bases for the 100-odd config loads of this package.

    Every ``mmpretrain::``/``mmdet::``/``mmseg::`` base makes MMEngine re-read all metafiles of the
    package (about half a second each); the answer only depends on the installed files.
    """
    original = mmengine_config._get_external_cfg_path
    mmengine_config._get_external_cfg_path = functools.lru_cache(maxsize=None)(original)
    yield
    mmengine_config._get_external_cfg_path = original


@pytest.fixture(autouse=True)
def _one_thread():
    """One torch thread: two threads crawl when the other core is busy (2 shared cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
