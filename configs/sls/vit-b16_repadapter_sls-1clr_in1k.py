# SLS stage 2 for ViT-B/16 + RepAdapter: load the PETL-trained model (stage 1,
# ../adapters/vit-b16_repadapter_in1k.py), let SLSHook choose the depth on 1000 class-balanced
# training images (unaugmented: the test pipeline) and prune, then re-train the adapters and the
# head with the paper's default, one cycle of warm-up + cosine ("1-CLR": AdamW lr 1e-3, wd 1e-4,
# 10 + 90 epochs, floor 1e-5), inherited from the stage-1 config.
_base_ = ['../adapters/vit-b16_repadapter_in1k.py']

load_from = 'work_dirs/vit-b16_repadapter_in1k/epoch_100.pth'
sls_hook = dict(type='mmsls.SLSHook', alpha=0.3, num_samples=1000, backend='auto',
                plot_tsne=True)
custom_hooks = [sls_hook]
