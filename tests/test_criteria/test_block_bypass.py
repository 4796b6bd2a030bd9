"""UPDP's greedy subnet search on a cost with a known answer."""
import pytest

from mmsls.criteria.block_bypass import greedy_bypass_selection, single_bypass_costs

# Additive costs, except that bypassing a and c together costs 5 more.
ALONE = dict(a=1.0, b=2.0, c=0.5, d=3.0)
FLOPS = dict(a=10.0, b=10.0, c=1.0, d=30.0)


class Cost:
    def __init__(self):
        self.calls = []

    def __call__(self, bypassed):
        self.calls.append(bypassed)
        return 10.0 + sum(ALONE[name] for name in bypassed) + 5.0 * ({'a', 'c'} <= bypassed)


def test_single_bypass_costs():
    assert single_bypass_costs(Cost(), list(ALONE)) == ALONE


def test_greedy_re_evaluates_after_each_choice():
    cost = Cost()
    selection = greedy_bypass_selection(cost, list(ALONE), num_remove=2)
    # c is cheapest alone; with c gone, a costs 6, so b comes next.
    assert selection.removed == ('c', 'b')
    assert selection.base_cost == 10.0 and selection.costs == (10.5, 12.5)
    assert selection.step_costs[1] == dict(a=16.5, b=12.5, d=13.5)
    assert selection.removed_flops is None
    assert len(cost.calls) == 1 + 4 + 3


def test_greedy_stops_at_the_flop_target():
    selection = greedy_bypass_selection(Cost(), list(ALONE), flops=FLOPS, flops_to_remove=15)
    # c (1 FLOP), b (11), then d is cheaper than a (which would pair with c): 41 >= 15.
    assert selection.removed == ('c', 'b', 'd')
    assert selection.removed_flops == 41.0


def test_ties_go_to_the_earlier_candidate():
    selection = greedy_bypass_selection(lambda bypassed: float(len(bypassed)), ['x', 'y', 'z'],
                                        num_remove=1)
    assert selection.removed == ('x', )


@pytest.mark.parametrize('kwargs, message', [
    (dict(), 'give exactly one of num_remove'),
    (dict(num_remove=1, flops=FLOPS, flops_to_remove=3), 'give exactly one of num_remove'),
    (dict(num_remove=5), r'num_remove must be an int in 1..4'),
    (dict(flops_to_remove=3), 'flops_to_remove needs flops'),
    (dict(flops=dict(a=1.0), flops_to_remove=1), 'flops has no entry for candidate b'),
    (dict(flops=FLOPS, flops_to_remove=52), r'flops_to_remove must be in \(0, 51\]'),
])
def test_bad_stopping_rules_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        greedy_bypass_selection(Cost(), list(ALONE), **kwargs)


def test_bad_candidates_are_refused():
    with pytest.raises(ValueError, match='non-empty sequence of unit names'):
        greedy_bypass_selection(Cost(), [], num_remove=1)
    with pytest.raises(ValueError, match='list a block twice'):
        single_bypass_costs(Cost(), ['a', 'a'])
