"""The offline docs site: `python scripts/build_docs.py` builds it, headless Chromium opens it.

Checks the HTML (MathML, figures, sidebar, local chapter links, nothing loaded from a CDN), then loads the index and a
theory chapter in Chromium: the DOM after load must hold the `<math>` elements, and a screenshot of each page is saved to
_site/screenshots/ to look at. Skipped where Chromium or pandoc (`pip install pypandoc-binary`) is missing; .ci/run
installs Chromium.
"""
import re, shutil, subprocess, sys, tempfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "_site" / "screenshots"
CHROMIUM = shutil.which("chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]


def _pandoc_missing():
    try:
        import pypandoc
        pypandoc.get_pandoc_version()
    except (ImportError, OSError) as e: return f"pandoc unavailable ({e}); pip install pypandoc-binary"


pytestmark = [pytest.mark.skipif(CHROMIUM is None, reason="chromium not on PATH; apt-get install chromium"),
              pytest.mark.skipif(bool(_pandoc_missing()), reason=str(_pandoc_missing()))]


def _theory_page():
    "04_hessian, else any Theory notebook of the sidebar that exists."
    sidebar = yaml.safe_load((ROOT / "nbs" / "sidebar.yml").read_text())["website"]["sidebar"]["contents"]
    theory = [e for s in sidebar if isinstance(s, dict) and s.get("section") == "Theory" for e in s["contents"]]
    stems = [Path(e).stem for e in ["04_hessian.ipynb"] + theory if (ROOT / "nbs" / e).exists()]
    return stems[0] if stems else pytest.skip("no theory notebook in nbs/")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    # --no-execute: the committed outputs are the docs (nbdev_test already runs every notebook in CI)
    subprocess.run([sys.executable, "scripts/build_docs.py", "--out", str(out), "--no-execute"], cwd=ROOT, check=True, timeout=1800)
    return out


def _chromium(url, *args):
    with tempfile.TemporaryDirectory() as profile:   # a fresh profile per run: nothing cached, nothing shared
        return subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args, url],
                              capture_output=True, text=True, timeout=180)


@pytest.mark.parametrize("page", ["index", "theory"])
def test_html(site, page):
    stem = _theory_page() if page == "theory" else "index"
    html = (site / f"{stem}.html").read_text(encoding="utf-8")
    assert "<math" in html, "no MathML: the math was not converted"
    prose = re.sub(r"<(pre|code|annotation)\b.*?</\1>", "", html, flags=re.S)   # MathML keeps the TeX in <annotation>
    assert not re.search(r"\$[^$<]*\\[a-zA-Z]+", prose), "TeX left as text: math that pandoc did not convert"
    assert not re.search(r"""<(script|link)\b[^>]*\b(src|href)=["']?(https?:)?//""", html, re.I), "a remote script or stylesheet"
    assert '<nav class="sidebar">' in html and ">Theory<" in html
    assert not re.search(r'href="[\w./-]+\.ipynb', html), "a chapter link still points at a notebook"
    for src in re.findall(r'<img[^>]*\bsrc="([^"]+)"', html):
        assert (site / src).is_file(), f"figure {src} missing"
    if page == "theory": assert "<img" in html, "no figures: did the notebook run?"
    else: assert 'href="04_hessian.html' in html or not (ROOT / "nbs" / "04_hessian.ipynb").exists()


@pytest.mark.parametrize("page", ["index", "theory"])
def test_chromium(site, page):
    from PIL import Image
    stem = _theory_page() if page == "theory" else "index"
    url = (site / f"{stem}.html").as_uri()
    dom = _chromium(url, "--dump-dom").stdout
    assert dom.count("<math") > 0, "Chromium's DOM after load has no <math> elements"
    SHOTS.mkdir(parents=True, exist_ok=True)
    shot = SHOTS / f"{stem}.png"
    shot.unlink(missing_ok=True)
    res = _chromium(url, f"--screenshot={shot}", "--window-size=1280,2000")
    assert shot.is_file(), f"no screenshot: {res.stderr[-2000:]}"
    print(f"screenshot: {shot}")
    assert shot.stat().st_size > 20_000
    colours = Image.open(shot).convert("RGB").getcolors(maxcolors=1 << 16)
    assert colours is None or len(colours) > 50, "the screenshot is (nearly) a single colour"
