"""Build the documentation as an offline HTML site, without Quarto. From the repository root:
    python scripts/build_docs.py [--out _site] [--no-execute]
then open _site/index.html in a browser.

`nbdev_docs` needs Quarto, which cannot be installed everywhere. This does the same job offline:
1. each notebook in nbs/ is executed as `nbdev_test` runs it (the `tst_flags` cells and `nbdev_export()` skipped), since
   the committed notebooks carry few outputs and the figures exist only once run (`--no-execute` keeps stored outputs);
2. nbdev's docs processors, the ones `nbdev_proc_nbs` applies, prepare it (hidden cells dropped, `show_doc` rendered,
   front matter extracted), in memory rather than in the shared `_proc/`;
3. nbconvert writes markdown, its figures as PNG files next to the page;
4. pandoc (the `pypandoc-binary` package bundles it) writes HTML with the math as MathML, which browsers typeset
   natively: no MathJax, no CDN, nothing fetched from the network.
"""
import argparse, html, os, re, shutil, sys, warnings
from multiprocessing import get_context
from pathlib import Path

import nbformat, pypandoc, yaml
from nbconvert import MarkdownExporter

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT / "nbs"
SITE_CSS = """
body { max-width: 58rem; margin: 0 0 0 17rem; padding: 1.5rem 2.5rem 4rem; font-size: 16px; }
nav.sidebar { position: fixed; top: 0; left: 0; bottom: 0; width: 14rem; overflow-y: auto; padding: 1.5rem 1rem;
              background: #f6f7f9; border-right: 1px solid #dde; font-size: 0.92rem; line-height: 1.4; }
nav.sidebar .site-title { font-weight: bold; font-size: 1.15rem; display: block; margin-bottom: 1rem; }
nav.sidebar h4 { margin: 1.1rem 0 0.3rem; color: #666; text-transform: uppercase; font-size: 0.75rem; letter-spacing: .05em; }
nav.sidebar ul { list-style: none; padding-left: 0; margin: 0; }
nav.sidebar li a { display: block; padding: 0.2rem 0.5rem; border-radius: 4px; color: #234; text-decoration: none; }
nav.sidebar li a:hover { background: #e8eaf0; }
nav.sidebar li a.active { background: #dfe6f5; font-weight: 600; }
header#title-block-header .subtitle { font-style: italic; opacity: 0.75; font-size: 1.2rem; }
a { color: #2a5db0; }
pre, code { font-size: 0.88em; }
div.sourceCode { background: #f4f5f7; border-radius: 4px; padding: 0.1rem 0.6rem; }
pre:not(.sourceCode) { margin-left: 0.8rem; padding-left: 0.8rem; border-left: 2px solid lightsalmon; overflow-x: auto; }
img { max-width: 100%; height: auto; }
math { font-family: "TeX Gyre Termes Math", "DejaVu Math TeX Gyre", "Latin Modern Math", "STIX Two Math", math; }
math[display="block"] { margin: 0.8em 0; }
menclose[notation~="box"] { border: 1px solid currentColor; padding: 0.15em 0.3em; } /* \\boxed: not in MathML Core */
table { border-collapse: collapse; display: block; overflow-x: auto; } th, td { padding: 0.2rem 0.6rem; border-bottom: 1px solid #ddd; }
pre { white-space: pre; overflow-x: auto; }   /* wide tables and printed tables scroll instead of wrapping */
"""


def _run_and_process(path: str, execute: bool) -> str:
    "Execute one notebook as `nbdev_test` would (if asked), then apply nbdev's docs processors; runs in a fresh process."
    from execnb.nbio import nb2str, read_nb
    from execnb.shell import CaptureShell
    from nbdev.config import get_config
    from nbdev.process import extract_directives
    from nbdev.processors import FilterDefaults
    os.chdir(NBS)                                           # relative paths resolve as under nbdev_test
    warnings.filterwarnings("ignore", "Found cells containing imports")  # nbdev's hint to authors, noise here
    nb = read_nb(path)
    if execute:
        skip_flags = set(get_config().get("tst_flags", "").split())
        def skip(cell):
            if cell.cell_type != "code" or "nbdev_export" + "(" in cell.source: return True
            d = extract_directives(cell, remove=False)
            return d.get("eval:", [""])[0].lower() == "false" or bool(skip_flags & d.keys())
        # a failing cell does not stop the docs: its traceback is shown on the page (nbdev_test is the check)
        CaptureShell(path).run_all(nb, preproc=skip)
        failed = [c.source.splitlines()[0] for c in nb.cells if any(o.output_type == "error" for o in c.get("outputs", []))]
        if failed: print(f"warning: {Path(path).name}: {len(failed)} cell(s) raised, first: {failed[0]!r}", file=sys.stderr)
    os.environ["IN_TEST"] = "1"                             # as nbdev_proc_nbs sets it
    FilterDefaults()(nb)
    return nb2str(nb)


def _front_matter(nb) -> dict:
    "Pop the processed notebook's front matter (a raw cell `---\\ntitle: ...\\n---`) and return it."
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "raw" and cell.source.lstrip().startswith("---"):
            nb.cells.pop(i)
            return yaml.safe_load(cell.source.strip().strip("-")) or {}
    return {}


def _apply_cell_options(nb):
    "Honour the Quarto cell options nbdev leaves in code cells (`#| echo: false`, ...), which Quarto would apply."
    cells = []
    for cell in nb.cells:
        if cell.cell_type == "code":
            opts = dict(re.findall(r"^#\|\s*([\w-]+):\s*(.*?)\s*$", cell.source, re.M))
            if opts.get("include") == "false": continue
            cell.source = re.sub(r"^#\|.*\n?", "", cell.source, flags=re.M).strip()
            if opts.get("echo") == "false" or not cell.source:
                cell.metadata.setdefault("transient", {})["remove_source"] = True
            if opts.get("output") == "false": cell.outputs = []
        cells.append(cell)
    nb.cells = cells


def _local_links(text: str, pages: dict) -> str:
    "Point chapter links (`04_hessian.ipynb`, and nbdev's doc links to the published site) at the generated pages."
    text = re.sub(r'(\]\(|href=")([\w./-]+?)\.ipynb(?=[#)"])', r"\1\2.html", text)
    for published, local in pages.items():                 # e.g. https://.../attn_unmask/hessian.html -> 04_hessian.html
        text = text.replace(published, local)
    return text


def _sidebar(titles: dict, current: str, site: str) -> str:
    "The sidebar of nbs/sidebar.yml as HTML; entries whose notebook does not exist are skipped."
    contents = yaml.safe_load((NBS / "sidebar.yml").read_text())["website"]["sidebar"]["contents"]
    def item(entry):
        stem = Path(entry).stem
        if stem not in titles: return ""
        cls = ' class="active"' if stem == current else ""
        return f'<li><a href="{stem}.html"{cls}>{html.escape(titles[stem])}</a></li>'
    parts = []
    for entry in contents:
        if isinstance(entry, dict):
            items = "".join(item(e) for e in entry.get("contents", []) if isinstance(e, str))
            if items: parts.append(f'<h4>{html.escape(entry.get("section", ""))}</h4><ul>{items}</ul>')
        else: parts.append(f"<ul>{item(entry)}</ul>")
    return f'<nav class="sidebar"><a class="site-title" href="index.html">{html.escape(site)}</a>{"".join(parts)}</nav>'


def build(out: Path, execute: bool = True) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    notebooks = sorted(NBS.glob("[!_.]*.ipynb"))
    # a fresh process per notebook, as under nbdev_test (IPython's shell also takes over the worker's __main__)
    with get_context("spawn").Pool(min(4, os.cpu_count() or 1), maxtasksperchild=1) as pool:
        processed = pool.starmap(_run_and_process, [(str(p), execute) for p in notebooks])
    nbs = {p.stem: nbformat.reads(s, as_version=4) for p, s in zip(notebooks, processed)}
    fronts = {stem: _front_matter(nb) for stem, nb in nbs.items()}
    titles = {stem: str(fm.get("title", stem)) for stem, fm in fronts.items()}
    website = yaml.safe_load((NBS / "nbdev.yml").read_text())["website"]
    site, site_url = website.get("title", "docs"), website.get("site-url", "").rstrip("/")
    pages = {f"{site_url}/{fm['output-file']}": f"{stem}.html"
             for stem, fm in fronts.items() if site_url and fm.get("output-file")}
    shutil.copy(NBS / "styles.css", out / "styles.css")
    (out / "site.css").write_text(SITE_CSS)
    for stem, nb in nbs.items():
        _apply_cell_options(nb)
        nb.metadata.setdefault("language_info", {"name": "python"})
        resources = {"output_files_dir": f"{stem}_files", "unique_key": stem}
        markdown, resources = MarkdownExporter().from_notebook_node(nb, resources=resources)
        for name, data in resources.get("outputs", {}).items():   # figures, next to the page
            (out / name).parent.mkdir(parents=True, exist_ok=True)
            (out / name).write_bytes(data)
        meta = {"title": titles[stem], "subtitle": fronts[stem].get("description"), "pagetitle": f"{titles[stem]} – {site}"}
        header = "---\n" + yaml.safe_dump({k: v for k, v in meta.items() if v}, allow_unicode=True) + "---\n\n"
        # --mathml: TeX math becomes MathML at build time; the default template embeds its CSS, so nothing is remote.
        # implicit_figures off, or nbconvert's alt text "png" becomes a caption.
        pypandoc.convert_text(header + _local_links(markdown, pages), "html5", format="markdown-implicit_figures",
                              outputfile=str(out / f"{stem}.html"),
                              extra_args=["--standalone", "--mathml", "--css=styles.css", "--css=site.css",
                                          f"--variable=include-before={_sidebar(titles, stem, site)}", "--fail-if-warnings"])
    return out / "index.html"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(ROOT / "_site"), help="output folder (default: _site)")
    parser.add_argument("--no-execute", action="store_true", help="keep the notebooks' stored outputs, run nothing")
    args = parser.parse_args()
    print(f"wrote {build(Path(args.out).resolve(), execute=not args.no_execute)}")
