"""The docs stay in step with what they describe: the results page's contents line links every section, and no project
file refers to the tracker's issue numbers (readers do not have the tracker)."""

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def anchor(title: str) -> str:
    """GitHub's anchor of a markdown heading."""
    return re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")


def test_the_results_contents_line_links_every_section():
    page = (ROOT / "docs" / "results.md").read_text()
    contents = page[page.index("Contents:") : page.index("\n\n", page.index("Contents:"))]
    sections = re.findall(r"^## (.+)$", page, re.M)
    missing = [s for s in sections if f"(#{anchor(s)})" not in contents]
    assert not missing, f"docs/results.md: the contents line lacks {missing}"
    linked = re.findall(r"\(#([^)]+)\)", contents)
    assert set(linked) <= {anchor(s) for s in sections}, "the contents line links a section that is not there"


def test_no_project_file_refers_to_tracker_issue_numbers():
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    pattern = re.compile(r"\b[Ii]ssues? #?[0-9]+")
    hits = []
    for name in files:
        path = ROOT / name
        if path.suffix not in {".md", ".py", ".yaml", ".txt", ".toml", ".ipynb"} or not path.is_file():
            continue
        hits += [f"{name}: {m.group(0)}" for m in pattern.finditer(path.read_text(errors="ignore"))]
    assert not hits, hits
