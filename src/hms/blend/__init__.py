"""Blending experiments: :mod:`hms.blend.model` (the blend and its blend.json, applied by submission.py) and
:mod:`hms.blend.fit` (``python -m hms blend``: fitting, nested cross-validation, the experiments shortcut)."""
