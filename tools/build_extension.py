"""Build the Blender extension zips, one per platform, with the torch-free runtime bundled.

    python tools/build_extension.py --platform linux-x64|windows-x64|macos-arm64|all --out dist/

Steps:

1. Stage a clean copy of the tracked files (``git ls-files``, working-tree content) plus the
   exported ONNX models ``weights/onnx/*.onnx`` (``video-mocap export-onnx``) in a temp folder.
2. Take the platform wheels from ``wheels/`` or download them there (``pip download
   --only-binary=:all: --no-deps --platform ... --python-version 3.11``): ONNX Runtime and
   OpenCV (headless) only. NumPy is not bundled: Blender 4.2-5.0 ship NumPy 1.26.x, which both
   wheels support; their other declared dependencies (flatbuffers, protobuf, sympy, packaging)
   are only needed by ONNX Runtime's tools, not to import it or run a model.
3. Write ``wheels = [...]`` and ``platforms = [...]`` into the staged ``blender_manifest.toml``.
4. Run Blender's own ``blender_ext.py validate`` and ``build --split-platforms`` (from the bpy
   module of this Python) so the zips are exactly what Blender's extension system accepts.
   ``tools/`` itself is excluded from the zips by the manifest's ``paths_exclude_pattern``.

Needs git and (when ``wheels/`` lacks a wheel) pip with access to PyPI.
"""

from __future__ import annotations

import argparse
import logging
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("build_extension")

REPO = Path(__file__).resolve().parents[1]
WHEELS_DIR = REPO / "wheels"
ONNX_DIR = REPO / "weights" / "onnx"
MANIFEST = "blender_manifest.toml"
PYTHON_VERSION = "3.11"
PYTHON_ABI = "cp311"

#: the bundled packages: (pip requirement, distribution file-name prefix)
BUNDLED: tuple[tuple[str, str], ...] = (
    ("onnxruntime==1.32.0", "onnxruntime"),
    ("opencv-python-headless==4.11.0.86", "opencv_python_headless"),
    # the rig solve uses scipy (rotations, Savitzky-Golay, median filter); Blender ships only numpy
    ("scipy==1.17.1", "scipy"),
)
#: ``--windows-directml``: ONNX Runtime with the DirectML provider (any DirectX 12 GPU; falls back to the CPU)
DIRECTML_WHEEL: tuple[str, str] = ("onnxruntime-directml==1.24.4", "onnxruntime_directml")
WINDOWS = "windows-x64"
#: Blender platform -> wheel platform tags pip may take (newest first)
PLATFORM_TAGS: dict[str, tuple[str, ...]] = {
    "linux-x64": ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"),
    "windows-x64": ("win_amd64",),
    "macos-arm64": ("macosx_14_0_arm64", "macosx_13_0_arm64", "macosx_12_0_arm64", "macosx_11_0_arm64"),
}
ALL = "all"
PIP_TIMEOUT_S = 600
BUILD_TIMEOUT_S = 600
_TOP_LEVEL_KEYS = re.compile(r"^\s*#?\s*(wheels|platforms)\s*=.*$")
_TABLE = re.compile(r"^\s*\[")


class BuildError(RuntimeError):
    """A build step failed; the message says which and why."""


@dataclass(frozen=True)
class Wheel:
    path: Path
    dist: str
    platform_tags: tuple[str, ...]
    python_tag: str
    abi_tag: str

    def runs_on_python311(self) -> bool:
        if self.python_tag == PYTHON_ABI or self.python_tag in ("py3", "py311"):
            return True
        # stable-ABI wheels built for an older CPython 3 run on 3.11
        return self.abi_tag == "abi3" and self.python_tag.startswith("cp3") and int(self.python_tag[3:]) <= 11


def parse_wheel(path: Path) -> Wheel | None:
    """Name parts of ``dist-version(-build)?-python-abi-platform.whl``; None if not a wheel name."""
    parts = path.name[: -len(".whl")].split("-") if path.name.endswith(".whl") else []
    if not 5 <= len(parts) <= 6:
        return None
    return Wheel(path, parts[0].lower(), tuple(parts[-1].split(".")), parts[-3], parts[-2])


def find_wheel(folder: Path, dist_prefix: str, version: str, platform: str) -> Path | None:
    """A wheel of ``dist_prefix`` ``version`` in ``folder`` that fits ``platform`` and Python 3.11."""
    tags = set(PLATFORM_TAGS[platform])
    for path in sorted(folder.glob(f"{dist_prefix}-{version}-*.whl")):
        wheel = parse_wheel(path)
        if wheel is None or wheel.dist != dist_prefix.lower():
            continue
        if wheel.runs_on_python311() and (tags & set(wheel.platform_tags) or "any" in wheel.platform_tags):
            return path
    return None


def bundled_for(platform: str, directml: bool = False) -> tuple[tuple[str, str], ...]:
    """(requirement, file prefix) of the wheels bundled for ``platform``."""
    if directml and platform == WINDOWS:
        return (DIRECTML_WHEEL,) + tuple(b for b in BUNDLED if b[1] != "onnxruntime")
    return BUNDLED


def fetch_wheels(platform: str, folder: Path = WHEELS_DIR, download: bool = True, directml: bool = False) -> list[Path]:
    """The bundled wheels for ``platform``: from ``folder``, downloaded into it when missing."""
    folder.mkdir(parents=True, exist_ok=True)
    found: list[Path] = []
    for requirement, prefix in bundled_for(platform, directml):
        version = requirement.split("==")[1]
        wheel = find_wheel(folder, prefix, version, platform)
        if wheel is None:
            if not download:
                raise BuildError(f"no {requirement} wheel for {platform} in {folder} and downloads are off")
            cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                   "--python-version", PYTHON_VERSION, "--implementation", "cp", "--dest", str(folder)]
            for tag in PLATFORM_TAGS[platform]:
                cmd += ["--platform", tag]
            cmd.append(requirement)
            log.info("downloading %s for %s", requirement, platform)
            result = subprocess.run(cmd, capture_output=True, text=True, timeout=PIP_TIMEOUT_S)
            wheel = find_wheel(folder, prefix, version, platform)
            if result.returncode != 0 or wheel is None:
                raise BuildError(f"pip download of {requirement} for {platform} failed:\n{result.stderr[-2000:]}")
        found.append(wheel)
    return found


def tracked_files(repo: Path = REPO) -> list[Path]:
    """Paths (relative) of the files git tracks, as they are in the working tree."""
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=repo, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise BuildError(f"'git ls-files' failed in {repo} ({exc}); build from a git checkout") from None
    return [Path(name) for name in out.decode().split("\0") if name and (repo / name).is_file()]


def stage(stage_dir: Path, wheels: list[Path], platforms: list[str], repo: Path = REPO,
          require_onnx: bool = True) -> Path:
    """Copy tracked files, ONNX models and wheels into ``stage_dir``; write the manifest's wheels/platforms."""
    for rel in tracked_files(repo):
        target = stage_dir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(repo / rel, target)
    onnx_models = sorted((repo / "weights" / "onnx").glob("*.onnx"))
    if require_onnx and not onnx_models:
        raise BuildError("no ONNX models in weights/onnx: run 'video-mocap export-onnx' (or ./setup.sh) first")
    for model in onnx_models:
        target = stage_dir / "weights" / "onnx" / model.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(model, target)
    wheel_dir = stage_dir / "wheels"
    wheel_dir.mkdir(exist_ok=True)
    for wheel in wheels:
        shutil.copyfile(wheel, wheel_dir / wheel.name)
    manifest = stage_dir / MANIFEST
    manifest.write_text(with_wheels(manifest.read_text(encoding="utf-8"), [w.name for w in wheels], platforms),
                        encoding="utf-8")
    return stage_dir


def with_wheels(manifest_text: str, wheel_names: list[str], platforms: list[str]) -> str:
    """The manifest with top-level ``wheels`` and ``platforms`` set (placed before the first table)."""
    # the source manifest keeps wheels/ (every platform's downloads) out of plain builds; here it ships
    lines = [line for line in manifest_text.splitlines()
             if not _TOP_LEVEL_KEYS.match(line) and line.strip() != f'"/{WHEELS_DIR.name}/",']
    first_table = next((i for i, line in enumerate(lines) if _TABLE.match(line)), len(lines))
    block = ["platforms = [" + ", ".join(f'"{p}"' for p in platforms) + "]", "wheels = ["]
    block += [f'  "./wheels/{name}",' for name in sorted(wheel_names)]
    block += ["]", ""]
    return "\n".join(lines[:first_table] + block + lines[first_table:]) + "\n"


def manifest_id_version(manifest: Path) -> tuple[str, str]:
    import tomllib

    data = tomllib.loads(manifest.read_text(encoding="utf-8"))
    return str(data["id"]), str(data["version"])


def zip_name(ext_id: str, version: str, platform: str) -> str:
    """File name ``blender_ext.py build --split-platforms`` gives a platform's zip."""
    return f"{ext_id}-{version}-{platform.replace('-', '_')}.zip"


def blender_ext_script() -> Path:
    """``blender_ext.py`` of the bpy module installed for this Python (Blender's own extension tool)."""
    for entry in sys.path:
        found = sorted(Path(entry or ".").glob("bpy/*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
        if found:
            return found[-1]
    raise BuildError("blender_ext.py not found: install the bpy module in this Python (run ./setup.sh)")


def run_blender_ext(args: list[str]) -> str:
    cmd = [sys.executable, str(blender_ext_script()), *args]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
    if result.returncode != 0:
        raise BuildError(f"blender_ext.py {args[0]} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result.stdout


def build(platforms: list[str], out_dir: Path, download: bool = True, require_onnx: bool = True,
          directml: bool = False) -> list[Path]:
    """Build one zip per platform into ``out_dir``; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    wheels: list[Path] = []
    for platform in platforms:
        wheels += fetch_wheels(platform, download=download, directml=directml)
    with tempfile.TemporaryDirectory(prefix="video_mocap_build_") as tmp:
        staged = stage(Path(tmp) / "video_mocap", wheels, platforms, require_onnx=require_onnx)
        staged_id, staged_version = manifest_id_version(staged / MANIFEST)
        run_blender_ext(["validate", str(staged)])
        # --split-platforms: one zip per platform, each with only its own wheels
        text = run_blender_ext(["build", "--source-dir", str(staged), "--output-dir", str(out_dir),
                                "--split-platforms"])
        log.debug("%s", text)
    zips = [out_dir / zip_name(staged_id, staged_version, platform) for platform in platforms]
    missing = [z.name for z in zips if not z.is_file()]
    if missing:
        raise BuildError(f"blender_ext.py build did not write {', '.join(missing)}:\n{text[-2000:]}")
    for path in zips:
        run_blender_ext(["validate", str(path)])
        log.info("%s: %.1f MB", path.name, path.stat().st_size / 1e6)
    return zips


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--platform", default="linux-x64", choices=[*PLATFORM_TAGS, ALL])
    parser.add_argument("--out", type=Path, default=REPO / "dist")
    parser.add_argument("--no-download", action="store_true", help="use only the wheels already in wheels/")
    parser.add_argument("--allow-no-onnx", action="store_true",
                        help="build without exported ONNX models (the zip then needs PyTorch to run)")
    parser.add_argument("--windows-directml", action="store_true",
                        help="Windows zip: bundle onnxruntime-directml (GPU through DirectX 12) instead of onnxruntime")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    platforms = list(PLATFORM_TAGS) if args.platform == ALL else [args.platform]
    try:
        build(platforms, args.out, download=not args.no_download, require_onnx=not args.allow_no_onnx,
              directml=args.windows_directml)
    except (BuildError, subprocess.TimeoutExpired) as exc:
        log.error("build failed: %s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
