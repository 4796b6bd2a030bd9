import pytest
import torch


@pytest.fixture(autouse=True)
def _seed():
    """Every adapter test starts from the same random state."""
    torch.manual_seed(0)
