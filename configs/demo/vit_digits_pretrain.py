# Demo stage (a): pre-train the small ViT from scratch on the source task, digit identity (10
# classes, 30 epochs). Its checkpoint is the frozen, shared backbone of the later stages.
_base_ = ['./_digits_vit.py']
