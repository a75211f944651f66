/**
 * The main job as a user runs it (`npm start`, here on the `tiny` preset): a bad option is refused
 * with a clear message, and a run killed with SIGKILL in the middle of a stage, started again,
 * ends with the same summary.json as an uninterrupted run with the same seed; the same job runs on
 * the webgpu backend.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseMainArgs, UsageError } from '../src/cli/args.js';

const MAIN = path.resolve('src/cli/main.ts');
const env = { ...process.env, SAFE_ALIGN_BACKEND: 'wasm' };

function runMain(args: string[], backend = 'wasm'): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', MAIN, ...args], { encoding: 'utf8', env: { ...env, SAFE_ALIGN_BACKEND: backend }, timeout: 600_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Starts the main job and SIGKILLs it `delayMs` after a line containing `marker` appears. */
function runAndKill(args: string[], marker: string, delayMs: number): Promise<{ killed: boolean; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    let armed = false;
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      if (!armed && output.includes(marker)) {
        armed = true;
        setTimeout(() => child.kill('SIGKILL'), delayMs);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (_code, signal) => resolve({ killed: signal === 'SIGKILL', output }));
  });
}

describe('npm start', () => {
  it('refuses a bad option with a message naming it, and exits 2', () => {
    assert.throws(() => parseMainArgs(['--preset', 'huge']), (e: unknown) => e instanceof UsageError && /--preset huge: unknown preset/.test(e.message));
    assert.throws(() => parseMainArgs(['--seed', '-3']), /--seed -3: must be a non-negative integer/);
    assert.throws(() => parseMainArgs(['--backend']), /--backend needs a value/);
    const r = runMain(['--frobnicate']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /unknown option '--frobnicate'/);
    assert.match(r.stderr, /usage: npm start/);
  });

  it('a run killed mid-stage resumes to the same summary.json as an uninterrupted run', { timeout: 900_000 }, async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'safe-align-resume-'));
    try {
      const common = ['--preset', 'tiny', '--dir', dir, '--seed', '7'];
      const whole = runMain([...common, '--run', 'whole']);
      assert.equal(whole.status, 0, whole.stderr);
      // Kill inside the first RL stage (after data, SFT and the score models finished).
      const first = await runAndKill([...common, '--run', 'resumed'], '[ppo] started', 300);
      assert.ok(first.killed, `the run was expected to be killed mid-way:\n${first.output.slice(-2000)}`);
      assert.ok(!fs.existsSync(path.join(dir, 'resumed', 'summary.json')), 'a killed run has no summary yet');
      const again = runMain([...common, '--run', 'resumed']);
      assert.equal(again.status, 0, again.stderr);
      assert.match(again.stdout, /\[sft\] done earlier/, 'finished stages are skipped');
      const a = JSON.parse(fs.readFileSync(path.join(dir, 'whole', 'summary.json'), 'utf8')) as { run: string };
      const b = JSON.parse(fs.readFileSync(path.join(dir, 'resumed', 'summary.json'), 'utf8')) as { run: string };
      assert.equal(a.run, 'whole');
      assert.deepEqual({ ...b, run: 'whole' }, a);
      assert.ok(fs.existsSync(path.join(dir, 'resumed', 'report.html')));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('runs end to end on webgpu (Mesa llvmpipe here): every stage saves, every method is evaluated', { timeout: 600_000 }, () => {
    // webgpu in Node has no synchronous read-back: a dataSync anywhere on the road fails this test
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'safe-align-webgpu-'));
    try {
      const r = runMain(['--preset', 'tiny', '--dir', dir, '--seed', '7', '--run', 'gpu'], 'webgpu');
      assert.equal(r.status, 0, `${r.stderr.slice(-3000)}\n(webgpu needs Mesa: scripts/setup-webgpu-ci.sh)`);
      assert.match(r.stderr, /backend: webgpu/);
      const summary = JSON.parse(fs.readFileSync(path.join(dir, 'gpu', 'summary.json'), 'utf8')) as { backend: string; methods: Record<string, { harmfulRate: { value: number } }> };
      assert.equal(summary.backend, 'webgpu');
      for (const m of ['sft', 'ppo', 'safe-rlhf-r2', 'dpo', 'ipo', 'bfpo', 'cdpo', 'mocan', 'pecan']) {
        assert.ok(Number.isFinite(summary.methods[m]?.harmfulRate.value), `${m} evaluated on webgpu`);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
