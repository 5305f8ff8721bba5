"""``python -m hms SUBCOMMAND``: the command-line entry point. It parses arguments and calls one function of the
module that owns the work; no logic lives here.

Flags mean one thing everywhere: ``--models-root`` is the folder holding experiments (``models/``; the old spelling
``--models`` still works), ``--experiment NAME`` is one experiment in it, ``--data`` the competition data root."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from hms import config
from hms.data.errors import DataError
from hms.paths import MODELS_DIR

Handler = Callable[[argparse.Namespace], int]

# Each handler imports its stage lazily: `python -m hms score` must not pay for torch, timm and LightGBM.


def _synth(args: argparse.Namespace) -> int:
    from hms.synth import SynthConfig, dry_run, format_summary, simulate  # deferred: see the note above

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
    from hms.data import fold_summary, make_folds, read_train_csv  # deferred: see the note above
    from hms.io import check_output, write_csv

    check_output(args.out, "folds table", [args.train])
    train = read_train_csv(args.train)
    folds = make_folds(train, args.n_folds, args.seed)
    write_csv(folds, args.out)
    print(fold_summary(folds, train))
    print(f"wrote {args.out}")
    return 0


def _score(args: argparse.Namespace) -> int:
    from hms.metric import score_files  # deferred: see the note above

    print(f"{score_files(args.solution, args.submission):.6f}")
    return 0


def _baseline(args: argparse.Namespace) -> int:
    from hms.baselines.prior import run_baseline  # deferred: see the note above
    from hms.data import Competition, read_folds

    train = Competition.from_arg(args.data).train(require_files=False)
    scores = run_baseline(train, read_folds(args.folds, train), args.out)
    print(scores.round(4).to_string(index=False))
    print(f"wrote {args.out}")
    return 0


def _stats(args: argparse.Namespace) -> int:
    from hms.data.stats import real_comparison  # deferred: see the note above
    from hms.synth.params import REAL_REFERENCE

    print(real_comparison(args.train, REAL_REFERENCE).to_string(float_format=lambda v: f"{v:.3f}"))
    return 0


def _spectrogram(args: argparse.Namespace) -> int:
    from hms.io import check_output  # deferred: see the note above
    from hms.signal.organizer import write_organizer_parquet

    check_output(args.out, "spectrogram", [args.eeg])
    table = write_organizer_parquet(Path(args.eeg), Path(args.out))
    first, last = table["time"].iloc[0], table["time"].iloc[-1]
    print(f"wrote {args.out}: {len(table)} rows x 400 columns (time {first}..{last} s)")
    return 0


def _fidelity(args: argparse.Namespace) -> int:
    from hms.paths import SHARED_SAMPLE_DIR  # deferred: see the note above
    from hms.signal.fidelity import fidelity_report

    sample = Path(args.sample) if args.sample else SHARED_SAMPLE_DIR
    if not (sample / "train.csv").is_file():
        raise DataError(f"{sample}: no real competition sample (train.csv, train_eegs/, ...); pass --sample DIR")
    print(fidelity_report(sample))
    return 0


def _frontend(args: argparse.Namespace):
    from hms.signal.config import FrontEndConfig  # deferred: see the note above

    return config.load(FrontEndConfig, args.frontend, args.set, section="frontend")


def _prepare(args: argparse.Namespace) -> int:
    from hms.signal.prepare import cache_dir, prepare  # deferred: see the note above

    cfg = _frontend(args)
    counts = prepare(args.data, args.cache, cfg, workers=args.workers)
    print(
        f"{cache_dir(args.cache, cfg)}: {counts['done']} computed, {counts['cached']} already cached, "
        f"{counts['errors']} failed"
        + (" (see errors.txt there)" if counts["errors"] else "")
        + (
            f", {counts['files with missing samples']} with missing (NaN/inf) samples (see missing_samples.txt)"
            if counts["files with missing samples"]
            else ""
        )
    )
    return 0


def _plot(args: argparse.Namespace) -> int:
    from hms.data import Competition  # deferred: see the note above
    from hms.plots import plot_label_row

    paths = plot_label_row(Competition.from_arg(args.data), args.split, args.eeg_id, _frontend(args), Path(args.out))
    print("wrote " + " and ".join(str(p) for p in paths))
    return 0


def _train(args: argparse.Namespace) -> int:
    from hms.experiment import load_config  # deferred: see the note above
    from hms.train.run import run_experiment

    scores = run_experiment(load_config(args.config, args.set), args.data, args.models_root, resume=args.resume)
    if not scores.empty:
        print(scores.round(4).to_string(index=False))
    return 0


def _bandpower(args: argparse.Namespace) -> int:
    from hms.baselines.bandpower import run_bandpower  # deferred: see the note above

    print(run_bandpower(args.data, args.folds, args.out, args.seed).round(4).to_string(index=False))
    return 0


def _sae(args: argparse.Namespace) -> int:
    from hms.experiment import ExperimentDir  # deferred: see the note above
    from hms.sae.run import run_sae

    ks = tuple(int(k) for k in args.k_curve.split(",")) if args.k_curve else ()
    settings = config.parse_overrides(args.set, config.read_yaml(args.config) if args.config else {})
    shifts = tuple(float(v) for v in args.shifts.split(",")) if args.shifts else (0.0,)
    if args.sweep:
        from hms.explain.sweep import run_sweep  # deferred: see the note above

        exp = ExperimentDir.named(args.experiment, args.models_root)
        table = run_sweep(
            args.experiment,
            args.data,
            args.models_root,
            settings,
            config.read_yaml(args.sweep_config),
            shifts=shifts,
            curve=not args.no_curve,
        )
        cols = [
            "point",
            "d_sae",
            "explained_variance",
            "l0",
            "dead_fraction",
            "dense_fraction",
            "auroc_top_mean",
            "selectivity_top_mean",
            "lateralization_gap",
            "band_hits",
            "pca_ev_same_l0",
            "fit_seconds",
        ]
        print(table[[c for c in cols if c in table]].round(4).to_string(index=False))
        chosen = config.read_yaml(exp.sae_sweep_chosen)  # JSON is YAML
        print(f"chosen: {chosen['point']}: {chosen['reason']}")
        print(f"written: {exp.sae_sweep_dir}")
        return 0
    table = run_sae(args.experiment, args.data, args.models_root, settings, ks, shifts=shifts)
    print(table.round(4).to_string(index=False))
    print(f"written: {ExperimentDir.named(args.experiment, args.models_root).sae_dir}")
    return 0


def _clip(args: argparse.Namespace) -> int:
    from hms.clip.model import ClipConfig  # deferred: see the note above
    from hms.clip.train import run_clip
    from hms.experiment import ExperimentDir

    cfg = config.load(ClipConfig, args.config, args.set)
    table = run_clip(cfg, args.data, args.models_root)
    print(table.round(4).to_string(index=False))
    print(f"written: {ExperimentDir.named(cfg.name, args.models_root).clip_dir}")
    return 0


def _stack(args: argparse.Namespace) -> int:
    from hms.stack.model import FEATURE_SETS  # deferred: see the note above
    from hms.stack.run import run_stack

    sets = tuple(args.feature_sets.split(",")) if args.feature_sets else tuple(FEATURE_SETS)
    ablation = run_stack(args.experiment, args.data, args.models_root, sets, rounds=args.rounds, seed=args.seed)
    print(ablation.round(4).to_string(index=False))
    return 0


def _explain(args: argparse.Namespace) -> int:
    from hms.explain.run import run_explain  # deferred: see the note above
    from hms.paths import files_dir

    out = Path(args.out) if args.out else files_dir() / "reports" / args.experiment
    tables = run_explain(
        args.experiment,
        args.data,
        args.models_root,
        fold=args.fold,
        top=args.top,
        out=out,
        cards_per_class=args.cards,
        report=not args.no_report,
        seed=args.seed,
        clip=args.clip,
    )
    r = tables["rankings"]
    print(r[r["rank"] <= 3][["class", "rank", "feature", "auroc", "description"]].to_string(index=False))
    if "ground_truth" in tables:
        print(tables["ground_truth"].round(3).to_string(index=False))
    print(f"written: {out}" + ("" if args.no_report else f"  (open {out / 'index.html'})"))
    if args.screenshot and not args.no_report:
        from hms.explain.browser import check_page  # deferred: playwright

        result = check_page(out / "index.html", out / "screenshot.png")
        print(
            f"screenshot: {out / 'screenshot.png'}  console errors: {len(result['console_errors'])}, "
            f"broken images: {len(result['broken_images'])}"
        )
    return 0


def _blend(args: argparse.Namespace) -> int:
    from hms.blend.fit import experiment_oofs, run_blend  # deferred: see the note above

    out = Path(args.out)
    if args.experiments:
        if args.solution or args.oof:
            raise ValueError("blend: give either --experiments or --solution with --oof, not both")
        solution, oofs, train = experiment_oofs(args.experiments.split(","), args.data, out, args.models_root)
    else:
        if not args.solution or not args.oof:
            raise ValueError("blend needs --solution SOL.csv and --oof NAME=PRED.csv (twice or more), or --experiments")
        solution, train, oofs = args.solution, args.train, {}
        for item in args.oof:
            name, sep, path = item.partition("=")
            if not sep or not name or not path:
                raise ValueError(f"--oof {item!r}: expected NAME=PRED.csv")
            if name in oofs:
                raise ValueError(f"--oof: the name {name!r} is given twice")
            oofs[name] = path
    blend, table = run_blend(solution, oofs, train, args.min_votes, out, args.folds)
    s = blend.scores
    print(table.round(4).to_string(index=False))
    print(
        f"nested CV: {s['folds']} patient-grouped folds over {s['rows']} rows with >= {args.min_votes} votes; "
        f"in-sample fit {s['blend_in_sample']:.4f}; wrote {out / 'blend.json'}, models.csv, weights.png"
    )
    print(
        f"blend={s['blend']:.4f} equal_weights={s['equal_weights']:.4f} best_single={s['best_single']:.4f} "
        f"({s['best_single_name']})"
    )
    return 0


def _kaggle_package(args: argparse.Namespace) -> int:
    from hms.kaggle import package, package_training  # deferred: see the note above

    if args.train:
        out = package_training(args.out, args.user, args.config, gpu=True, overrides=args.set)
        print(f"dataset: {out['dataset']}  (kaggle datasets create -p {out['dataset']})")
        print(f"kernel:  {out['kernel']}  (kaggle kernels push -p {out['kernel']}; models/ land in its output)")
        return 0
    if not args.experiment:
        raise ValueError("kaggle-package needs --experiment NAME (a submission kernel) or --train (a training kernel)")
    out = package(args.experiment, args.out, args.models_root, args.user, args.stack, args.gpu, args.blend)
    print(f"dataset: {out['dataset']}  (kaggle datasets create -p {out['dataset']})")
    print(f"kernel:  {out['kernel']}  (kaggle kernels push -p {out['kernel']})")
    return 0


def _leaderboard(args: argparse.Namespace) -> int:
    from hms import leaderboard  # deferred: see the note above

    print(leaderboard.summary())
    return 0


def _models_root(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--models-root",
        "--models",
        dest="models_root",
        default=None,
        help="folder holding the experiments, models/<experiment>/ (default: models/ of the work dir: "
        "$HMS_WORK_DIR, /kaggle/working on Kaggle, else the repo)",
    )


def _frontend_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--frontend", default=None, help="YAML with front-end settings (or a 'frontend:' section)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override one front-end setting")


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

    p = sub.add_parser("fidelity", help="leave-one-file-out choice of the organizer recipe on the real pairs (~1 min)")
    p.add_argument("--sample", default=None, help="real competition sample (default ../shared/hms_sample)")
    p.set_defaults(func=_fidelity)

    p = sub.add_parser("prepare", help="cache every recording's spectrograms for fast training (resumable)")
    p.add_argument("--data", default=None)
    p.add_argument("--cache", default="cache")
    p.add_argument("--workers", type=int, default=2)
    _frontend_args(p)
    p.set_defaults(func=_prepare)

    p = sub.add_parser("plot", help="stacked image and montage traces of one label window, as PNGs")
    p.add_argument("--data", default=None)
    p.add_argument("--eeg-id", type=int, default=None, help="default: the first row with files")
    p.add_argument("--split", choices=("train", "test"), default="train")
    p.add_argument("--out", default="files/plots")
    _frontend_args(p)
    p.set_defaults(func=_plot)

    p = sub.add_parser("train", help="train every fold of an experiment (works under torchrun too)")
    p.add_argument("--config", required=True, help="configs/NAME.yaml")
    p.add_argument("--data", default=None)
    _models_root(p)
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
    _models_root(p)
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a setting, e.g. folds=[0] epochs=4")
    p.set_defaults(func=_clip)

    p = sub.add_parser("sae", help="sparse autoencoder per fold on the model's embeddings (resumable per fold)")
    p.add_argument("--experiment", required=True, help="a trained experiment: models/<experiment>/")
    p.add_argument("--data", default=None)
    _models_root(p)
    p.add_argument("--config", default="configs/sae.yaml", help="SAE settings (YAML; see hms.sae.model.SAEConfig)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override one SAE setting, e.g. k=16")
    p.add_argument(
        "--k-curve",
        default="",
        help="k values for an explained-variance curve on fold 0, e.g. 8,16,64 "
        "(default none: --sweep sizes the dictionary)",
    )
    p.add_argument(
        "--shifts",
        default="0",
        help="time shifts in seconds of the training rows' windows, e.g. "
        "--shifts=-10,-5,0,5,10 (with '='): more activations per fold, streamed from disk (default 0: label rows "
        "only)",
    )
    p.add_argument(
        "--sweep",
        action="store_true",
        help="size the dictionary by a sweep on one fold instead "
        "(expansion x k x penalty, scored on validation): sae/sweep/ (table, Pareto plot, chosen point)",
    )
    p.add_argument("--sweep-config", default="configs/sae_sweep.yaml", help="the sweep's grid and targets (YAML)")
    p.add_argument("--no-curve", action="store_true", help="with --sweep: skip the EV-vs-activations curve")
    p.set_defaults(func=_sae)

    p = sub.add_parser("stack", help="LightGBM stacker per fold + feature-set ablation (needs hms sae for SAE sets)")
    p.add_argument("--experiment", required=True)
    p.add_argument("--data", default=None)
    _models_root(p)
    p.add_argument("--feature-sets", default=None, help="comma list (default all: logits,logits_embedding,...)")
    p.add_argument("--rounds", type=int, default=300, help="boosting rounds per fold")
    p.add_argument("--seed", type=int, default=42)
    p.set_defaults(func=_stack)

    p = sub.add_parser("explain", help="explain the six classes: SAE feature tables, saliency, clusters, report")
    p.add_argument("--experiment", required=True)
    p.add_argument("--data", default=None)
    _models_root(p)
    p.add_argument("--fold", type=int, default=0, help="whose model, SAE and stacker to explain")
    p.add_argument("--top", type=int, default=10, help="features ranked per class")
    p.add_argument("--cards", type=int, default=3, help="feature cards (thumbnails + saliency) per class")
    p.add_argument("--out", default=None, help="output folder (default files/reports/<experiment>)")
    p.add_argument("--seed", type=int, default=42, help="UMAP seed")
    p.add_argument("--no-report", action="store_true", help="CSV tables only, no saliency and no index.html")
    p.add_argument("--clip", default=None, help="EEG-CLIP folder for feature words (default models/<experiment>/clip)")
    p.add_argument("--screenshot", action="store_true", help="render index.html in headless Chromium -> screenshot.png")
    p.set_defaults(func=_explain)

    p = sub.add_parser("blend", help="fit blend weights on OOF predictions; nested CV vs equal weights and best single")
    p.add_argument("--solution", default=None, help="eeg_id [+ eeg_sub_id] + six *_vote columns (counts or probs)")
    p.add_argument("--oof", action="append", metavar="NAME=PRED.csv", help="a model's OOF predictions (repeat)")
    p.add_argument("--train", default=None, help="train.csv: patient_id for grouped folds, vote totals")
    p.add_argument("--experiments", default=None, help="shortcut: comma list of experiments, their own OOF files")
    p.add_argument("--data", default=None, help="with --experiments: the data root they were trained on")
    _models_root(p)
    p.add_argument("--min-votes", type=int, default=10, help="fit and score on rows with at least this many votes")
    p.add_argument("--folds", type=int, default=5, help="outer folds of the nested cross-validation")
    p.add_argument("--out", default="files/blend", help="output folder: blend.json, models.csv, weights.png")
    p.set_defaults(func=_blend)

    p = sub.add_parser("kaggle-package", help="Kaggle dataset (code + weights) and offline submission kernel folders")
    p.add_argument("--experiment", action="append", help="an experiment to ship (repeat to blend)")
    p.add_argument("--train", action="store_true", help="a training kernel instead: code + notebook 04_train")
    p.add_argument("--config", default="configs/kaggle_b0.yaml", help="with --train: the experiment config")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="with --train: config overrides")
    p.add_argument("--blend", default=None, help="blend.json of python -m hms blend (default: equal weights)")
    p.add_argument(
        "--out",
        required=True,
        help="output folder: OUT/dataset and OUT/kernel; a new or empty folder, or one kaggle-package wrote before "
        "(rebuilt); a folder holding other files is refused, never emptied",
    )
    _models_root(p)
    p.add_argument("--user", default="USERNAME", help="your Kaggle user name (for the dataset and kernel ids)")
    p.add_argument("--stack", default=None, help="feature set to ship (default: each experiment's stack/best.json)")
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
    if hasattr(args, "models_root") and args.models_root is None:
        args.models_root = MODELS_DIR
    try:
        return args.func(args)
    except (DataError, ValueError, OSError) as exc:  # HmsError is a ValueError; OSError: paths, disk, permissions
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
