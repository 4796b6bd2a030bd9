# The SLS stage, added to a PETL config: before re-training starts, the hook captures each layer's
# cls token over (up to) 1000 training images, scores the layers by the silhouette of their t-SNE
# embedding, keeps the layers above alpha x the top layer's score (alpha = 0.3, the paper's value),
# prunes the rest, and writes sls_scores.json / sls_scores.png to the work dir. Re-training then
# follows the PETL config's own schedule from the loaded adapters: warm-up + cosine, i.e. 1-CLR.
# The sample is loaded unaugmented (the test pipeline) and scored with the paper's criterion:
# backend='auto' is the reference on a CPU (the authors' t-SNE call bit for bit) and the batched
# torch t-SNE on a GPU; 'sklearn' forces the reference, 'fast' is the measured cheaper CPU choice
# (docs/criteria.md).
custom_hooks = [dict(type='mmsls.SLSHook', alpha=0.3, num_samples=1000, backend='auto')]
