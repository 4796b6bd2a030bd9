# SLS re-training strategy "FT": after pruning, continue training the adapters and the head at the
# small constant learning rate that ends the 1-CLR cycle (1e-5), no warm-up.
_base_ = ['./vit-b16_repadapter_sls-1clr_in1k.py']

optim_wrapper = dict(optimizer=dict(lr=1e-5))
param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=True, begin=0, end=100)]
