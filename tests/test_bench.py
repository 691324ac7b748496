"""The benchmark module: its references agree with our closed forms and its bookkeeping is right. Never asserts a time."""
import json, math
import torch
from attn_unmask import bench


def test_references_agree_small():
    r = bench.bench_gradient_hvp(5, 12, repeats=1, device="cpu", dtype=torch.float64)
    assert all(e < 1e-10 for e in r["rel_errors"].values()), r["rel_errors"]
    assert all(math.isfinite(v) and v > 0 for v in r["hvp"]["seconds"].values())


def test_dense_hessian_reference_small():
    r = bench.bench_dense_hessian((3, 8), [(2, 6)], repeats=1, device="cpu", dtype=torch.float64)
    assert r["compare"]["rel_error"] < 1e-10 and r["compare"]["dn"] == 24 and r["ours_only"][0]["dn"] == 12


def test_flops_and_timer():
    assert bench.hvp_flops(64, 256) == 14 * 256**2 * 64 + 10 * 64**2 * 256
    assert bench.hvp_flops(64, 256, prepared=True) == 12 * 256**2 * 64 + 4 * 64**2 * 256
    calls = []
    t = bench.time_side_by_side({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, repeats=3, warmup=1)
    assert set(t) == {"a", "b"} and calls.count("a") == calls.count("b") == 4
    assert calls[2:] == ["a", "b", "b", "a", "a", "b"]          # interleaved, alternating order


def test_growth_small_is_serialisable():
    g = bench.bench_growth((3, [8, 12]), (12, [2, 3]), "cpu", torch.float64)
    assert set(g) == {"n", "d"}
    for axis in g.values():
        assert set(axis["exponent"]) == set(bench.GROWTH_METHODS)
        assert all(math.isfinite(s) for s in axis["exponent"].values())
    json.dumps(g)


def test_committed_results_file_is_complete():
    # The results file next to the benchmarks chapter: what a reader compares a GPU run against.
    import json
    from pathlib import Path
    res = json.loads((Path(__file__).parents[1] / "benchmarks" / "results-cpu-float64.json").read_text())
    assert not res["meta"]["quick"] and res["meta"]["dtype"] == "float64" and res["meta"]["device"] == "cpu"
    for key in ("device_name", "torch", "threads", "date", "load_before"): assert res["meta"][key], key
    for key in ("gradient_hvp", "dense_hessian", "recovery", "auto_scaling", "gflops", "growth", "text", "ratios", "targets"):
        assert key in res, key
    assert {r["layer"] for r in res["text"]["layers"]} == {0, 1, 3, 5}       # measured where the model is installed
    assert all(set(t) == {"name", "target", "measured", "met"} for t in res["targets"])


def test_targets_are_judged_only_where_they_are_stated():
    res = bench.run_benchmarks(quick=True, dtype=torch.float32)
    assert res["meta"]["dtype"] == "float32" and all(t["met"] is None for t in res["targets"])
    assert "judged only there" in bench.format_results(res)


def test_text_section_formats_counts_and_skips_with_its_reason():
    row = dict(layer=1, sentences=2, tokens=30, right=29, exact=1, statuses=["exact", "budget"], mean_seconds=61.0, max_seconds=120.4,
               sentences_per_second=2 / 122.0, rows=[])
    out = bench.format_text(dict(model="all-MiniLM-L6-v2", device="cpu", threads=2, max_seconds=120.0, layers=[row]))
    assert "layer 1: 29/30 tokens, 1/2 sentences exact, mean 61.00 s, max 120.40 s" in out
    assert bench.format_text(dict(skipped="transformers is missing")) == "\ntext recovery: skipped (transformers is missing)"
