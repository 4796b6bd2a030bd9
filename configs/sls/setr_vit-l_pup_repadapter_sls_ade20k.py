# SLS stage 2 for SETR-PUP ViT-L + RepAdapter on ADE20K: load the PETL-trained segmentor (stage 1,
# ../adapters/setr_vit-l_pup_repadapter_ade20k.py), let SLSHook choose the depth on 1000
# class-balanced tokens of the training set (each labelled by the majority class of its pixels, at
# most 2 per class and image) and prune layers (the outputs read by the decode and auxiliary heads
# move onto the kept layers), then re-train with the stage-1 schedule.
_base_ = ['../adapters/setr_vit-l_pup_repadapter_ade20k.py']

load_from = 'work_dirs/setr_vit-l_pup_repadapter_ade20k/iter_160000.pth'
custom_hooks = [dict(type='mmsls.SLSHook', alpha=0.3, num_samples=1000, backend='auto',
                     plot_tsne=True)]
