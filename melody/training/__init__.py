"""Training: settings, data, the loop, its runtime (devices, torchrun), checkpoints, optimizer.

`train(data, ...)` (melody.training.run) is the one entry point; the CLI's progress bar and the
terminal UI's train screen are `on_event` consumers of the TrainEvents it reports. torch is
imported only once a run starts, so importing this package stays light.
"""

from melody.training.data import split_pieces
from melody.training.events import PHASES, TrainEvent, TrainResult
from melody.training.metrics import loss_plot, read_metrics
from melody.training.run import default_out, resolve_settings, train

__all__ = ["PHASES", "TrainEvent", "TrainResult", "default_out", "loss_plot", "read_metrics",
           "resolve_settings", "split_pieces", "train"]
