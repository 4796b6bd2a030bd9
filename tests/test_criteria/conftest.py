"""Fixtures of the criteria tests."""
import pytest
import torch


@pytest.fixture
def one_torch_thread():
    """Run torch on one thread: the CPU run of the torch backend is for tests only, and on tiny
    inputs (and a shared machine) extra threads cost more than they give."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
