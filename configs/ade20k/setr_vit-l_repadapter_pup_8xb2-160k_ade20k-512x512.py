# PETL stage of the paper's segmentation recipe: SETR-PUP, frozen ViT-L/16 (ImageNet-21k
# pre-trained, the official config's pretrain/vit_large_p16.pth) with RepAdapter before attention
# and MLP of every layer; the adapters, the backbone's biases (as the public RepAdapter segmentation
# code does; set model.backbone.train_bias=False for adapters + heads only), the decode head and the
# three auxiliary heads train. Data (data/ade/ADEChallengeData2016), schedule (SGD, 160k iterations,
# batch 16 = 8 GPUs x 2) and metric (IoUMetric, mIoU; multi-scale with tools/test.py --tta) are the
# official config's. Next: setr_vit-l_repadapter_sls-alpha0.5_pup_8xb2-160k_ade20k-512x512.py.
_base_ = '../adapters/setr_vit-l_pup_repadapter_ade20k.py'

# Keep the last checkpoint only; the SLS stage loads it.
default_hooks = dict(checkpoint=dict(max_keep_ckpts=1))
