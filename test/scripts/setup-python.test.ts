// scripts/setup-python.sh's choices, against stand-ins: a fake `python3` (venv, pip and the index probe)
// and a fake `uv` log what they are asked to install, so the test needs no network and takes no minutes.
// The real installs (uv and pip, cold and warm) are measured in docs/processing.md.
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/video.js';

const CPU_INDEX = 'http://cpu-index.invalid/whl/cpu';
const roots: string[] = [];
afterEach(() => {
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
});

// `python3 -c …` prints a version, `-m venv DIR` makes DIR/bin/python (this script again), `-m pip …` is
// logged (installing uv== also lays out a fake uv beside it), `- URL` is the index probe: it answers for
// URLs under $FAKE_REACHABLE.
const FAKE_PYTHON = `#!/usr/bin/env bash
log() { echo "$*" >> "$FAKE_LOG"; }
case "$1" in
  -c) echo "3.11.7 (fake)" ;;
  -m)
    case "$2" in
      venv) mkdir -p "$3/bin"; cp "$0" "$3/bin/python" ;;
      pip)
        log "pip \${*:3}"
        [[ -n "\${FAKE_PIP_FAILS:-}" && "$*" == *"$FAKE_PIP_FAILS"* ]] && exit 1
        if [[ "$*" == *" uv=="* ]]; then
          printf '#!/usr/bin/env bash\\necho "uv $*" >> "$FAKE_LOG"\\n[[ -z "\${FAKE_UV_FAILS:-}" ]]\\n' > "$(dirname "$0")/uv"
          chmod +x "$(dirname "$0")/uv"
        fi ;;
    esac ;;
  -) cat > /dev/null; [[ -n "\${FAKE_REACHABLE:-}" && "$2" == "$FAKE_REACHABLE"* ]] ;;
esac
`;

function project() {
  const root = mkdtempSync(join(tmpdir(), 'vb-setup-python-'));
  roots.push(root);
  mkdirSync(join(root, 'scripts'));
  mkdirSync(join(root, 'processing'));
  mkdirSync(join(root, 'bin'));
  copyFileSync(join(REPO_ROOT, 'scripts/setup-python.sh'), join(root, 'scripts/setup-python.sh'));
  writeFileSync(join(root, 'processing/requirements.txt'), 'torch==2.9.1\nnumpy==2.3.4\n');
  writeFileSync(join(root, 'processing/requirements-dev.txt'), '-r requirements.txt\npytest==8.4.2\n');
  writeFileSync(join(root, 'bin/python3'), FAKE_PYTHON);
  chmodSync(join(root, 'bin/python3'), 0o755);
  return root;
}

function setup(root: string, env: Record<string, string> = {}) {
  const r = spawnSync('bash', [join(root, 'scripts/setup-python.sh')], {
    cwd: root,
    encoding: 'utf8',
    env: {
      PATH: `${join(root, 'bin')}:/usr/bin:/bin`,
      PYTHON: join(root, 'bin/python3'),
      FAKE_LOG: join(root, 'calls'),
      VIDEOBOT_TORCH_CPU_INDEX: CPU_INDEX,
      ...env,
    },
  });
  const calls = existsSync(join(root, 'calls')) ? readFileSync(join(root, 'calls'), 'utf8').trim().split('\n') : [];
  // The venv's path is the same in every call: drop it so the expectations read.
  return { ...r, calls: calls.map((c) => c.replaceAll(`--python ${join(root, '.venv/bin/python')} `, '').replaceAll(root, '<root>')) };
}

const gpuHere = existsSync('/proc/driver/nvidia/version');

describe.skipIf(process.platform !== 'linux' || gpuHere)('scripts/setup-python.sh on Linux without an NVIDIA GPU', () => {
  it('installs uv, then torch from the CPU-only index when it answers, then the requirements (which keep that torch)', () => {
    const root = project();
    const r = setup(root, { FAKE_REACHABLE: CPU_INDEX });
    expect(r.status, r.stderr).toBe(0);
    expect(r.calls).toEqual([
      'pip install --quiet --disable-pip-version-check uv==0.13.9',
      `uv pip install --quiet --index-url ${CPU_INDEX} torch==2.9.1`,
      'uv pip install --quiet -r <root>/processing/requirements-dev.txt',
    ]);
    expect(r.stdout).toContain(`with uv, torch from ${CPU_INDEX} (CPU-only)`);
  });

  it('takes torch from PyPI, saying why, when the CPU-only index does not answer', () => {
    const root = project();
    const r = setup(root);
    expect(r.status, r.stderr).toBe(0);
    expect(r.calls).toEqual([
      'pip install --quiet --disable-pip-version-check uv==0.13.9',
      'uv pip install --quiet -r <root>/processing/requirements-dev.txt',
    ]);
    expect(r.stdout).toContain(`no NVIDIA GPU, but PyTorch's CPU-only index (${CPU_INDEX}) does not answer; torch comes from PyPI`);
    expect(r.stdout).toContain('with uv, torch from PyPI (with its CUDA libraries)');
  });

  it('installs with pip when asked to, CPU-only torch included', () => {
    const root = project();
    const r = setup(root, { FAKE_REACHABLE: CPU_INDEX, VIDEOBOT_PY_INSTALLER: 'pip' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.calls).toEqual([
      'pip install --quiet --disable-pip-version-check --upgrade pip',
      `pip install --quiet --disable-pip-version-check --index-url ${CPU_INDEX} torch==2.9.1`,
      'pip install --quiet --disable-pip-version-check -r <root>/processing/requirements-dev.txt',
    ]);
    expect(r.stdout).toContain('with pip, torch from');
  });

  it('falls back to pip when uv cannot be installed, or when uv fails', () => {
    const noUv = setup(project(), { FAKE_PIP_FAILS: 'uv==' });
    expect(noUv.status, noUv.stderr).toBe(0);
    expect(noUv.stderr).toContain('could not install uv 0.13.9 from PyPI; installing with pip');
    expect(noUv.calls.at(-1)).toBe('pip install --quiet --disable-pip-version-check -r <root>/processing/requirements-dev.txt');

    const uvFails = setup(project(), { FAKE_UV_FAILS: '1' });
    expect(uvFails.status, uvFails.stderr).toBe(0);
    expect(uvFails.stderr).toContain('uv failed; retrying with pip');
    expect(uvFails.calls.slice(-2)).toEqual([
      'uv pip install --quiet -r <root>/processing/requirements-dev.txt',
      'pip install --quiet --disable-pip-version-check -r <root>/processing/requirements-dev.txt',
    ]);
    expect(uvFails.stdout).toContain('with pip');
  });

  it('takes torch from PyPI when the CPU-only index is turned off', () => {
    const r = setup(project(), { FAKE_REACHABLE: CPU_INDEX, VIDEOBOT_TORCH_CPU_INDEX: '' });
    expect(r.calls.some((c) => c.includes('--index-url'))).toBe(false);
  });

  it('does nothing the second time, and installs into VIDEOBOT_VENV when set', () => {
    const root = project();
    const venv = join(root, 'elsewhere');
    expect(setup(root, { VIDEOBOT_VENV: venv }).status).toBe(0);
    expect(existsSync(join(venv, '.requirements.sha256'))).toBe(true);
    expect(existsSync(join(root, '.venv'))).toBe(false);
    const again = setup(root, { VIDEOBOT_VENV: venv });
    expect(again.stdout).toContain('is up to date');
    expect(again.calls).toHaveLength(2); // the first run's: uv, then the requirements
  });
});

describe.skipIf(process.platform !== 'linux')('scripts/setup-python.sh with an NVIDIA GPU', () => {
  it('takes torch from PyPI (its CUDA build) without asking the CPU-only index', () => {
    const root = project();
    writeFileSync(join(root, 'bin/nvidia-smi'), '#!/usr/bin/env bash\necho "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-x)"\n');
    chmodSync(join(root, 'bin/nvidia-smi'), 0o755);
    const r = setup(root, { FAKE_REACHABLE: CPU_INDEX });
    expect(r.status, r.stderr).toBe(0);
    expect(r.calls.some((c) => c.includes('--index-url'))).toBe(false);
    expect(r.stdout).toContain('torch from PyPI');
  });
});
