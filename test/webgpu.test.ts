/**
 * WebGPU through Dawn in Node. On a CPU-only machine this runs on Mesa llvmpipe via Dawn's GL
 * backend; it must not skip: when webgpu cannot start, every test fails with the reason and the
 * Mesa packages to install (CI sets SAFE_ALIGN_REQUIRE_WEBGPU=1; without it the tests still try
 * and fail the same way).
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import {
  DEFAULT_PROBES,
  MESA_PACKAGES,
  initWebGPUNode,
  releaseWebGPU,
  withBackend,
  type BackendName,
  type WebGPUNodeInfo,
} from '../src/backend/index.js';
import { makeMlpProblem, mlpSgdStep, MLP_PARAM_NAMES, type MlpShape } from '../src/backend/benchmark.js';
import { createRng } from '../src/util/rng.js';
import { assertClose } from './helpers.js';

const TIMEOUT = { timeout: 120_000 };

const setup: Promise<WebGPUNodeInfo | Error> = initWebGPUNode().catch((e: unknown) =>
  e instanceof Error ? e : new Error(String(e)),
);

// Run every op through WGSL shaders: by default tfjs-webgpu computes small ops whose inputs are
// still on the CPU in JavaScript, which would leave the GPU path partly untested. (The flag
// exists once the webgpu backend is loaded.)
let cpuForward: boolean | undefined;

after(() => {
  if (cpuForward !== undefined) tf.env().set('WEBGPU_CPU_FORWARD', cpuForward);
  releaseWebGPU();
});

/** The webgpu adapter, or a loud failure naming what is missing. */
async function requireWebGPU(): Promise<WebGPUNodeInfo> {
  const r = await setup;
  if (r instanceof Error) {
    const required = process.env['SAFE_ALIGN_REQUIRE_WEBGPU'] === '1';
    const advice = r.message.includes(MESA_PACKAGES.join(' '))
      ? ''
      : `\nOn CPU-only Debian/Ubuntu install Mesa: apt-get install -y --no-install-recommends ${MESA_PACKAGES.join(' ')} ` +
        '(scripts/setup-webgpu-ci.sh does this).';
    assert.fail(`WebGPU could not be initialised${required ? ' (SAFE_ALIGN_REQUIRE_WEBGPU=1)' : ''}: ${r.message}${advice}`);
  }
  if (cpuForward === undefined) {
    cpuForward = tf.env().getBool('WEBGPU_CPU_FORWARD');
    tf.env().set('WEBGPU_CPU_FORWARD', false);
  }
  return r;
}

describe('webgpu (Dawn) backend', () => {
  test('initialises and reports its adapter', TIMEOUT, async () => {
    const info = await requireWebGPU();
    assert.ok(info.detail.length > 0);
    assert.ok(info.featureLevel === 'core' || info.featureLevel === 'compatibility');
    // Dawn's GL backends only offer compatibility-mode adapters.
    if (info.dawnFlags.some((f) => /^backend=opengl(es)?$/.test(f))) assert.equal(info.featureLevel, 'compatibility');
    // llvmpipe is recognised as software, so 'auto' does not take it.
    if (/llvmpipe/i.test(`${info.device} ${info.description}`)) {
      assert.equal(info.software, true);
      await assert.rejects(DEFAULT_PROBES.webgpu('auto'), /software/);
    }
  });

  test('forward pass (matmul, softmax, layer norm) matches wasm', TIMEOUT, async () => {
    await requireWebGPU();
    const rng = createRng(21);
    const [B, D, H] = [8, 32, 48];
    const xs = rng.normals(B * D);
    const ws = rng.normals(D * H, 1 / Math.sqrt(D));
    const gamma = rng.normals(H, 0.5);
    const beta = rng.normals(H, 0.5);
    const forward = (backend: BackendName) =>
      withBackend(backend, async () => {
        const out = tf.tidy(() => {
          const hand = tf.matMul(tf.tensor2d([[1, 2], [3, 4]]), tf.tensor2d([[1, 2], [3, 4]])); // [2, 2]
          const x = tf.tensor2d(xs, [B, D]);
          const h = tf.matMul(x, tf.tensor2d(ws, [D, H])); // [B, H]
          const { mean, variance } = tf.moments(h, -1, true); // [B, 1]
          const ln = tf.add(tf.mul(tf.div(tf.sub(h, mean), tf.sqrt(tf.add(variance, 1e-5))), gamma), beta); // [B, H]
          const p = tf.softmax(ln); // [B, H]
          return [hand, ln, p];
        });
        // Async reads: webgpu in Node cannot read GPU tensors synchronously.
        const [hand, ln, p] = await Promise.all(out.map(async (t) => Array.from(await t.data())));
        tf.dispose(out);
        return { hand: hand!, ln: ln!, p: p! };
      });
    const n0 = tf.memory().numTensors;
    const gpu = await forward('webgpu');
    const ref = await forward('wasm');
    assert.equal(tf.memory().numTensors, n0, 'no tensors leaked');
    assert.deepEqual(gpu.hand, [7, 10, 15, 22]);
    assertClose(gpu.ln, ref.ln, 1e-4, 1e-4, 'layer norm');
    assertClose(gpu.p, ref.p, 1e-6, 1e-4, 'softmax');
    for (let b = 0; b < B; b++) {
      const rowSum = gpu.p.slice(b * H, (b + 1) * H).reduce((s, v) => s + v, 0);
      assert.ok(Math.abs(rowSum - 1) < 1e-5, `softmax row ${b} sums to ${rowSum}`);
    }
  });

  test('a synchronous read of a GPU tensor fails with advice instead of "OffscreenCanvas is not defined"', TIMEOUT, async () => {
    await requireWebGPU();
    await withBackend('webgpu', async () => {
      const a = tf.eye(64); // [64, 64]
      const b = tf.add(tf.matMul(a, a), 1); // [64, 64], lives on the GPU
      try {
        if (typeof (globalThis as { OffscreenCanvas?: unknown }).OffscreenCanvas === 'undefined') {
          assert.throws(() => b.dataSync(), /use await tensor\.data\(\)/);
        }
        const v = await b.data();
        assert.deepEqual([v[0], v[1], v[65]], [2, 1, 2]);
      } finally {
        tf.dispose([a, b]);
      }
    });
  });

  test('one SGD step of an embedding MLP matches wasm, and a second step lowers the loss', TIMEOUT, async () => {
    await requireWebGPU();
    const shape: MlpShape = { vocab: 20, dim: 8, hidden: 16, classes: 5, batch: 32 };
    const { params, batch } = makeMlpProblem(shape, createRng(5));
    const lr = 0.5;
    const n0 = tf.memory().numTensors;
    const gpu = await withBackend('webgpu', () => mlpSgdStep(shape, params, batch, lr));
    const ref = await withBackend('wasm', () => mlpSgdStep(shape, params, batch, lr));
    assert.equal(tf.memory().numTensors, n0, 'no tensors leaked');
    assert.ok(Math.abs(gpu.loss - ref.loss) <= 1e-5 * (1 + Math.abs(ref.loss)), `loss ${gpu.loss} vs ${ref.loss}`);
    for (const name of MLP_PARAM_NAMES) {
      assertClose(gpu.params[name], ref.params[name], 1e-5, 1e-4, `updated ${name}`);
      // The step changed something (the gradient is not identically zero).
      assert.ok(gpu.params[name].some((v, i) => v !== params[name][i]), `${name} moved`);
    }
    const second = await withBackend('webgpu', () => mlpSgdStep(shape, gpu.params, batch, lr));
    assert.ok(second.loss < gpu.loss, `loss fell: ${gpu.loss} -> ${second.loss}`);
  });
});
