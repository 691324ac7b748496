"""The `attn-unmask` console script as a user runs it: exit codes, one-line errors, files written, nothing unpickled."""
import json, shutil, subprocess
from pathlib import Path
import numpy as np
import pytest
import torch
import attn_unmask as au

EXE = shutil.which("attn-unmask")
pytestmark = pytest.mark.skipif(EXE is None, reason="the attn-unmask console script is not installed (pip install -e .)")


def run(*args, cwd=None):
    return subprocess.run([EXE, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=600)


class Exploit:
    "Unpickling this would create the file `target`."
    def __init__(self, target): self.target = target
    def __reduce__(self): return (Path.touch, (Path(self.target),))


@pytest.fixture
def files(tmp_path):
    inst = au.random_instance(5, 20, seed=0)
    np.save(tmp_path / "W.npy", inst.W.numpy())
    np.save(tmp_path / "B.npy", inst.B.numpy())
    return tmp_path, inst


def test_help_everywhere():
    for args in (["--help"], ["demo", "--help"], ["recover", "--help"]):
        out = run(*args)
        assert out.returncode == 0 and "usage: attn-unmask" in out.stdout


def test_demo_writes_a_figure(tmp_path):
    out = run("demo", "--quiet", "--out", tmp_path / "demo.png")
    assert out.returncode == 0, out.stderr
    assert "auto: closed form" in out.stdout and (tmp_path / "demo.png").stat().st_size > 10_000


def test_recover_round_trip_through_npy(files):
    tmp, inst = files
    out = run("recover", "--weights", tmp / "W.npy", "--attention", tmp / "B.npy", "--out", tmp / "X.npy", "--quiet")
    assert out.returncode == 0, out.stderr
    report = json.loads((tmp / "X.json").read_text())
    assert report["converged"] and report["attention_error"] < 1e-8
    assert au.relative_attention_error(np.load(tmp / "X.npy"), inst.W, inst.B) < 1e-8


@pytest.mark.parametrize("suffix", [".npy", ".pt"])
def test_pickles_are_refused_and_never_run(files, suffix):
    tmp, _ = files
    target = tmp / "pwned"
    evil = tmp / f"evil{suffix}"
    if suffix == ".npy": np.save(evil, np.array([Exploit(str(target))], dtype=object), allow_pickle=True)
    else: torch.save({"W": Exploit(str(target))}, evil)
    out = run("recover", "--weights", evil, "--attention", tmp / "B.npy", "--out", tmp / "X.npy")
    assert out.returncode == 2 and not target.exists()
    assert len(out.stderr.strip().splitlines()) == 1 and "refused" in out.stderr


@pytest.mark.parametrize("make_bad, expect", [
    (lambda p: np.save(p, np.full((20, 20), np.nan)), "B contains NaN"),
    (lambda p: np.save(p, np.ones((20, 19)) / 19), "B must have shape"),
    (lambda p: np.save(p, np.arange(400).reshape(20, 20)), "expected float32 or float64"),
    (lambda p: p.write_bytes(b"\x93NUMPY\x01\x00garbage"), "cannot read"),
])
def test_bad_attention_files_give_one_line(files, make_bad, expect):
    tmp, _ = files
    bad = tmp / "bad.npy"
    make_bad(bad)
    out = run("recover", "--weights", tmp / "W.npy", "--attention", bad, "--out", tmp / "X.npy")
    assert out.returncode == 2, out.stdout
    assert len(out.stderr.strip().splitlines()) == 1 and expect in out.stderr, out.stderr
