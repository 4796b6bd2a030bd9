# SLS iterative pruning (the paper's ablation): the depth is chosen once, then layers go one at a
# time, the top one first, with iterative_interval iterations of re-training after each removal;
# the 1-CLR schedule runs over the whole re-training. Set the interval to a few epochs of your
# dataset.
_base_ = ['./vit-b16_repadapter_sls-1clr_in1k.py']

custom_hooks = [dict(_base_.sls_hook, iterative=True, iterative_interval=500)]
