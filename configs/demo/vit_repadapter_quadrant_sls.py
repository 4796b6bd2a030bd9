# Demo stages (c) and (d): SLS on the PETL model of vit_repadapter_quadrant.py. Before re-training,
# the hook captures each layer's cls token on 500 unaugmented training images, scores each layer by
# the silhouette of its 2-D t-SNE embedding grouped by the target classes, and keeps the first k
# layers, where k is the lowest layer from which every layer up to the top scores at least alpha x
# the top layer's score (alpha = 0.3, the paper's value). It prunes the rest and writes
# sls_scores.json, sls_scores.png and sls_tsne.png to the work dir. Re-training of the adapters and
# the head then follows the PETL recipe from the loaded ones: one cycle of warm-up + cosine (1-CLR).
_base_ = ['./vit_repadapter_quadrant.py']
# tools/demo.py passes its own PETL checkpoint with --cfg-options load_from=PATH.
load_from = 'work_dirs/demo/petl/epoch_20.pth'

custom_hooks = [
    dict(type='mmsls.SLSHook', alpha=0.3, num_samples=500, backend='sklearn', seed=0,
         pipeline={{_base_.test_pipeline}}, plot_tsne=True)
]
