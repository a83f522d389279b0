"""The GPU check of the image engine: every check and measurement of the CUDA engine in one call,
one JSON and one Markdown report (``make gpu-check``; docs/gpu-check.md).

Usage: python scripts/gpu_check.py --out DIR [--device auto|cuda|cpu] [--wheelhouse DIR]
                                   [--site DIR] [--only PARTS] [--rules R,...] [--budget-s S]

``--wheelhouse DIR`` (made by ``make gpu-wheels``) first installs, with no package index, the
packages this Python lacks (hydra-core, omegaconf, antlr4, pytorch-fid, PyYAML) and the gantrain
wheel into ``--site`` (default /tmp/gantrain_site) and runs again with that folder on PYTHONPATH.
A folder on PYTHONPATH rather than a venv: the GPU machine's python3 is itself a venv, and a venv
made from it with --system-site-packages sees the base interpreter's packages, not its torch. A
gantrain wheel older than the working tree (its RECORD hashes differ) is not installed: the
working tree's gantrain is used, and the report says so. This file uses the standard library only
until the check itself starts.
"""
from __future__ import annotations

import base64
import hashlib
import importlib.util
import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The modules the check imports that the GPU machine may lack -> their wheels' name prefixes.
NEEDED = {"hydra": "hydra_core", "omegaconf": "omegaconf", "antlr4": "antlr4_python3_runtime",
          "pytorch_fid": "pytorch_fid", "yaml": "pyyaml"}
MARK = "GANTRAIN_GPU_CHECK_INSTALL"


def wheel_for(wheelhouse: Path, prefix: str) -> Path | None:
    found = sorted(p for p in wheelhouse.glob("*.whl") if p.name.lower().startswith(prefix + "-"))
    return found[-1] if found else None


def stale_files(wheel: Path, root: Path = ROOT) -> list[str]:
    """The files of the tree's ``gantrain/`` package whose content differs from the wheel's
    (by the sha256 of its RECORD), or that one of the two lacks."""
    with zipfile.ZipFile(wheel) as z:
        record = next(n for n in z.namelist() if n.endswith(".dist-info/RECORD"))
        lines = z.read(record).decode().splitlines()
    packaged = {}
    for line in lines:
        path, digest, _ = line.rsplit(",", 2)
        if path.startswith("gantrain/") and digest.startswith("sha256="):
            packaged[path] = digest[len("sha256="):]
    tree = {p.relative_to(root).as_posix(): p for p in (root / "gantrain").rglob("*")
            if p.is_file() and p.suffix in (".py", ".yaml")}
    bad = sorted(set(packaged) ^ set(tree))
    for path in sorted(set(packaged) & set(tree)):
        digest = base64.urlsafe_b64encode(hashlib.sha256(tree[path].read_bytes()).digest())
        if digest.rstrip(b"=").decode() != packaged[path]:
            bad.append(path)
    return bad


def install(wheelhouse: Path, site: Path) -> tuple[dict, str]:
    """Install the missing modules' wheels and gantrain's into ``site``; returns (the
    environment to run with, a note for the report). Exits with one line when a wheel is missing."""
    if not wheelhouse.is_dir():
        sys.exit(f"gpu_check: --wheelhouse={wheelhouse} is invalid: no such folder; run make gpu-wheels")
    wheels, notes = [], []
    for module, prefix in NEEDED.items():
        if importlib.util.find_spec(module) is None:
            wheel = wheel_for(wheelhouse, prefix)
            if wheel is None:
                sys.exit(f"gpu_check: {module} is missing here and {wheelhouse} has no {prefix}-*.whl; "
                         "run make gpu-wheels")
            wheels.append(wheel)
    path = [str(site)]
    gantrain = wheel_for(wheelhouse, "gantrain")
    stale = stale_files(gantrain) if gantrain else ["no gantrain wheel"]
    if stale:
        path.append(str(ROOT))
        notes.append(f"gantrain from the working tree ({gantrain.name if gantrain else 'no wheel'}: "
                     f"{len(stale)} files differ, e.g. {stale[0]})")
    else:
        wheels.append(gantrain)
        notes.append(f"gantrain from {gantrain.name}")
    notes.append("installed: " + (", ".join(w.name for w in wheels) or "nothing"))
    if wheels:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps",
                        "--no-compile", "--disable-pip-version-check", "--upgrade",
                        "--target", str(site), *map(str, wheels)], check=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(path + [p for p in [env.get("PYTHONPATH")] if p])
    env[MARK] = "; ".join(notes)
    return env, env[MARK]


def split_args(argv: list[str]) -> tuple[Path | None, Path, list[str]]:
    """(--wheelhouse, --site, the other arguments)."""
    wheelhouse, site, rest, i = None, Path("/tmp/gantrain_site"), [], 0
    while i < len(argv):
        a = argv[i]
        key, _, value = a.partition("=")
        if key in ("--wheelhouse", "--site"):
            if not value:
                i += 1
                value = argv[i] if i < len(argv) else sys.exit(f"gpu_check: {key} needs a value")
            if key == "--wheelhouse":
                wheelhouse = Path(value)
            else:
                site = Path(value)
        else:
            rest.append(a)
        i += 1
    return wheelhouse, site, rest


def main() -> int:
    wheelhouse, site, rest = split_args(sys.argv[1:])
    if wheelhouse is not None and MARK not in os.environ:
        env, _ = install(wheelhouse, site)
        return subprocess.run([sys.executable, __file__, *rest], env=env).returncode
    sys.path.insert(0, str(ROOT / "benchmarks"))   # bench_images' step, reused
    from gpucheck.main import main as run

    return run(rest, os.environ.get(MARK, "gantrain as installed in this Python"))


if __name__ == "__main__":
    sys.exit(main())
