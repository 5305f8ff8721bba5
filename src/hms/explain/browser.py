"""Open a report page in headless Chromium (Debian's ``chromium``, driven by Playwright without its own browser
download) and check it the way a reader would: console errors, images that fail to load, the six class sections,
and a screenshot that is not blank."""

from __future__ import annotations

import shutil
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np

from hms.constants import CLASSES

CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

LOCAL = ("file:", "data:", "blob:", "about:")


def chromium_path() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    raise FileNotFoundError("no Chromium found: install Debian's package (apt-get install -y chromium)")


#: the dashboard's filters driven in the page: how many cards it has, how many each class menu entry shows (and how
#: many cards name that class), and how many a search for nothing-like-a-card shows; null without a dashboard
DASHBOARD_PROBE = """() => {
  const q = document.getElementById('dash-q'), c = document.getElementById('dash-class');
  if (!q || !c) { return null; }
  const cards = Array.from(document.querySelectorAll('.dash-card'));
  const shown = () => cards.filter(el => el.style.display !== 'none').length;
  const perClass = {};
  for (const opt of Array.from(c.options).filter(o => o.value)) {
    c.value = opt.value; c.dispatchEvent(new Event('change'));
    const named = cards.filter(el => el.dataset.classes.split(' ').includes(opt.value)).length;
    perClass[opt.value] = [shown(), named];
  }
  c.value = ''; c.dispatchEvent(new Event('change'));
  q.value = 'zzqx-no-such-feature'; q.dispatchEvent(new Event('input'));
  const searchedNothing = shown();
  q.value = ''; q.dispatchEvent(new Event('input'));
  return {cards: cards.length, per_class: perClass, search_nothing: searchedNothing, all_shown: shown()};
}"""


def check_page(page: str | Path, screenshot: str | Path, width: int = 1300, height: int = 2400) -> dict:
    """Load ``page`` from disk, wait for plotly to draw, and report: console_errors, page_errors, requests (anything
    not from the file itself), broken_images (alt texts), images, class_sections (ids present), plots (drawn plotly
    divs), the screenshot path and its pixel spread (0 = blank), and the dashboard's filters exercised
    (:data:`DASHBOARD_PROBE`)."""
    from playwright.sync_api import sync_playwright  # deferred: optional, only the screenshot check needs it

    page_path = Path(page).resolve()
    if not page_path.is_file():
        raise FileNotFoundError(f"{page_path}: no report; run python -m hms explain --experiment NAME first")
    console: list[str] = []
    errors: list[str] = []
    requests: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_FLAGS)
        try:
            tab = browser.new_page(viewport={"width": width, "height": height})
            tab.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
            tab.on("pageerror", lambda e: errors.append(str(e)))
            tab.on("request", lambda r: None if r.url.startswith(LOCAL) else requests.append(r.url))
            tab.goto(page_path.as_uri(), wait_until="load")
            tab.wait_for_function("document.querySelectorAll('.js-plotly-plot').length > 0", timeout=30_000)
            broken = tab.evaluate(
                "Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.alt)"
            )
            n_images = tab.evaluate("document.images.length")
            sections = tab.evaluate("Array.from(document.querySelectorAll('section.class-section')).map(s => s.id)")
            plots = tab.evaluate("document.querySelectorAll('.js-plotly-plot .main-svg').length")
            dashboard = tab.evaluate(DASHBOARD_PROBE)
            tab.screenshot(path=str(screenshot), full_page=False)
        finally:
            browser.close()
    spread = _pixel_spread(Path(screenshot))
    return {
        "console_errors": console,
        "page_errors": errors,
        "requests": requests,
        "broken_images": broken,
        "images": n_images,
        "class_sections": sections,
        "expected_sections": [f"class-{c}" for c in CLASSES],
        "plots": plots,
        "screenshot": str(screenshot),
        "pixel_std": spread,
        "dashboard": dashboard,
    }


def _pixel_spread(png: Path) -> float:
    """Standard deviation of the screenshot's grey levels (0 for a blank page)."""
    pixels = mpimg.imread(png)[..., :3]
    return float(np.asarray(pixels, dtype=np.float64).mean(axis=-1).std())
