#!/usr/bin/env bash
# Creates the Python venv of the processing job and its tests, with processing/requirements-dev.txt:
# .venv at the repo root, or VIDEOBOT_VENV=DIR (the bot itself runs VIDEOBOT_PYTHON, default .venv/bin/python).
#   installer: uv (from PyPI, pinned below; ~10x faster than pip), pip when VIDEOBOT_PY_INSTALLER=pip
#              or when uv cannot be had or fails.
#   torch:     on Linux without an NVIDIA GPU, PyTorch's CPU-only wheels when their index answers
#              (VIDEOBOT_TORCH_CPU_INDEX, default https://download.pytorch.org/whl/cpu; set it empty
#              to skip), else PyPI's build, which brings ~4 GB of nvidia-* CUDA wheels it needs to import.
# Idempotent: skips everything when the requirements files (and the interpreter) match the stamp.
# docs/processing.md has the measured times and sizes.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${VIDEOBOT_VENV:-$root/.venv}"
python="${PYTHON:-python3}"
installer="${VIDEOBOT_PY_INSTALLER:-uv}"
cpu_index="${VIDEOBOT_TORCH_CPU_INDEX-https://download.pytorch.org/whl/cpu}"
uv_version=0.13.9
stamp="$venv/.requirements.sha256"

want="$(cat "$root/processing/requirements.txt" "$root/processing/requirements-dev.txt" \
  <("$python" -c 'import sys; print(sys.version)') | sha256sum | cut -d' ' -f1)"

if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  echo "setup-python: ${venv#"$root"/} is up to date"
  exit 0
fi
case "$installer" in
  uv | pip) ;;
  *) echo "setup-python: VIDEOBOT_PY_INSTALLER must be uv or pip; got '$installer'" >&2; exit 2 ;;
esac

start=$SECONDS
"$python" -m venv "$venv"
py="$venv/bin/python"

uv=""
if [[ "$installer" == uv ]]; then
  if command -v uv >/dev/null; then
    uv="$(command -v uv)"
  elif "$py" -m pip install --quiet --disable-pip-version-check "uv==$uv_version"; then
    uv="$venv/bin/uv"
  else
    echo "setup-python: could not install uv $uv_version from PyPI; installing with pip" >&2
  fi
fi
if [[ -z "$uv" ]]; then
  "$py" -m pip install --quiet --disable-pip-version-check --upgrade pip
fi

# Installs into the venv with uv, or pip when there is no uv (or uv fails, e.g. on a TLS proxy it
# does not trust: then pip, which reads the machine's pip configuration, does the rest).
venv_install() {
  if [[ -n "$uv" ]]; then
    if "$uv" pip install --quiet --python "$py" "$@"; then return 0; fi
    echo "setup-python: uv failed; retrying with pip" >&2
    uv=""
  fi
  "$py" -m pip install --quiet --disable-pip-version-check "$@"
}

has_nvidia_gpu() {
  [[ -e /proc/driver/nvidia/version ]] || { command -v nvidia-smi >/dev/null && nvidia-smi -L 2>/dev/null | grep -q '^GPU'; }
}

index_answers() {
  "$python" - "$1" <<'PY'
import sys, urllib.request
try:
    urllib.request.urlopen(sys.argv[1], timeout=5).close()
except Exception:
    sys.exit(1)
PY
}

torch_from="PyPI (with its CUDA libraries)"
if [[ -n "$cpu_index" && "$(uname -s)" == Linux ]] && ! has_nvidia_gpu; then
  torch_pin="$(grep -E '^torch==' "$root/processing/requirements.txt")"
  if ! index_answers "${cpu_index%/}/torch/"; then
    echo "setup-python: no NVIDIA GPU, but PyTorch's CPU-only index ($cpu_index) does not answer; torch comes from PyPI with its CUDA libraries"
  elif venv_install --index-url "$cpu_index" "$torch_pin"; then
    # requirements.txt's torch==X is then already met by X+cpu, so the next step keeps it.
    torch_from="$cpu_index (CPU-only)"
  else
    echo "setup-python: installing $torch_pin from $cpu_index failed; torch comes from PyPI" >&2
  fi
fi
venv_install -r "$root/processing/requirements-dev.txt"

echo "$want" > "$stamp"
echo "setup-python: installed in $((SECONDS - start))s with $([[ -n "$uv" ]] && echo uv || echo pip), torch from $torch_from ($(du -sh "$venv" | cut -f1) in ${venv#"$root"/})"
