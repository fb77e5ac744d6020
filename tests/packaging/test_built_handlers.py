"""What `sam build` (`make build`) puts in .aws-sam/build is what Lambda runs: each handler imports with
only its own built code folder, the built layer and the runtime's boto3 on the path, under python3.13,
and the layer's .pyc are valid for it.

Skipped when nothing is built (run `make build` first); under CI (CI set) a missing build or a missing
python3.13 fails instead, so a green CI has imported every handler the deploy would ship.

The layer's native extensions are arm64 (Lambda's); an x86 machine cannot load them. Today no handler
imports one at import time (lxml, cryptography and the like load later, on the paths that need them).
A handler that does will fail here on x86: import it on arm64, or against a build of the same layer for
the host (`make -C layers/shared build-SharedLayer PLATFORM=manylinux2014_x86_64 ARTIFACTS_DIR=...`).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import struct
import subprocess
import zipfile
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import decode

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / ".aws-sam" / "build"
LAYER = BUILD / "SharedLayer" / "python"
COLD_IMPORT = ROOT / "benchmarks" / "cold_import.py"
# The Lambda python3.13 runtime ships these (the layer must not); see _runtime_provided.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer")
# layers/shared/Makefile step 12 leaves these uncompiled (background-only document readers).
NOT_COMPILED = ("pypdf", "docx", "openpyxl")
MB = 1024 * 1024
EM_AARCH64 = 183  # ELF e_machine of arm64


def _missing(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must run `make build` before the tests)")
    pytest.skip(reason)


@cache
def _python313() -> str | None:
    """python3.13, found as the Makefile finds it (PATH, then pyenv's versions)."""
    candidates = [shutil.which("python3.13")]
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates += sorted(str(p) for p in pyenv.glob("3.13*/bin/python3.13"))[-1:]
    for candidate in filter(None, candidates):
        probe = subprocess.run(
            [candidate, "-c", "import sys; assert sys.version_info[:2] == (3, 13); print(sys.executable)"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.returncode == 0:
            return probe.stdout.strip()
    return None


def _functions() -> dict[str, dict[str, Any]]:
    """The template's functions (logical ID -> properties); the built folder is named by logical ID."""
    template, problems = decode(str(ROOT / "template.yaml"))
    assert template is not None and not problems
    return {
        name: resource["Properties"]
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }


@pytest.fixture(scope="module")
def built() -> Path:
    if not (LAYER.is_dir() and all((BUILD / name).is_dir() for name in _functions())):
        _missing("nothing built in .aws-sam/build: run `make build`")
    if _python313() is None:
        _missing("python3.13 (the Lambda runtime's Python) is not installed")
    return BUILD


@pytest.fixture(scope="module")
def rezipped_layer(built: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The layer as Lambda gets it: zipped, then unpacked elsewhere. Every file gets a new mtime, so a
    .pyc that checked its source's mtime would be stale; only the layer's own content is there."""
    archive = tmp_path_factory.mktemp("zip") / "layer.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        for path in sorted(LAYER.rglob("*")):
            if path.is_file():
                zf.write(path, Path("python") / path.relative_to(LAYER))
    opt = tmp_path_factory.mktemp("opt")
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(opt)
    return opt / "python"


@pytest.fixture(scope="module")
def runtime_provided(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """boto3, botocore and s3transfer: Lambda's python3.13 runtime provides them, so neither the layer
    nor the function ships them. Here they come from this project's environment, at the versions uv.lock
    pins (the ones every other test ran against; the runtime's own can be a little older or newer).
    Only these three packages: their dependencies (urllib3, dateutil, jmespath) must come from the layer.
    All three are pure Python, so the venv's copy imports under python3.13."""
    folder = tmp_path_factory.mktemp("runtime")
    for name in RUNTIME_PROVIDED:
        spec = importlib.util.find_spec(name)
        assert spec and spec.submodule_search_locations, name
        (folder / name).symlink_to(
            Path(next(iter(spec.submodule_search_locations))), target_is_directory=True
        )
    return folder


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name != "__pycache__")


def _paths(*folders: Path) -> list[str]:
    return [arg for folder in folders for arg in ("--path", str(folder))]


def _cold_import(code: Path, layer: Path, runtime: Path, module: str) -> dict[str, Any]:
    python = _python313()
    assert python
    result = subprocess.run(
        [python, "-I", "-S", "-B", str(COLD_IMPORT), *_paths(code, layer, runtime), "--module", module],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=code,  # Lambda's working directory is the function's code (/var/task)
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    report: dict[str, Any] = json.loads(result.stdout)
    return report


@pytest.mark.parametrize("function", sorted(_functions()))
def test_each_handler_imports_from_its_build_and_the_layer_alone(function, rezipped_layer, runtime_provided):
    props = _functions()[function]
    module, _, function_name = props["Handler"].partition(".")
    code = BUILD / function
    # The built function is its own source, nothing else (the layer carries every dependency).
    source = ROOT / props["CodeUri"]
    assert _names(code) == _names(source)

    report = _cold_import(code, rezipped_layer, runtime_provided, module)
    assert report["python"].startswith("3.13.")
    assert function_name == "handler"  # cold_import.py's default
    assert report["handler_callable"], f"{props['Handler']} is not a callable in the built {function}"
    assert report["outside"] == [], "modules loaded from outside the function, the layer and the runtime"
    # The layer's modules came from its .pyc: none was compiled from source on import.
    # (The document readers the layer leaves uncompiled, if the handler imports them, are compiled.)
    layer = str(rezipped_layer) + os.sep
    layer_compiled = [
        p
        for p in report["compiled_from_source"]
        if p.startswith(layer) and Path(p).relative_to(layer).parts[0] not in NOT_COMPILED
    ]
    assert layer_compiled == [], "the layer's .pyc were not used for these modules"
    # Besides the runtime's boto3 (compiled here: the venv has no python3.13 .pyc for it), only the
    # handler's own module is compiled at a cold start (Lambda's /var/task is read-only too).
    ours = [
        p
        for p in report["compiled_from_source"]
        if not p.startswith((str(runtime_provided), *(f"{layer}{name}{os.sep}" for name in NOT_COMPILED)))
    ]
    assert ours == [str(code.resolve() / f"{module}.py")]


# Run by python3.13: the magic number and the source hash's key are the interpreter's own.
_CHECK_PYC = """
import importlib.util, json, pathlib, sys
layer, skipped = pathlib.Path(sys.argv[1]), set(sys.argv[2:])
missing, wrong = [], []
for source in sorted(layer.rglob("*.py")):
    relative = source.relative_to(layer)
    if relative.parts[0] in skipped:
        continue
    pyc = pathlib.Path(importlib.util.cache_from_source(str(source)))
    if not pyc.is_file():
        missing.append(str(relative))
        continue
    header = pyc.read_bytes()[:16]
    # PEP 552: flags 0b01 = hash-based and unchecked; then the hash of the source it was compiled from.
    if (header[:4] != importlib.util.MAGIC_NUMBER or int.from_bytes(header[4:8], "little") != 0b01
            or header[8:16] != importlib.util.source_hash(source.read_bytes())):
        wrong.append(str(relative))
print(json.dumps({"missing": missing, "wrong": wrong}))
"""


def test_the_layer_has_a_valid_python313_pyc_for_every_module(built):
    python = _python313()
    assert python
    result = subprocess.run(
        [python, "-I", "-c", _CHECK_PYC, str(LAYER), *NOT_COMPILED],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(result.stdout) == {"missing": [], "wrong": []}
    # Only python3.13's .pyc: no leftovers of another version.
    assert [p for p in LAYER.rglob("*.pyc") if not p.name.endswith(".cpython-313.pyc")] == []
    # The readers left uncompiled (layers/shared/Makefile step 12) are really uncompiled, so the
    # exception above stays as narrow as it says.
    assert [p for name in NOT_COMPILED for p in (LAYER / name).rglob("*.pyc")] == []


def test_the_layer_is_arm64_python313_without_the_runtimes_boto3(built):
    top = {p.name.split("-")[0].split(".")[0] for p in LAYER.iterdir()}
    assert not top & set(RUNTIME_PROVIDED)
    for library in LAYER.rglob("*.so"):
        header = library.read_bytes()[:20]
        assert header[:4] == b"\x7fELF", library
        assert struct.unpack("<H", header[18:20])[0] == EM_AARCH64, f"{library} is not arm64"
        assert ".cpython-313-aarch64-linux-gnu." in library.name or ".abi3." in library.name, library
    total = sum(p.stat().st_size for p in LAYER.rglob("*") if p.is_file() and not p.is_symlink())
    assert total < 50 * MB, f"the layer is {total / MB:.1f} MB unzipped (DESIGN.md §11: under 50 MB)"
