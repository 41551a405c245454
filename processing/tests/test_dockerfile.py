"""Reads processing/Dockerfile (no Docker daemon here) and checks what SageMaker and the job need of it."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parents[1]


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per Dockerfile instruction: comments dropped, continuations joined."""
    joined = re.sub(r"\\\n", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")))
    out = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            out.append((keyword.upper(), " ".join(rest.split())))
    return out


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    return instructions((HERE / "Dockerfile").read_text())


def build_args(dockerfile) -> dict[str, str]:
    return dict(arg.split("=", 1) for keyword, arg in dockerfile if keyword == "ARG" and "=" in arg)


def pins(name: str) -> dict[str, str]:
    found = {}
    for line in (HERE / name).read_text().splitlines():
        line = line.split("#")[0].strip()
        if "==" in line:
            package, version = line.split("==")
            found[package.strip().lower()] = version.strip()
    return found


def test_runs_as_root_as_sagemaker_expects(dockerfile):
    """SageMaker mounts /opt/ml/processing/* at run time (root-owned) and expects root; both the
    generation and the staging job run this image, so neither may switch user."""
    assert [arg for keyword, arg in dockerfile if keyword == "USER"] in ([], ["root"], ["0"])
    assert ("ENTRYPOINT", '["python", "-m", "processing"]') in dockerfile  # run and stage alike


def test_base_image_is_the_measured_torch_release(dockerfile):
    base = next(arg for keyword, arg in dockerfile if keyword == "FROM")
    resolved = base.replace("${CUDA}", build_args(dockerfile)["CUDA"])
    match = re.fullmatch(r"pytorch/pytorch:(\d+\.\d+\.\d+)-cuda(\d+\.\d+)-cudnn9-runtime", resolved)
    assert match, resolved
    assert match.group(1) == pins("requirements.txt")["torch"] == "2.11.0"


def test_versions_are_those_the_numbers_were_measured_with():
    """docs/performance.md's environment line names the versions; the image must install them."""
    doc = (HERE.parent / "docs" / "performance.md").read_text()
    runtime, gpu = pins("requirements.txt"), pins("requirements-gpu.txt")
    environment = doc[doc.index("## Environment of the runs"):]
    assert f"torch {runtime['torch']}" in environment and f"diffusers {runtime['diffusers']}" in environment
    assert f"flash-attn-4 {gpu['flash-attn-4']}" in environment
    assert f"nvidia-cutlass-dsl {gpu['nvidia-cutlass-dsl']}" in environment


def test_has_a_c_compiler_and_python_headers_for_compile(dockerfile):
    runs = " ".join(arg for keyword, arg in dockerfile if keyword == "RUN")
    assert re.search(r"apt-get install [^&]*\bbuild-essential\b", runs)
    assert re.search(r"apt-get install [^&]*\bpython3-dev\b", runs)
    assert "shutil.which('cc')" in runs and "Python.h" in runs  # checked while building


def test_installs_flash_attention_4_with_the_cute_dsl_libraries(dockerfile):
    runs = " ".join(arg for keyword, arg in dockerfile if keyword == "RUN")
    assert "requirements-gpu.txt" in runs and "nvidia-cutlass-dsl-libs-${CUTE_DSL_LIBS}==4.8.1" in runs
    assert build_args(dockerfile)["CUTE_DSL_LIBS"] == "cu12"  # matches the default CUDA 12.8 base
    copied = [arg for keyword, arg in dockerfile if keyword == "COPY"]
    assert any("requirements-gpu.txt" in arg for arg in copied)
    gpu = pins("requirements-gpu.txt")
    assert {"flash-attn-4", "nvidia-cutlass-dsl", "apache-tvm-ffi", "torch-c-dlpack-ext", "quack-kernels"} <= set(gpu)


def test_benchmarks_and_tests_stay_out_of_the_image(dockerfile):
    """The build context is processing/ and `COPY . /app/processing` takes all of it but what
    .dockerignore names: the benchmarks (processing/benchmarks/) and tests are not the job's."""
    ignored = {line.strip().rstrip("/") for line in (HERE / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    assert {"benchmarks", "tests"} <= ignored
    copies = [arg for keyword, arg in dockerfile if keyword == "COPY"]
    assert all("bench" not in arg for arg in copies)
    assert not list(HERE.glob("bench*.py"))  # nothing benchmark-shaped left in the runtime package
    runtime = [p for p in HERE.glob("*.py")]
    assert all("benchmarks" not in p.read_text() for p in runtime)  # the job never imports them


def test_every_module_is_compiled_to_bytecode_at_build_time(dockerfile):
    """The image sets PYTHONDONTWRITEBYTECODE, so a module without a .pyc is compiled from source in every job
    (seconds of imports on the GPU host); the build compiles the job, the installed packages and the standard
    library once, after the job's code is copied in."""
    env = " ".join(arg for keyword, arg in dockerfile if keyword == "ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in env
    runs = [(i, arg) for i, (keyword, arg) in enumerate(dockerfile) if keyword == "RUN"]
    compiled = [(i, arg) for i, arg in runs if "python -m compileall" in arg]
    assert len(compiled) == 1, runs
    index, command = compiled[0]
    assert '"purelib"' in command and '"stdlib"' in command and "/app/processing" in command
    copy_code = max(i for i, (keyword, arg) in enumerate(dockerfile) if keyword == "COPY" and arg.startswith(". "))
    installs = max(i for i, arg in runs if "pip install" in arg)
    assert index > copy_code and index > installs  # after everything it compiles is in place
