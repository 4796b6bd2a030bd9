"""Decide once on rank 0, give every rank the same decision."""
from typing import Callable, TypeVar

from mmengine.dist import broadcast_object_list, get_rank

T = TypeVar('T')


def decide_on_rank0(decide: Callable[[], T], what: str) -> T:
    """Run ``decide()`` on rank 0 only and return its result on every rank.

    Decisions that read data or draw random numbers (an analysis, a search) would differ between
    ranks, and ranks that prune differently deadlock DDP; so rank 0 decides and broadcasts. An
    exception on rank 0 is broadcast as well: rank 0 re-raises it, every other rank raises a
    RuntimeError naming it, so no rank waits forever for the others. Without a process group this is
    ``decide()``.

    Args:
        decide (Callable[[], T]): Computes the decision; its result must be picklable.
        what (str): What is decided, for the other ranks' error message.

    Returns:
        T: Rank 0's result of ``decide()``.
    """
    shared, error = [None, None], None
    if get_rank() == 0:
        try:
            shared[0] = decide()
        except Exception as exc:  # re-raised below, once the other ranks know
            error, shared[1] = exc, f'{type(exc).__name__}: {exc}'
    broadcast_object_list(shared, src=0)
    if error is not None:
        raise error
    if shared[1] is not None:
        raise RuntimeError(f'{what} failed on rank 0: {shared[1]}')
    return shared[0]
