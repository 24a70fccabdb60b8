"""The callbacks a run hands the trainer, one per file: the metrics log, checkpoints, the progress bar and epoch
lines, the run's health guard, TensorBoard, and the stop request that SIGTERM and Ctrl-C set. A user's own
callbacks subclass :class:`pe_actors.training.trainer.Callback` and run after these."""

from pe_actors.training.callbacks.checkpoint import CheckpointCallback
from pe_actors.training.callbacks.health import LIMITS, DeadRunError, HealthGuard
from pe_actors.training.callbacks.metrics import MetricsLog
from pe_actors.training.callbacks.progress import ProgressBar
from pe_actors.training.callbacks.stop import StopRequest
from pe_actors.training.callbacks.tensorboard import TensorBoardLog

__all__ = ["LIMITS", "CheckpointCallback", "DeadRunError", "HealthGuard", "MetricsLog", "ProgressBar", "StopRequest",
           "TensorBoardLog"]
