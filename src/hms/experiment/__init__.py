"""An experiment: its configuration (:mod:`hms.experiment.config`) and its folder ``models/<experiment>/``
(:mod:`hms.experiment.folder`, the one owner of every path in it)."""

from hms.experiment.config import ExperimentConfig, TrainParams, from_dict, load_config, save_config
from hms.experiment.folder import ExperimentDir

__all__ = ["ExperimentConfig", "ExperimentDir", "TrainParams", "from_dict", "load_config", "save_config"]
