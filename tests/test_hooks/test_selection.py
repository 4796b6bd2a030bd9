"""The "what to remove" interface: one normaliser, the selection types, rank 0 decides for all ranks."""
import os
import traceback

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmsls.hooks import (SELECTIONS, BypassSearch, FirstUnitsSelection, MessageHubSelection,
                         ProgressiveDepthHook, PruneDepthHook, SLSHook, SLSSelection,
                         UnitsSelection, build_selection, decide_on_rank0, kept_unit_names)
from mmsls.hooks.selection import check_unit_spec
from ..conftest import TINY_CONFIGS, free_port


def tiny_model(scope):
    """The model of a tiny config, built in its scope (ViT: 4 layers; Swin: depths 1, 1, 2, 1)."""
    from mmengine.registry import MODELS
    cfg = Config.fromfile(TINY_CONFIGS[scope])
    init_default_scope(cfg.default_scope)
    return MODELS.build(cfg.model)


@pytest.fixture(scope='module')
def vit():
    return tiny_model('mmpretrain')


@pytest.fixture(scope='module')
def swin():
    return tiny_model('mmdet')


LAYERS = [f'layers.{index}' for index in range(4)]


@pytest.mark.parametrize('keep, remove, kept', [
    (2, None, LAYERS[:2]),                                # a depth k
    (['layers.3', 'layers.0'], None, ['layers.0', 'layers.3']),  # names, in forward order
    ([3, 'layers.1'], None, ['layers.1', 'layers.3']),    # positions and names mixed
    (None, ['layers.1', 2], ['layers.0', 'layers.3']),    # the units to remove
    (4, None, LAYERS),
])
def test_normaliser_turns_every_form_into_kept_names(vit, keep, remove, kept):
    assert kept_unit_names(vit, keep, remove) == kept


@pytest.mark.parametrize('keep, remove, message', [
    (None, None, 'exactly one of keep and remove'),
    (2, [1], 'exactly one of keep and remove'),
    (0, None, 'keep must be an int >= 1'),
    (5, None, r'depth must be an int in 1\.\.4'),
    ('layers.1', None, 'keep must be a depth k .* or a non-empty list'),
    ([], None, 'non-empty list'),
    ([True], None, 'non-empty list'),
    (None, 2, 'keep must be a non-empty list'),  # no depth for removal; named by the source
    (['layers.9'], None, "'layers.9' is not a prunable unit of this model; its units are"),
    ([4], None, r'position 4 is out of range: prunable_units\(model\) lists 4 units'),
    ([-1], None, 'position -1 is out of range'),
    ([0, 'layers.0'], None, r"lists \['layers.0'\] more than once"),
    (None, LAYERS, 'pruning every unit'),
])
def test_normaliser_refuses_bad_units_with_the_reason(vit, keep, remove, message):
    with pytest.raises(ValueError, match=message):
        kept_unit_names(vit, keep, remove)


def test_normaliser_protects_required_units_unless_allowed(swin):
    # The first block of every Swin stage is required; stages.2.blocks.1 is the only free one.
    required = ['stages.0.blocks.0', 'stages.1.blocks.0', 'stages.2.blocks.0', 'stages.3.blocks.0']
    assert kept_unit_names(swin, remove=['stages.2.blocks.1']) == required
    assert kept_unit_names(swin, 1) == required  # a depth keeps the required units
    with pytest.raises(ValueError, match='blocks=.*drops stages.1.blocks.0, a required unit.*'
                                         'allow_empty_stages=True'):
        kept_unit_names(swin, remove=['stages.1.blocks.0'], source="blocks=['stages.1.blocks.0']")
    assert 'stages.1.blocks.0' not in kept_unit_names(swin, remove=['stages.1.blocks.0'],
                                                      allow_empty_stages=True)


def test_static_check_of_the_argument_form():
    check_unit_spec(3, 'keep')
    check_unit_spec(['layers.0', 1], 'keep')
    with pytest.raises(ValueError, match='blocks must be a non-empty list'):
        check_unit_spec(3, 'blocks', allow_depth=False)
    with pytest.raises(ValueError, match="keep must be .*got \\{'layers.0'\\}"):
        check_unit_spec({'layers.0'}, 'keep')


def test_registry_builds_every_selection_from_a_config_dict():
    assert set(SELECTIONS.module_dict) == {'FirstUnitsSelection', 'UnitsSelection', 'SLSSelection',
                                           'BypassSearch', 'MessageHubSelection'}
    assert build_selection(dict(type='FirstUnitsSelection', depth=3)).depth == 3
    assert build_selection(dict(type='mmsls.UnitsSelection', remove=['layers.1'])).remove == [
        'layers.1']
    sls = build_selection(dict(type='SLSSelection', alpha=0.5, backend='fast', seed=3))
    assert isinstance(sls, SLSSelection) and (sls.alpha, sls.backend, sls.seed) == (0.5, 'fast', 3)
    assert build_selection(dict(type='BypassSearch', flops_ratio=0.25)).flops_ratio == 0.25
    assert build_selection(dict(type='MessageHubSelection', key='mmsls/sls_keep')).key == \
        'mmsls/sls_keep'
    made = FirstUnitsSelection(2)
    assert build_selection(made) is made
    with pytest.raises(ValueError, match="unknown selection type 'Nope'; the types are"):
        build_selection(dict(type='Nope'))
    with pytest.raises(ValueError, match='a selection is a dict with a "type"'):
        build_selection(['FirstUnitsSelection'])


@pytest.mark.parametrize('make, message', [
    (lambda: FirstUnitsSelection(0), 'depth must be an int >= 1'),
    (lambda: FirstUnitsSelection([1, 2]), 'depth must be an int >= 1'),
    (lambda: UnitsSelection(), 'exactly one of keep and remove'),
    (lambda: UnitsSelection(keep='layers.0'), 'keep must be a non-empty list'),
    (lambda: MessageHubSelection(3), 'keep_from must be a message hub info key'),
    (lambda: BypassSearch(), 'exactly one of num_remove'),
    (lambda: BypassSearch(num_remove=0), 'num_remove must be an int >= 1'),
    (lambda: BypassSearch(flops_ratio=1.5), r'flops_ratio must be a number in \(0, 1\)'),
    (lambda: BypassSearch(num_remove=1, metric='acc'), "metric must be 'loss' or 'error'"),
    (lambda: BypassSearch(num_remove=1, seed='a'), "seed must be an int .*got 'a'"),
    (lambda: SLSSelection(seed='a'), "seed must be an int .*got 'a'"),
    (lambda: SLSSelection(seed=1.5), 'seed must be an int'),
    (lambda: SLSSelection(backend='nope'), "backend='nope' is not a backend of the "
                                           "'tsne_silhouette' criterion; choose one of"),
    (lambda: SLSSelection(criterion_options=dict(criterion='nope')), "unknown criterion 'nope'"),
    (lambda: SLSSelection(num_samples=0), 'num_samples must be an int >= 1'),
    (lambda: SLSSelection(task='depth'), 'task must be one of'),
    (lambda: SLSSelection(pipeline='val'), "pipeline must be None, one of \\('test', 'train'\\)"),
    (lambda: SLSSelection(pipeline=dict(type='LoadImageFromFile')), 'pipeline must be None'),
])
def test_selections_validate_their_arguments_when_built(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize('make, message', [
    # issue 16: a bad seed or backend fails when the hook is built, before any feature capture.
    (lambda: SLSHook(seed='a'), 'seed must be an int'),
    (lambda: SLSHook(backend='nope', keep=2), "backend='nope' is not a backend"),
    (lambda: ProgressiveDepthHook(search=dict(num_remove=1, seed='a')), 'seed must be an int'),
    (lambda: ProgressiveDepthHook(select=dict(type='SLSSelection', backend='nope')),
     "backend='nope'"),
    (lambda: PruneDepthHook(), 'exactly one of depth .* and select'),
    (lambda: PruneDepthHook(depth=2, select=dict(type='FirstUnitsSelection', depth=2)),
     'exactly one'),
    (lambda: PruneDepthHook(select=dict(type='Nope')), 'unknown selection type'),
    (lambda: PruneDepthHook(depth=True), 'depth must be an int >= 1'),
])
def test_hooks_validate_their_arguments_when_built(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_hooks_build_their_selection_from_the_arguments_users_have():
    assert isinstance(SLSHook().selection, SLSSelection)
    assert SLSHook(keep=3).selection.depth == 3
    assert SLSHook(keep=[0, 'layers.2']).selection.keep == [0, 'layers.2']
    assert PruneDepthHook(depth=2).selection.depth == 2
    assert ProgressiveDepthHook(blocks=['layers.1']).selection.remove == ['layers.1']
    assert ProgressiveDepthHook(keep_from='mmsls/sls_keep').selection.key == 'mmsls/sls_keep'
    assert ProgressiveDepthHook(search=dict(num_remove=2)).selection.num_remove == 2
    assert isinstance(ProgressiveDepthHook(select=dict(type='SLSSelection')).selection,
                      SLSSelection)


# Rank 0 decides, every rank gets the decision.

def test_decide_on_rank0_without_a_process_group_is_the_call():
    assert decide_on_rank0(lambda: ['layers.0'], 'a choice') == ['layers.0']
    with pytest.raises(KeyError, match='broken'):
        decide_on_rank0(lambda: {}['broken'], 'a choice')


def _two_ranks(rank: int, port: int, out_dir: str) -> None:
    """Rank 0 draws a random decision, rank 1 a different one; then rank 0 fails to decide."""
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    dist.init_process_group('gloo', rank=rank, world_size=2)
    lines = []
    try:
        torch.manual_seed(rank)  # each rank alone would decide differently
        lines.append(repr(decide_on_rank0(lambda: torch.randperm(8).tolist(), 'a draw')))

        def fail():
            raise ValueError('no units to keep')

        try:
            decide_on_rank0(fail, 'choosing the units')
        except Exception as exc:  # noqa: BLE001  what each rank raises is the result
            lines.append(f'{type(exc).__name__}: {exc}')
        dist.barrier()
    except Exception:  # noqa: BLE001
        lines.append(traceback.format_exc())
    finally:
        with open(os.path.join(out_dir, f'rank{rank}.txt'), 'w') as file:
            file.write('\n'.join(lines))
        dist.destroy_process_group()


def test_two_ranks_get_rank0s_decision_and_its_error(tmp_path):
    # fork: the ranks start with what this process imported already.
    mp.start_processes(_two_ranks, args=(free_port(), str(tmp_path)), nprocs=2, join=True,
                       start_method='fork')
    rank0 = (tmp_path / 'rank0.txt').read_text().splitlines()
    rank1 = (tmp_path / 'rank1.txt').read_text().splitlines()
    torch.manual_seed(0)
    assert rank0[0] == rank1[0] == repr(torch.randperm(8).tolist())
    assert rank0[1] == 'ValueError: no units to keep'
    assert rank1[1] == ('RuntimeError: choosing the units failed on rank 0: ValueError: no units '
                        'to keep')
