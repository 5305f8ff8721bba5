"""``python -m hms SUBCOMMAND``: the command-line entry point. Each subcommand delegates to one module."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from hms.data.errors import DataError

Handler = Callable[[argparse.Namespace], int]


def _synth(args: argparse.Namespace) -> int:
    from hms.synth import SynthConfig, dry_run, format_summary, simulate

    cfg = SynthConfig(args.n_patients, args.n_test_patients, args.seed, args.max_eegs_per_patient)
    if args.dry_run:
        print(format_summary(dry_run(cfg)))
        return 0
    if args.out is None:
        raise ValueError("synth needs --out DIR (or --dry-run)")
    summary = simulate(args.out, cfg, workers=args.workers, force=args.force)
    print(format_summary(summary))
    print(f"wrote {args.out}")
    return 0


def _folds(args: argparse.Namespace) -> int:
    from hms.data import fold_class_shares, make_folds, read_train_csv
    from hms.io import write_csv

    train = read_train_csv(args.train)
    folds = make_folds(train, args.n_folds, args.seed)
    write_csv(folds, args.out)
    shares = fold_class_shares(folds, train)
    spread = (shares.drop(index="all") - shares.loc["all"]).abs().to_numpy().max() * 100
    print(shares.round(3).to_string())
    print(f"{folds['fold'].nunique()} folds, {len(folds)} eeg_ids, {folds['patient_id'].nunique()} patients; "
          f"largest class-share gap to the overall share: {spread:.2f} points")  # fmt: skip
    print(f"wrote {args.out}")
    return 0


def _score(args: argparse.Namespace) -> int:
    import pandas as pd

    from hms.metric import score

    value = score(pd.read_csv(args.solution), pd.read_csv(args.submission))
    print(f"{value:.6f}")
    return 0


def _baseline(args: argparse.Namespace) -> int:
    from hms.baseline import run_baseline
    from hms.data import Competition, read_folds

    comp = Competition.from_arg(args.data)
    train = comp.train(require_files=False)
    scores = run_baseline(train, read_folds(args.folds, train), args.out)
    print(scores.round(4).to_string(index=False))
    print(f"wrote {args.out}")
    return 0


def _stats(args: argparse.Namespace) -> int:
    import pandas as pd

    from hms.data import read_train_csv
    from hms.data.stats import compare_table, describe_train
    from hms.synth.params import REAL_REFERENCE

    table = compare_table(describe_train(read_train_csv(args.train)), {})
    table["real"] = pd.Series(REAL_REFERENCE)
    print(table.to_string(float_format=lambda v: f"{v:.3f}"))
    return 0


def _spectrogram(args: argparse.Namespace) -> int:
    from hms.constants import SAMPLE_RATE
    from hms.data import read_eeg
    from hms.io import write_parquet
    from hms.signal.organizer import organizer_table

    eeg = read_eeg(args.eeg)
    if eeg.shape[0] < 10 * SAMPLE_RATE:
        raise DataError(f"{args.eeg}: EEG is {eeg.shape[0] / SAMPLE_RATE:g} s long; hms spectrogram needs >= 10 s")
    table = organizer_table(eeg)
    write_parquet(table, args.out)
    print(
        f"wrote {args.out}: {len(table)} rows x 400 columns (time {table['time'].iloc[0]}..{table['time'].iloc[-1]} s)"
    )
    return 0


def _fidelity(args: argparse.Namespace) -> int:

    import numpy as np

    from hms.paths import SHARED_SAMPLE_DIR
    from hms.signal.fidelity import pair_fidelity, real_pairs

    sample = Path(args.sample) if args.sample else SHARED_SAMPLE_DIR
    if not (sample / "train.csv").is_file():
        raise DataError(f"{sample}: no real competition sample (train.csv, train_eegs/, ...); pass --sample DIR")
    print("eeg_id       rows  r_spectrum LL/RL/LP/RP       r_power_time LL/RL/LP/RP     power ratio")
    pooled = []
    for pair in real_pairs(sample):
        r = pair_fidelity(pair)
        pooled.append(r["r_power_time"])
        fmt = lambda a: " ".join(f"{v:.3f}" for v in a)  # noqa: E731
        print(f"{pair.eeg.stem:11s} {int(r['rows']):5d}  {fmt(r['r_spectrum'])}   {fmt(r['r_power_time'])}   "
              f"{fmt(r['scale_ratio'])}")  # fmt: skip
    allr = np.concatenate(pooled)
    print(f"r_power_time over all chains: median {np.median(allr):.3f}, mean {allr.mean():.3f}, min {allr.min():.3f}")
    return 0


def _frontend(args: argparse.Namespace):
    import yaml

    from hms.signal.config import FrontEndConfig

    values = {}
    if args.frontend:
        values = yaml.safe_load(open(args.frontend)) or {}
        values = values.get("frontend", values)
    for item in args.set or []:
        key, _, raw = item.partition("=")
        values[key] = yaml.safe_load(raw)
    return FrontEndConfig.from_dict(values)


def _prepare(args: argparse.Namespace) -> int:
    from hms.signal.prepare import cache_dir, prepare

    cfg = _frontend(args)
    counts = prepare(args.data, args.cache, cfg, workers=args.workers)
    print(f"{cache_dir(args.cache, cfg)}: {counts['done']} computed, {counts['cached']} already cached, "
          f"{counts['errors']} failed" + (" (see errors.txt there)" if counts["errors"] else ""))  # fmt: skip
    return 0


def _plot(args: argparse.Namespace) -> int:

    from hms.data import Competition
    from hms.plots import plot_montage, plot_panels
    from hms.signal.image import eeg_panels, organizer_panels, stack_panels

    cfg = _frontend(args)
    comp = Competition.from_arg(args.data)
    split = args.split
    table = comp.train(require_files=True) if split == "train" else comp.with_files(comp.test(), "test")
    rows = table[table["eeg_id"] == args.eeg_id] if args.eeg_id else table.head(1)
    if rows.empty:
        raise DataError(f"eeg_id {args.eeg_id} is not among the {split} rows with files under {comp.root}")
    row = rows.iloc[0].to_dict()
    window, _ = comp.clean_eeg_window(row, split)
    org = comp.clean_spectrogram_window(row, split)
    panels = stack_panels(organizer_panels(org, cfg), eeg_panels(window, cfg))
    label = row.get("expert_consensus", "test")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    plot_panels(panels, cfg, f"eeg {row['eeg_id']} · {label}").savefig(out / f"{row['eeg_id']}_image.png", dpi=90)
    plot_montage(window, cfg).savefig(out / f"{row['eeg_id']}_montage.png", dpi=90)
    print(f"wrote {out}/{row['eeg_id']}_image.png and _montage.png")
    return 0


def _train(args: argparse.Namespace) -> int:
    from hms.train.config import load_config
    from hms.train.run import run_experiment

    cfg = load_config(args.config, args.set)
    scores = run_experiment(cfg, args.data, args.models, resume=args.resume)
    if not scores.empty:
        print(scores.round(4).to_string(index=False))
    return 0


def _bandpower(args: argparse.Namespace) -> int:
    from hms.bandpower import run_bandpower

    scores = run_bandpower(args.data, args.folds, args.out, args.seed)
    print(scores.round(4).to_string(index=False))
    return 0


def _settings(path: str | None, overrides: list[str] | None) -> dict:
    """A flat YAML of settings (optional) + KEY=VALUE overrides (values parsed as YAML scalars)."""
    import yaml

    settings = {}
    if path:
        if not Path(path).is_file():
            raise FileNotFoundError(f"{path}: settings file not found")
        settings = yaml.safe_load(Path(path).read_text()) or {}
    for item in overrides or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--set {item!r}: expected KEY=VALUE")
        settings[key.strip()] = yaml.safe_load(value)
    return settings


def _sae(args: argparse.Namespace) -> int:
    from hms.sae.run import run_sae

    ks = tuple(int(k) for k in args.k_curve.split(",")) if args.k_curve else ()
    table = run_sae(args.experiment, args.data, args.models, _settings(args.config, args.set), ks)
    print(table.round(4).to_string(index=False))
    print(f"written: {Path(args.models) / args.experiment / 'sae'}")
    return 0


def _clip(args: argparse.Namespace) -> int:
    from hms.clip.model import ClipConfig
    from hms.clip.train import run_clip

    settings: dict = {}
    for key, value in _settings(args.config, args.set).items():  # model.name=... -> {"model": {"name": ...}}
        *parents, leaf = key.split(".")
        node = settings
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    cfg = ClipConfig.from_dict(settings)
    table = run_clip(cfg, args.data, args.models)
    print(table.round(4).to_string(index=False))
    print(f"written: {Path(args.models) / cfg.name / 'clip'}")
    return 0


def _stack(args: argparse.Namespace) -> int:
    from hms.stack import FEATURE_SETS, run_stack

    sets = tuple(args.feature_sets.split(",")) if args.feature_sets else tuple(FEATURE_SETS)
    ablation = run_stack(args.experiment, args.data, args.models, sets, rounds=args.rounds, seed=args.seed)
    print(ablation.round(4).to_string(index=False))
    return 0


def _explain(args: argparse.Namespace) -> int:
    from hms.explain.run import run_explain
    from hms.paths import files_dir

    out = Path(args.out) if args.out else files_dir() / "reports" / args.experiment
    tables = run_explain(args.experiment, args.data, args.models, fold=args.fold, top=args.top, out=out,
                         cards_per_class=args.cards, report=not args.no_report, seed=args.seed,
                         clip=args.clip)  # fmt: skip
    r = tables["rankings"]
    print(r[r["rank"] <= 3][["class", "rank", "feature", "auroc", "description"]].to_string(index=False))
    if "ground_truth" in tables:
        print(tables["ground_truth"].round(3).to_string(index=False))
    print(f"written: {out}" + ("" if args.no_report else f"  (open {out / 'index.html'})"))
    if args.screenshot and not args.no_report:
        from hms.explain.browser import check_page

        result = check_page(out / "index.html", out / "screenshot.png")
        print(
            f"screenshot: {out / 'screenshot.png'}  console errors: {len(result['console_errors'])}, "
            f"broken images: {len(result['broken_images'])}"
        )
    return 0


def _kaggle_package(args: argparse.Namespace) -> int:
    from hms.kaggle import package

    out = package(args.experiment, args.out, args.models, args.user, args.stack, args.gpu)
    print(f"dataset: {out['dataset']}  (kaggle datasets create -p {out['dataset']})")
    print(f"kernel:  {out['kernel']}  (kaggle kernels push -p {out['kernel']})")
    return 0


def _leaderboard(args: argparse.Namespace) -> int:
    from hms import leaderboard

    cols = ["experiment", "oof_kl_golden", "oof_kl_all", "gap_left", "bayes_floor", "class_prior_kl", "model", "seed",
            "train_minutes", "date", "git_commit"]  # fmt: skip
    print(leaderboard.show()[cols].to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m hms", description="HMS harmful brain activity toolkit")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("synth", help="simulate a competition dataset in the exact real layout (+ ground truth)")
    p.add_argument("--out", default=None, help="output folder (train.csv, train_eegs/, ..., oracle.csv)")
    p.add_argument("--n-patients", type=int, default=20, help="training patients (default 20)")
    p.add_argument("--n-test-patients", type=int, default=None, help="test patients (default n_patients // 6, >= 2)")
    p.add_argument("--max-eegs-per-patient", type=int, default=15, help="cap on EEGs per patient (0: no cap)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--force", action="store_true", help="rebuild even if --out already holds this simulation")
    p.add_argument("--dry-run", action="store_true", help="labels only: print statistics, write nothing (any size)")
    p.set_defaults(func=_synth)

    p = sub.add_parser("folds", help="patient-grouped, consensus-stratified folds (one row per eeg_id)")
    p.add_argument("--train", required=True, help="train.csv")
    p.add_argument("--out", default="files/folds.csv")
    p.add_argument("--n-folds", type=int, default=5)
    p.add_argument("--seed", type=int, default=42)
    p.set_defaults(func=_folds)

    p = sub.add_parser("score", help="competition metric; the score is the last line printed")
    p.add_argument("--solution", required=True, help="csv with eeg_id + six *_vote columns (counts or probabilities)")
    p.add_argument("--submission", required=True, help="csv with eeg_id + six *_vote probabilities")
    p.set_defaults(func=_score)

    p = sub.add_parser("baseline", help="class-prior baseline, scored out of fold")
    p.add_argument("--data", default=None, help="data root (default: Kaggle input if present, else sample_data/)")
    p.add_argument("--folds", default="files/folds.csv")
    p.add_argument("--out", default="models/baseline")
    p.set_defaults(func=_baseline)

    p = sub.add_parser("spectrogram", help="organizer-format spectrogram (time + 400 columns) from a raw EEG >= 10 s")
    p.add_argument("--eeg", required=True, help="EEG parquet (20 columns, 200 Hz)")
    p.add_argument("--out", required=True, help="output parquet")
    p.set_defaults(func=_spectrogram)

    p = sub.add_parser("fidelity", help="how closely hms spectrogram matches the real organizer files")
    p.add_argument("--sample", default=None, help="real competition sample (default ../shared/hms_sample)")
    p.set_defaults(func=_fidelity)

    def frontend_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--frontend", default=None, help="YAML with front-end settings (or a 'frontend:' section)")
        p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override one front-end setting")

    p = sub.add_parser("prepare", help="cache every recording's spectrograms for fast training (resumable)")
    p.add_argument("--data", default=None)
    p.add_argument("--cache", default="cache")
    p.add_argument("--workers", type=int, default=2)
    frontend_args(p)
    p.set_defaults(func=_prepare)

    p = sub.add_parser("plot", help="stacked image and montage traces of one label window, as PNGs")
    p.add_argument("--data", default=None)
    p.add_argument("--eeg-id", type=int, default=None, help="default: the first row with files")
    p.add_argument("--split", choices=("train", "test"), default="train")
    p.add_argument("--out", default="files/plots")
    frontend_args(p)
    p.set_defaults(func=_plot)

    p = sub.add_parser("train", help="train every fold of an experiment (works under torchrun too)")
    p.add_argument("--config", required=True, help="configs/NAME.yaml")
    p.add_argument("--data", default=None)
    p.add_argument("--models", default="models", help="output root: models/<experiment>/")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override, e.g. train.epochs_stage1=2")
    p.add_argument("--resume", action="store_true", help="continue each fold from its last saved epoch")
    p.set_defaults(func=_train)

    p = sub.add_parser("bandpower", help="non-deep baseline: LightGBM on band powers per chain, same folds")
    p.add_argument("--data", default=None)
    p.add_argument("--folds", required=True, help="folds.csv (e.g. models/<experiment>/folds.csv)")
    p.add_argument("--out", default="models/bandpower")
    p.add_argument("--seed", type=int, default=42)
    p.set_defaults(func=_bandpower)

    p = sub.add_parser("clip", help="EEG-CLIP: align EEG embeddings with report text; zero-shot scores per fold")
    p.add_argument("--config", default="configs/clip.yaml", help="settings (YAML; see hms.clip.model.ClipConfig)")
    p.add_argument("--data", default=None)
    p.add_argument("--models", default="models")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a setting, e.g. folds=[0] epochs=4")
    p.set_defaults(func=_clip)

    p = sub.add_parser("sae", help="sparse autoencoder per fold on the CNN's embeddings (resumable per fold)")
    p.add_argument("--experiment", required=True, help="a trained experiment: models/<experiment>/")
    p.add_argument("--data", default=None)
    p.add_argument("--models", default="models")
    p.add_argument("--config", default="configs/sae.yaml", help="SAE settings (YAML; see hms.sae.model.SAEConfig)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override one SAE setting, e.g. k=16")
    p.add_argument("--k-curve", default="4,8,16,32,64", help="k values for the explained-variance curve ('' = none)")
    p.set_defaults(func=_sae)

    p = sub.add_parser("stack", help="LightGBM stacker per fold + feature-set ablation (needs hms sae for SAE sets)")
    p.add_argument("--experiment", required=True)
    p.add_argument("--data", default=None)
    p.add_argument("--models", default="models")
    p.add_argument("--feature-sets", default=None, help="comma list (default all: logits,logits_embedding,...)")
    p.add_argument("--rounds", type=int, default=300, help="boosting rounds per fold")
    p.add_argument("--seed", type=int, default=42)
    p.set_defaults(func=_stack)

    p = sub.add_parser("explain", help="explain the six classes: SAE feature tables, saliency, clusters, report")
    p.add_argument("--experiment", required=True)
    p.add_argument("--data", default=None)
    p.add_argument("--models", default="models")
    p.add_argument("--fold", type=int, default=0, help="whose CNN, SAE and stacker to explain")
    p.add_argument("--top", type=int, default=10, help="features ranked per class")
    p.add_argument("--cards", type=int, default=3, help="feature cards (thumbnails + saliency) per class")
    p.add_argument("--out", default=None, help="output folder (default files/reports/<experiment>)")
    p.add_argument("--seed", type=int, default=42, help="UMAP seed")
    p.add_argument("--no-report", action="store_true", help="CSV tables only, no saliency and no index.html")
    p.add_argument("--clip", default=None, help="EEG-CLIP folder for feature words (default models/<experiment>/clip)")
    p.add_argument("--screenshot", action="store_true", help="render index.html in headless Chromium -> screenshot.png")
    p.set_defaults(func=_explain)

    p = sub.add_parser("kaggle-package", help="Kaggle dataset (code + weights) and offline submission kernel folders")
    p.add_argument("--experiment", required=True)
    p.add_argument("--out", required=True, help="output folder: OUT/dataset and OUT/kernel")
    p.add_argument("--models", default="models")
    p.add_argument("--user", default="USERNAME", help="your Kaggle user name (for the dataset and kernel ids)")
    p.add_argument("--stack", default=None, help="feature set to ship (default: stack/best.json, else cnn)")
    p.add_argument("--gpu", action="store_true", help="ask for a GPU in kernel-metadata.json")
    p.set_defaults(func=_kaggle_package)

    p = sub.add_parser("leaderboard", help="the local CV leaderboard, best first")
    p.set_defaults(func=_leaderboard)

    p = sub.add_parser("stats", help="structure and label statistics of a train.csv next to the real ones")
    p.add_argument("--train", required=True)
    p.set_defaults(func=_stats)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(message)s")
    if getattr(args, "max_eegs_per_patient", None) == 0:
        args.max_eegs_per_patient = None
    try:
        return args.func(args)
    except (DataError, ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
