# SLS re-training strategy "TFS" (train from scratch): after pruning, the adapters go back to their
# initialisation and are trained again with the 1-CLR schedule; the head keeps its trained weights.
_base_ = ['./vit-b16_repadapter_sls-1clr_in1k.py']

custom_hooks = [dict(_base_.sls_hook, reinit_adapters=True)]
