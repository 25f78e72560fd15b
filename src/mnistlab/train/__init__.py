"""Training: config, optimizers and schedules, the loop, run folders and checkpoints."""

from mnistlab.runs.folder import load_model, read_meta
from mnistlab.train.config import TrainConfig, build_config
from mnistlab.train.engine import Callbacks, train_epochs
from mnistlab.train.run import run_training

__all__ = [
    "Callbacks",
    "TrainConfig",
    "build_config",
    "load_model",
    "read_meta",
    "run_training",
    "train_epochs",
]
