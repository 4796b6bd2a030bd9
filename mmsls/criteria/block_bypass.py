"""UPDP's subnet search as a pure function: greedily bypass the blocks that cost the least.

The cost of a set of bypassed blocks is a number measured on a held-out sample of the training data
(a loss, or an error rate: lower is better); measuring it needs a model, so it comes in as a callable
(``mmsls.analysis.block_bypass.BypassEvaluator`` measures it on a real model). Each greedy step
bypasses, on top of the blocks already chosen, the block whose bypass raises the cost the least, until
a number of blocks or a share of the FLOPs is removed.
"""
from dataclasses import dataclass
from typing import Callable, Dict, FrozenSet, Mapping, Optional, Sequence, Tuple

#: Cost of the model with a set of blocks (unit names) bypassed; lower is better.
BypassCost = Callable[[FrozenSet[str]], float]


@dataclass(frozen=True)
class BypassSelection:
    """What the greedy search chose.

    Args:
        removed (tuple[str]): The chosen blocks, in the order they were chosen.
        base_cost (float): The cost with no block bypassed.
        costs (tuple[float]): The cost after each step (with ``removed[:i + 1]`` bypassed).
        step_costs (tuple[dict[str, float]]): For each step, the cost of every candidate tried.
        removed_flops (float, optional): FLOPs of the removed blocks, when FLOPs were given.
    """

    removed: Tuple[str, ...]
    base_cost: float
    costs: Tuple[float, ...]
    step_costs: Tuple[Dict[str, float], ...]
    removed_flops: Optional[float] = None


def single_bypass_costs(cost: BypassCost, candidates: Sequence[str]) -> Dict[str, float]:
    """The cost increase of bypassing each candidate alone (UPDP's per-block importance).

    Args:
        cost (BypassCost): Cost of the model with a set of blocks bypassed.
        candidates (Sequence[str]): Unit names of the blocks to try.

    Returns:
        dict[str, float]: Candidate -> ``cost({candidate}) - cost({})``.
    """
    _check_candidates(candidates)
    base = float(cost(frozenset()))
    return {name: float(cost(frozenset([name]))) - base for name in candidates}


def greedy_bypass_selection(cost: BypassCost,
                            candidates: Sequence[str],
                            num_remove: Optional[int] = None,
                            flops: Optional[Mapping[str, float]] = None,
                            flops_to_remove: Optional[float] = None) -> BypassSelection:
    """Choose blocks to remove by greedy bypassing, up to a count or a FLOP target.

    Give exactly one stopping rule: ``num_remove`` blocks, or blocks worth at least
    ``flops_to_remove`` FLOPs (then ``flops`` gives every candidate's FLOPs). Ties go to the earlier
    candidate in ``candidates``.

    Args:
        cost (BypassCost): Cost of the model with a set of blocks bypassed; lower is better.
        candidates (Sequence[str]): Unit names of the blocks that may be removed.
        num_remove (int, optional): How many blocks to remove.
        flops (Mapping[str, float], optional): FLOPs of each candidate.
        flops_to_remove (float, optional): Stop once the removed blocks reach this many FLOPs.

    Returns:
        BypassSelection: The chosen blocks and the costs seen on the way.
    """
    _check_candidates(candidates)
    if (num_remove is None) == (flops_to_remove is None):
        raise ValueError('give exactly one of num_remove (a block count) and flops_to_remove (a FLOP '
                         f'target), got num_remove={num_remove!r}, flops_to_remove={flops_to_remove!r}')
    if num_remove is not None:
        if isinstance(num_remove, bool) or not isinstance(num_remove, int) \
                or not 1 <= num_remove <= len(candidates):
            raise ValueError(f'num_remove must be an int in 1..{len(candidates)} (the number of '
                             f'candidates), got {num_remove!r}')
    else:
        _check_flops(candidates, flops, flops_to_remove)
    removed, costs, step_costs = [], [], []
    base_cost = float(cost(frozenset()))
    removed_flops = 0.0
    while _goes_on(removed, removed_flops, num_remove, flops_to_remove):
        tried = {name: float(cost(frozenset(removed + [name])))
                 for name in candidates if name not in removed}
        best = min(tried, key=tried.get)
        removed.append(best)
        costs.append(tried[best])
        step_costs.append(tried)
        if flops is not None:
            removed_flops += flops[best]
    return BypassSelection(tuple(removed), base_cost, tuple(costs), tuple(step_costs),
                           removed_flops if flops is not None else None)


def _goes_on(removed, removed_flops, num_remove, flops_to_remove) -> bool:
    if num_remove is not None:
        return len(removed) < num_remove
    return removed_flops < flops_to_remove


def _check_candidates(candidates: Sequence[str]) -> None:
    if not candidates or any(not isinstance(name, str) for name in candidates):
        raise ValueError(f'candidates must be a non-empty sequence of unit names, got {candidates!r}')
    if len(set(candidates)) != len(candidates):
        raise ValueError(f'candidates list a block twice: {list(candidates)}')


def _check_flops(candidates, flops, flops_to_remove) -> None:
    if flops is None:
        raise ValueError('flops_to_remove needs flops: the FLOPs of every candidate')
    missing = [name for name in candidates if name not in flops]
    if missing:
        raise ValueError(f'flops has no entry for candidate {missing[0]}')
    total = sum(flops[name] for name in candidates)
    if not 0 < flops_to_remove <= total:
        raise ValueError(f'flops_to_remove must be in (0, {total:g}] (the FLOPs of all candidates '
                         f'together), got {flops_to_remove!r}')
