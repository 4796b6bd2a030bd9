# As setr_vit-l_repadapter_sls-alpha0.5_pup_8xb2-160k_ade20k-512x512.py with the stronger setting:
# alpha 0.3 (the paper's VTAB-1k value) lowers the threshold, so SLS keeps fewer layers (the paper's
# stronger segmentation result prunes 8 of 24 layers).
_base_ = './setr_vit-l_repadapter_sls-alpha0.5_pup_8xb2-160k_ade20k-512x512.py'

custom_hooks = [dict(_base_.custom_hooks[0], alpha=0.3)]
