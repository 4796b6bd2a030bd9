# What the UPDP recipes on ImageNet-1k share. UPDP (Liu et al., 2024) starts from a trained model,
# chooses the blocks to remove with its subnet search, moves the model progressively from the baseline
# to the subnet during training, then removes the blocks. Here: the search (greedy bypass of the blocks
# whose removal raises the training loss the least, on 1024 training images) runs when the fade starts;
# the fade blends each chosen block towards the identity over `span` epochs with a cosine schedule;
# the blocks are then removed and the subnet trains for the remaining epochs. The epoch counts are our
# choice: the paper's summary gives none.
#
# Data: ImageNet-style folders, data/imagenet/{train,val}/<class>/<image> (mmpretrain's ImageNet
# dataset scans them when there is no annotation file; see docs/updp.md).
custom_imports = dict(imports=['mmsls'], allow_failed_imports=False)

# The progressive hook; each recipe sets how many blocks the search removes.
updp_hook = dict(type='mmsls.ProgressiveDepthHook', begin=0, span=30, by='epoch',
                 schedule='cosine', search=dict(num_samples=1024, metric='loss'))
