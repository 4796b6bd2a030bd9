"""What tools and users call: build a trained model from its config and checkpoint
(:func:`init_model`, the one loader), per-task files on top of a shared backbone, and deployment
as a plain config of the model's own library (:func:`deploy_model`; ONNX: :mod:`.onnx_export`)."""
from .deploy import Deployment, deploy_model, save_deployment
from .model import init_model, load_trained_weights, read_checkpoint
from .task import TASK_FILE_FORMAT, build_initialised_model, export_task, file_sha256, load_task

__all__ = [
    'Deployment', 'deploy_model', 'save_deployment',
    'TASK_FILE_FORMAT', 'build_initialised_model', 'export_task', 'file_sha256', 'init_model',
    'load_task', 'load_trained_weights', 'read_checkpoint'
]
