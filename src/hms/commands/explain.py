"""Commands of the SAE, the stacker and the explanation report.

Each declares its name, its arguments and what it runs; ``hms.__main__`` only collects them. Each run imports its
stage when it runs (``python -m hms score`` must not pay for torch)."""

from __future__ import annotations

import argparse
from pathlib import Path

from hms import config
from hms.commands.common import Command, models_root_arg
from hms.constants import CLASSES
from hms.paths import files_dir


def _args_sae(p: argparse.ArgumentParser) -> None:
    p.add_argument("--experiment", required=True, help="a trained experiment: models/<experiment>/")
    p.add_argument("--data", default=None)
    models_root_arg(p)
    p.add_argument(
        "--config",
        default=None,
        help="SAE settings (YAML; see hms.sae.model.SAEConfig; default configs/sae.yaml, with --positions "
        "configs/sae_positions.yaml)",
    )
    p.add_argument(
        "--positions",
        action="store_true",
        help="fit the SAE per position of the network's last feature map (chain x seconds x band cells; time steps "
        "for raw EEG) instead of on pooled embeddings: sae/positions/ (metrics, splice, max-pooled codes)",
    )
    p.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override one SAE setting, e.g. k=16 (with --positions: sae.k=16, positions.per_window=16)",
    )
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


def _run_sae(args: argparse.Namespace) -> int:
    from hms.experiment import ExperimentDir  # deferred: the stage's heavy imports
    from hms.sae.run import run_sae

    ks = tuple(int(k) for k in args.k_curve.split(",")) if args.k_curve else ()
    if args.positions:
        return _run_position_sae(args)
    settings = config.parse_overrides(args.set, config.read_yaml(args.config or "configs/sae.yaml"))
    shifts = tuple(float(v) for v in args.shifts.split(",")) if args.shifts else (0.0,)
    if args.sweep:
        from hms.sae.sweep import run_sweep  # deferred: the stage's heavy imports

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


def _run_position_sae(args: argparse.Namespace) -> int:
    from hms.experiment import ExperimentDir  # deferred: the stage's heavy imports
    from hms.sae.position_run import run_position_sae
    from hms.sae.positions import read_position_config

    sae, positions = read_position_config(args.config or "configs/sae_positions.yaml", args.set)
    table = run_position_sae(args.experiment, args.data, args.models_root, sae, positions)
    print(table.round(4).to_string(index=False))
    print(f"written: {ExperimentDir.named(args.experiment, args.models_root).sae_positions_dir}")
    return 0


def _args_recovery(p: argparse.ArgumentParser) -> None:
    p.add_argument("--experiment", required=True)
    p.add_argument("--data", default=None, help="a simulated competition (its events.csv is the ground truth)")
    models_root_arg(p)
    p.add_argument("--fold", type=int, default=0, help="whose SAEs and validation rows")
    p.add_argument("--seed", type=int, default=42, help="random network, PCA/ICA and the patient halves")


def _run_recovery(args: argparse.Namespace) -> int:
    from hms.sae.recovery import run_recovery  # deferred: the stage's heavy imports

    table = run_recovery(args.experiment, args.data, args.models_root, args.fold, args.seed)
    print(table.round(3).to_string(index=False))
    means = table.filter(like="auroc_").mean()
    print("mean best-feature AUROC over factors: " + ", ".join(f"{k[6:]} {v:.3f}" for k, v in means.items()))
    return 0


def _args_stack(p: argparse.ArgumentParser) -> None:
    p.add_argument("--experiment", required=True)
    p.add_argument("--data", default=None)
    models_root_arg(p)
    p.add_argument(
        "--feature-sets",
        default=None,
        help="comma list (default every set whose inputs exist: logits, logits_embedding, logits_sae, "
        "logits_sae_hand, and logits_position_sae after hms sae --positions)",
    )
    p.add_argument("--rounds", type=int, default=300, help="boosting rounds per fold")
    p.add_argument("--seed", type=int, default=42)


def _run_stack(args: argparse.Namespace) -> int:
    from hms.stack.run import run_stack  # deferred: the stage's heavy imports

    sets = tuple(args.feature_sets.split(",")) if args.feature_sets else None
    ablation = run_stack(args.experiment, args.data, args.models_root, sets, rounds=args.rounds, seed=args.seed)
    print(ablation.round(4).to_string(index=False))
    return 0


def _args_explain(p: argparse.ArgumentParser) -> None:
    p.add_argument("--experiment", required=True)
    p.add_argument("--data", default=None)
    models_root_arg(p)
    p.add_argument("--fold", type=int, default=0, help="whose model, SAE and stacker to explain")
    p.add_argument("--top", type=int, default=10, help="features ranked per class")
    p.add_argument("--cards", type=int, default=3, help="feature cards (thumbnails + saliency) per class")
    p.add_argument("--out", default=None, help="output folder (default files/reports/<experiment>)")
    p.add_argument("--seed", type=int, default=42, help="UMAP seed")
    p.add_argument("--no-report", action="store_true", help="CSV tables only, no saliency and no index.html")
    p.add_argument("--clip", default=None, help="EEG-CLIP folder for feature words (default models/<experiment>/clip)")
    p.add_argument("--screenshot", action="store_true", help="render index.html in headless Chromium -> screenshot.png")


def _run_explain(args: argparse.Namespace) -> int:
    from hms.explain.run import run_explain  # deferred: the stage's heavy imports

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
    causal = tables["causal"].pivot(index="class", columns="method", values="ablate_selectivity")
    print("ablation selectivity (own drop / largest other drop):")
    print(causal.reindex(index=list(CLASSES)).round(2).to_string())
    audit = tables["shortcuts"]
    flagged = audit[audit["flagged"].fillna(False).astype(bool)]
    if audit["flagged"].isna().all():
        print(f"shortcut audit: {audit['note'].iloc[0]}")
    else:
        print(f"shortcut audit: {len(flagged)} flagged of {len(audit)} (class, artifact) pairs")
        if len(flagged):
            cols = ["class", "artifact", "tie_auroc", "reliance", "ablation_drop", "test_kl_change"]
            print(flagged[cols].to_string())
    print(f"written: {out}" + ("" if args.no_report else f"  (open {out / 'index.html'})"))
    if args.screenshot and not args.no_report:
        from hms.explain.browser import check_page  # deferred: playwright

        result = check_page(out / "index.html", out / "screenshot.png")
        print(
            f"screenshot: {out / 'screenshot.png'}  console errors: {len(result['console_errors'])}, "
            f"broken images: {len(result['broken_images'])}, page errors: {len(result['page_errors'])}, "
            f"dashboard cards: {(result['dashboard'] or {}).get('cards', 0)}"
        )
    return 0


COMMANDS = [
    Command("sae", "sparse autoencoder per fold on the model's embeddings (resumable per fold)", _args_sae, _run_sae),
    Command(
        "recovery",
        "simulated data: planted factors found by the SAEs vs PCA, ICA and a random-network SAE (sae/recovery.csv)",
        _args_recovery,
        _run_recovery,
    ),
    Command(
        "stack",
        "LightGBM stacker per fold + feature-set ablation (needs hms sae for SAE sets)",
        _args_stack,
        _run_stack,
    ),
    Command(
        "explain",
        "explain the six classes: SAE feature tables, saliency, clusters, report",
        _args_explain,
        _run_explain,
    ),
]
