"""Use a deployed model with its library alone, in a process where ``import mmsls`` fails.

    python plain_library.py SCOPE CONFIG CHECKPOINT INPUTS OUTPUTS IMAGE WORK_DIR

Loads CONFIG/CHECKPOINT with the library's own API, saves ``model(INPUTS, mode='tensor')`` (a list
of tensors) to OUTPUTS, runs the library's inferencer on IMAGE and its own ``tools/test.py`` (the
one ``mim test`` runs) with WORK_DIR; the tiny configs read their data relative to the working
directory. Prints ``TEST LOOP DONE`` and the inferencer's result.
"""
import os.path as osp
import runpy
import sys


class BlockMMSLS:
    """A meta-path finder that refuses to import mmsls, as if it were not installed."""

    def find_spec(self, name, path=None, target=None):
        if name == 'mmsls' or name.startswith('mmsls.'):
            raise ImportError(f'{name} is blocked in this process (deployed models need no mmsls)')
        return None


sys.meta_path.insert(0, BlockMMSLS())

import torch  # noqa: E402


def flatten(outputs):
    if isinstance(outputs, torch.Tensor):
        return [outputs]
    return [tensor for item in outputs for tensor in flatten(item)]


def main():
    scope, config, checkpoint, inputs, outputs, image, work_dir = sys.argv[1:8]
    if scope == 'mmpretrain':
        import mmpretrain
        from mmpretrain.apis import ImageClassificationInferencer, get_model
        model = get_model(config, pretrained=checkpoint)
        result = ImageClassificationInferencer(config, pretrained=checkpoint)(image)[0]
        summary = f'pred_label={result["pred_label"]} pred_class={result.get("pred_class")}'
    elif scope == 'mmdet':
        import mmdet
        from mmdet.apis import DetInferencer, init_detector
        model = init_detector(config, checkpoint, device='cpu')
        result = DetInferencer(config, checkpoint, device='cpu', show_progress=False)(
            image, return_datasamples=True)['predictions'][0]
        summary = f'boxes={len(result.pred_instances)}'
        mmpretrain = mmdet
    else:
        import mmseg
        from mmseg.apis import MMSegInferencer, init_model
        model = init_model(config, checkpoint, device='cpu')
        result = MMSegInferencer(config, checkpoint, device='cpu')(
            image, return_datasamples=True)
        summary = f'seg_map={tuple(result.pred_sem_seg.data.shape)}'
        mmpretrain = mmseg
    model.eval()
    with torch.no_grad():
        torch.save(flatten(model(torch.load(inputs), mode='tensor')), outputs)
    print(f'INFERENCER {summary}')

    test_py = osp.join(osp.dirname(mmpretrain.__file__), '.mim', 'tools', 'test.py')
    sys.argv = [test_py, config, checkpoint, '--work-dir', work_dir]
    runpy.run_path(test_py, run_name='__main__')
    assert not any(name == 'mmsls' or name.startswith('mmsls.') for name in sys.modules)
    print('TEST LOOP DONE')


if __name__ == '__main__':
    main()
