# VTAB-1k cifar, ViT-B/16 + RepAdapter: the SLS stage with progressive removal instead of one-shot
# pruning (compare with ../vtab/repadapter/vit-b16_repadapter_sls_vtab1k-cifar.py). Any other task:
# inherit its PETL config and ./_base_/sls_progressive.py the same way.
_base_ = ['../vtab/repadapter/vit-b16_repadapter_vtab1k-cifar.py', './_base_/sls_progressive.py']

load_from = 'work_dirs/vit-b16_repadapter_vtab1k-cifar/epoch_100.pth'
