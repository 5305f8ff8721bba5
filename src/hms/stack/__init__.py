"""The LightGBM stacker: :mod:`hms.stack.model` (feature sets, a fold's stacker at inference) and
:mod:`hms.stack.run` (``python -m hms stack``: fit per fold + feature-set ablation)."""
