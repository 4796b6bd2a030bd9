# "SLS chooses, UPDP fades", added to a PETL config in place of the SLS stage's hook: at the start of
# re-training, SLS analyses the loaded PETL model and decides the kept depth (dry_run: it prunes
# nothing, it hands its decision over); the progressive hook then fades the layers above that depth
# out over the first 30 epochs (cosine), removes them, and re-training goes on with the pruned model.
# Same kept depth and the same re-training budget as the one-shot SLS stage.
custom_hooks = [
    dict(type='mmsls.SLSHook', alpha=0.3, num_samples=1000, backend='auto', dry_run=True),
    dict(type='mmsls.ProgressiveDepthHook', keep_from='mmsls/sls_keep', begin=0, span=30,
         by='epoch', schedule='cosine'),
]
