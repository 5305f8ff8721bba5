"""Competition simulator: writes a dataset in the exact competition layout, with known ground truth."""

from hms.synth.simulate import SynthConfig, dry_run, format_summary, simulate

__all__ = ["SynthConfig", "dry_run", "format_summary", "simulate"]
