/**
 * Shared test set-up: run the suite on the backend named by SAFE_ALIGN_TEST_BACKEND (default 'wasm',
 * the CPU workhorse; 'cpu' is the plainest float32 reference but trains embeddings very slowly).
 */
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';

export async function useTestBackend(): Promise<string> {
  const name = process.env['SAFE_ALIGN_TEST_BACKEND'] ?? 'wasm';
  if (name === 'wasm') {
    const { selectBackend } = await import('../src/backend/select.js');
    await selectBackend({ backend: 'wasm', quiet: true });
  } else {
    await tf.setBackend(name);
    await tf.ready();
  }
  return tf.getBackend();
}

/**
 * Start-up of the webgpu test files: starts Dawn and registers the webgpu and wasm backends. Fails
 * (never skips) when webgpu cannot start, naming the Mesa packages to install.
 */
export async function startWebGPUForTest(): Promise<void> {
  const { ensureBackendRegistered, initWebGPUNode, MESA_PACKAGES } = await import('../src/backend/index.js');
  try {
    await initWebGPUNode();
    await ensureBackendRegistered('webgpu');
  } catch (e) {
    assert.fail(`webgpu could not start: ${(e as Error).message}\n(Mesa packages: ${MESA_PACKAGES.join(' ')}; scripts/setup-webgpu-ci.sh)`);
  }
  await ensureBackendRegistered('wasm');
}

/** Asserts `actual` is finite and within atol + rtol |expected| of `expected`, element by element. */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, atol: number, rtol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    assert.ok(Number.isFinite(a), `${what}[${i}] = ${a}`);
    assert.ok(Math.abs(a - e) <= atol + rtol * Math.abs(e), `${what}[${i}]: ${a} vs ${e}`);
  }
}
