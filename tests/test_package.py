"""The installed package: importable without nbdev, public API at the top level, exported modules in sync."""
import subprocess, sys
import attn_unmask as au


def test_import_without_nbdev():
    # Block nbdev and fastcore the way a missing install would: the exported package must not need them.
    code = ("import sys; sys.modules['nbdev'] = None; sys.modules['fastcore'] = None; sys.modules['execnb'] = None\n"
            "import attn_unmask as au; print(au.gradient.__name__, au.hvp.__name__, au.hessian.__name__, au.recover.__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["gradient", "hvp", "hessian", "recover"]


def test_public_api():
    for name in ["attention", "loss", "gradient", "hvp", "hessian", "hessian_operator", "jacobian", "recover",
                 "RecoveryResult", "random_instance", "relative_attention_error", "vec", "unvec", "jacobian_row_norms", "complete_attention"]:
        assert callable(getattr(au, name)), name


def test_version_matches_settings():
    from configparser import ConfigParser
    from pathlib import Path
    cfg = ConfigParser(delimiters=["="])
    cfg.read(Path(__file__).parents[1] / "settings.ini")
    assert au.__version__ == cfg["DEFAULT"]["version"]


def test_package_metadata_status_and_absolute_links():
    "The classifier matches settings.ini's status (3 = Alpha), and the long description has no links relative to the repo."
    import re
    from pathlib import Path
    root = Path(__file__).resolve().parents[1]
    run = lambda opt: subprocess.run([sys.executable, "setup.py", "-q", opt], cwd=root, capture_output=True, text=True, check=True).stdout
    assert "Development Status :: 3 - Alpha" in run("--classifiers")
    links = re.findall(r"\]\(([^)]+)\)", run("--long-description"))
    assert links and all(re.match(r"https?://|#", link) for link in links), [l for l in links if not l.startswith("http")]
