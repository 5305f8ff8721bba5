"""The packages (name==version, as installed here) that ``benchmarks/gpu_requirements.txt`` needs beyond torch: the
requirements and their dependencies, minus torch's own and ``--skip``; ``make gpu-wheels`` downloads exactly these,
without dependencies, so no torch or CUDA wheel is fetched.

    python benchmarks/gpu_wheel_list.py [--skip pandas,pyarrow]
"""

from __future__ import annotations

import argparse
import re
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
#: present wherever torch is (its own dependencies), never downloaded
WITH_TORCH = {"torch", "torchvision", "triton", "sympy", "mpmath", "networkx", "jinja2", "markupsafe", "filelock"}
WITH_TORCH |= {"fsspec", "typing-extensions", "setuptools", "pillow"}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def closure(names: list[str], skip: set[str]) -> dict[str, str]:
    """name -> installed version over the dependency closure of ``names`` (extras and markers that do not apply to
    this interpreter ignored)."""
    found: dict[str, str] = {}
    todo = [canonical(n) for n in names]
    while todo:
        name = todo.pop()
        if name in found or name in skip or name.startswith("nvidia-"):
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError as exc:
            raise SystemExit(
                f"{name}: not installed here; make gpu-wheels needs this venv (make test installs it)"
            ) from exc
        found[name] = dist.version
        for text in dist.requires or []:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(canonical(req.name))
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip", default="", help="comma-separated packages the GPU machine already has")
    args = ap.parse_args()
    lines = (ROOT / "benchmarks" / "gpu_requirements.txt").read_text().splitlines()
    wanted = [
        re.split(r"[<>=!~ #]", line, maxsplit=1)[0] for line in lines if line.strip() and not line.startswith("#")
    ]
    skip = WITH_TORCH | {canonical(s) for s in args.skip.split(",") if s}
    for name, version in sorted(closure(wanted, skip).items()):
        print(f"{name}=={version}")


if __name__ == "__main__":
    main()
