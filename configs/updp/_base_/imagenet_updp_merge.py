# What the UPDP merge recipes on ImageNet-1k share: UPDP's four stages with ProgressiveDepthHook
# (mode='merge'), starting from a trained model.
# 1. supernet: for the first `begin` epochs every block with a merged form runs its linear form
#    (activations -> identity, LayerNorm -> BatchNorm, ViT attention gone) with probability 0.5;
# 2. search: the greedy search merges, one at a time, the blocks whose linear form raises the training
#    loss the least (1024 training images, the supernet's stand-ins);
# 3. fade: the chosen blocks blend into their linear form over `span` epochs (cosine);
# 4. merge: each becomes its merged block (a Linear, a dense conv, a depth-wise + 1x1 conv, ...) and
#    the subnet trains for the remaining epochs.
# The blend formulas, the epoch counts and the supernet probability are ours: the paper's summary
# gives none (docs/updp.md).
#
# Data: ImageNet-style folders, data/imagenet/{train,val}/<class>/<image> (see docs/updp.md).
custom_imports = dict(imports=['mmsls'], allow_failed_imports=False)

# The merge hook; each recipe sets how many blocks the search merges.
updp_merge_hook = dict(type='mmsls.ProgressiveDepthHook', mode='merge', supernet=dict(prob=0.5),
                       begin=10, span=30, by='epoch', schedule='cosine', calibrate_samples=1024,
                       search=dict(num_samples=1024, metric='loss'))
