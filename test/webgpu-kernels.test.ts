/**
 * The fused webgpu kernels (src/backend/webgpu-kernels: AdamW, global gradient norm, GELU,
 * LayerNorm with and without the residual add, attention head split, softmax and core,
 * embeddings, token log-probabilities, linear's bias) on Dawn (Mesa llvmpipe on a CPU-only
 * machine) against the plain tfjs ops on wasm, on seeded random data with odd sizes: forward
 * values, gradients, several AdamW steps with clipping and weight decay on matrices only; then GPT
 * training and sampling on webgpu use them and leave the tensor count flat, and
 * SAFE_ALIGN_WEBGPU_FUSED=0 turns them off. Fails (never skips) when webgpu cannot start.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { releaseWebGPU, withBackend } from '../src/backend/index.js';
import { assertClose, startWebGPUForTest } from './helpers.js';
import { fusedGelu, fusedLayerNorm } from '../src/backend/wasm-kernels/fused.js';
import {
  ADAMW_KERNEL,
  SUM_SQUARES_KERNEL,
  WEBGPU_FUSED_ENV,
  fusedGlobalNorm,
  fusedAttention,
  fusedAttentionSoftmax,
  fusedEmbed,
  fusedSplitHeads,
  fusedTokenLogProbs,
  webgpuFusedAvailable,
} from '../src/backend/webgpu-kernels/index.js';
import { createRng } from '../src/util/rng.js';
import { gptConfig } from '../src/model/config.js';
import { addLayerNorm, linear, takeLast } from '../src/model/ops.js';
import { createGPT } from '../src/model/gpt.js';
import { generate } from '../src/model/generate.js';
import { lmLoss, type TokenBatch } from '../src/train/lm.js';
import { AdamW } from '../src/train/adamw.js';
import { globalGradNorm, trainStep } from '../src/train/trainer.js';

const TIMEOUT = { timeout: 300_000 };

before(async () => {
  await startWebGPUForTest();
});

after(() => releaseWebGPU());

interface Arr {
  data: Float32Array;
  shape: number[];
}

function randn(seed: number, shape: number[], std = 1): Arr {
  return { data: createRng(seed).normals(shape.reduce((a, b) => a * b, 1), std), shape };
}

/** Runs `fn` on `backend` with tensors made from `inputs`; returns the outputs' values. */
async function valuesOn(backend: 'wasm' | 'webgpu', inputs: Arr[], fn: (...xs: tf.Tensor[]) => tf.Tensor[]): Promise<Float32Array[]> {
  return withBackend(backend, async () => {
    const xs = inputs.map((a) => tf.tensor(a.data, a.shape));
    const outs = fn(...xs);
    const vals = await Promise.all(outs.map(async (t) => (await t.data()) as Float32Array));
    tf.dispose([...xs, ...outs]);
    return vals;
  });
}

// The plain formulas of src/model/ops.ts (there, wasm takes its own fused kernels instead).
function plainGelu(x: tf.Tensor): tf.Tensor {
  const c = 2 * Math.sqrt(2 / Math.PI);
  return tf.mul(x, tf.sigmoid(tf.mul(tf.add(x, tf.mul(tf.mul(tf.square(x), x), 0.044715)), c)));
}
function plainLayerNorm(x: tf.Tensor, g: tf.Tensor, b: tf.Tensor, eps: number): tf.Tensor {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps))), g), b);
}

describe('fused webgpu kernels vs plain tfjs ops on wasm', () => {
  it('are registered and active on webgpu only', TIMEOUT, async () => {
    assert.ok(tf.getKernel(ADAMW_KERNEL, 'webgpu') != null);
    assert.ok(tf.getKernel(SUM_SQUARES_KERNEL, 'webgpu') != null);
    assert.equal(await withBackend('webgpu', () => webgpuFusedAvailable()), true);
    assert.equal(await withBackend('wasm', () => webgpuFusedAvailable()), false);
  });

  it('GELU: forward and gradient', TIMEOUT, async () => {
    for (const shape of [[3, 5, 7], [1000], [2, 64]]) {
      const x = randn(11, shape, 2);
      const dy = randn(12, shape);
      const f = (fwd: (x: tf.Tensor) => tf.Tensor) => (xt: tf.Tensor, dyt: tf.Tensor) => {
        const y = fwd(xt);
        const dx = tf.grad((z: tf.Tensor) => fwd(z))(xt, dyt);
        return [y, dx];
      };
      const [yRef, dxRef] = await valuesOn('wasm', [x, dy], f(plainGelu));
      const [y, dx] = await valuesOn('webgpu', [x, dy], f(fusedGelu));
      assertClose(y!, yRef!, 1e-6, 1e-5, `gelu ${shape}`);
      assertClose(dx!, dxRef!, 1e-5, 1e-4, `gelu grad ${shape}`);
    }
  });

  it('a launch wider than 65535 workgroups spreads over y and covers every element (GELU on 4.3 M values)', TIMEOUT, async () => {
    const n = 65535 * 64 + 4097; // > maxComputeWorkgroupsPerDimension x workgroup size
    const x = { data: Float32Array.from({ length: n }, (_, i) => ((i % 2001) - 1000) / 250), shape: [n] };
    const [ref] = await valuesOn('wasm', [x], (t) => [plainGelu(t)]);
    const [got] = await valuesOn('webgpu', [x], (t) => [fusedGelu(t)]);
    assertClose(got!, ref!, 1e-6, 1e-5, 'wide gelu');
  });

  it('LayerNorm: forward and gradients for x, g, b (rows < D and rows > D)', TIMEOUT, async () => {
    for (const shape of [[2, 3, 40], [70, 8], [5, 33]]) {
      const d = shape[shape.length - 1]!;
      const x = randn(21, shape, 3);
      const g = randn(22, [d]);
      const b = randn(23, [d]);
      const dy = randn(24, shape);
      const eps = 1e-5;
      const f = (ln: (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor, eps: number) => tf.Tensor) =>
        (xt: tf.Tensor, gt: tf.Tensor, bt: tf.Tensor, dyt: tf.Tensor) => {
          const y = ln(xt, gt, bt, eps);
          const grads = tf.grads((a: tf.Tensor, c: tf.Tensor, e: tf.Tensor) => ln(a, c, e, eps))([xt, gt, bt], dyt);
          return [y, ...grads];
        };
      const ref = await valuesOn('wasm', [x, g, b, dy], f(plainLayerNorm));
      const got = await valuesOn('webgpu', [x, g, b, dy], f(fusedLayerNorm));
      ['y', 'dx', 'dg', 'db'].forEach((name, i) => assertClose(got[i]!, ref[i]!, 2e-5, 1e-4, `layerNorm ${name} ${shape}`));
    }
  });

  it('residual add + LayerNorm: both outputs, gradients for x, y, g, b (residual used downstream or not)', TIMEOUT, async () => {
    for (const [shape, useSum] of [[[2, 3, 40], true], [[70, 8], false], [[5, 33], true]] as const) {
      const d = shape[shape.length - 1]!;
      const x = randn(111, [...shape], 2);
      const y = randn(112, [...shape]);
      const g = randn(113, [d]);
      const b = randn(114, [d]);
      const dh = randn(115, [...shape]);
      const ds = randn(116, [...shape]);
      const eps = 1e-5;
      type AddLn = (a: tf.Tensor, c: tf.Tensor, e: tf.Tensor, k: tf.Tensor, eps: number) => [tf.Tensor, tf.Tensor];
      const f = (addLn: AddLn) => (xt: tf.Tensor, yt: tf.Tensor, gt: tf.Tensor, bt: tf.Tensor, dht: tf.Tensor, dst: tf.Tensor) => {
        const loss = (a: tf.Tensor, c: tf.Tensor, e: tf.Tensor, k: tf.Tensor) => {
          const [sum, h] = addLn(a, c, e, k, eps);
          const l = tf.sum(tf.mul(h, dht));
          return (useSum ? tf.add(l, tf.sum(tf.mul(sum, dst))) : l) as tf.Scalar;
        };
        const [sum, h] = addLn(xt, yt, gt, bt, eps);
        return [sum, h, ...tf.grads(loss)([xt, yt, gt, bt])];
      };
      const plain: AddLn = (a, c, e, k, ep) => {
        const sum = tf.add(a, c);
        return [sum, plainLayerNorm(sum, e, k, ep)];
      };
      const ref = await valuesOn('wasm', [x, y, g, b, dh, ds], f(plain));
      const got = await valuesOn('webgpu', [x, y, g, b, dh, ds], f(addLayerNorm));
      ['s', 'h', 'dx', 'dy', 'dg', 'db'].forEach((name, i) => assertClose(got[i]!, ref[i]!, 2e-5, 1e-4, `addLayerNorm ${name} ${shape}`));
    }
  });

  it('attention head split with and without a KV cache: values and gradients', TIMEOUT, async () => {
    const [b, t, h, hs] = [2, 5, 3, 4];
    const d = h * hs;
    for (const tp of [0, 4]) {
      const qkv = randn(51, [b, t, 3 * d]);
      const pk = randn(52, [b, h, tp, hs]);
      const pv = randn(53, [b, h, tp, hs]);
      const wq = randn(54, [b, h, t, hs]);
      const wk = randn(55, [b, h, tp + t, hs]);
      const wv = randn(56, [b, h, tp + t, hs]);
      const plain = (x: tf.Tensor, k0: tf.Tensor, v0: tf.Tensor): tf.Tensor[] => {
        const heads = (z: tf.Tensor) => tf.transpose(z.reshape([b, t, h, hs]), [0, 2, 1, 3]);
        const [q, k, v] = tf.split(x, 3, -1) as [tf.Tensor, tf.Tensor, tf.Tensor];
        return tp > 0 ? [heads(q), tf.concat([k0, heads(k)], 2), tf.concat([v0, heads(v)], 2)] : [heads(q), heads(k), heads(v)];
      };
      const fused = (x: tf.Tensor, k0: tf.Tensor, v0: tf.Tensor): tf.Tensor[] => fusedSplitHeads(x, h, tp > 0 ? { keys: k0, values: v0 } : null);
      const f = (split: typeof plain) => (x: tf.Tensor, k0: tf.Tensor, v0: tf.Tensor, a: tf.Tensor, c: tf.Tensor, e: tf.Tensor) => {
        const outs = split(x, k0, v0);
        const loss = (xx: tf.Tensor, kk: tf.Tensor, vv: tf.Tensor) => {
          const [q, k, v] = split(xx, kk, vv);
          return tf.addN([tf.sum(tf.mul(q!, a)), tf.sum(tf.mul(k!, c)), tf.sum(tf.mul(v!, e))]) as tf.Scalar;
        };
        const grads = tp > 0 ? tf.grads(loss)([x, k0, v0]) : [tf.grad((xx: tf.Tensor) => loss(xx, k0, v0))(x)];
        return [...outs, ...grads];
      };
      const ref = await valuesOn('wasm', [qkv, pk, pv, wq, wk, wv], f(plain));
      const got = await valuesOn('webgpu', [qkv, pk, pv, wq, wk, wv], f(fused));
      assert.equal(got.length, ref.length);
      ref.forEach((r, i) => assertClose(got[i]!, r, 1e-6, 1e-6, `split heads tp=${tp} output ${i}`));
    }
  });

  it('attention softmax with scale and a causal/padding bias (1 or B rows): values and gradient', TIMEOUT, async () => {
    const [b, h, tq, tk] = [2, 3, 4, 9];
    const scores = randn(71, [b, h, tq, tk], 2);
    const dy = randn(72, [b, h, tq, tk]);
    for (const rows of [1, b]) {
      const bias = { data: new Float32Array(rows * tq * tk), shape: [rows, 1, tq, tk] };
      for (let r = 0; r < rows; r++) {
        for (let i = 0; i < tq; i++) for (let j = 0; j < tk; j++) bias.data[(r * tq + i) * tk + j] = j <= tk - tq + i && !(r === 1 && j === 0) ? 0 : -1e9;
      }
      const f = (sm: (x: tf.Tensor4D, m: tf.Tensor4D) => tf.Tensor) => (x: tf.Tensor, m: tf.Tensor, d: tf.Tensor) => [
        sm(x as tf.Tensor4D, m as tf.Tensor4D),
        tf.grad((z: tf.Tensor) => sm(z as tf.Tensor4D, m as tf.Tensor4D))(x, d),
      ];
      const scale = 0.37;
      const ref = await valuesOn('wasm', [scores, bias, dy], f((x, m) => tf.softmax(tf.add(tf.mul(x, scale), m))));
      const got = await valuesOn('webgpu', [scores, bias, dy], f((x, m) => fusedAttentionSoftmax(x, m, scale)));
      assertClose(got[0]!, ref[0]!, 1e-6, 1e-5, `attention softmax, bias rows ${rows}`);
      assertClose(got[1]!, ref[1]!, 1e-6, 1e-5, `attention softmax grad, bias rows ${rows}`);
    }
  });

  it('attention core for forward-only passes (one query as in decoding, several; bias of 1 or B rows)', TIMEOUT, async () => {
    const [b, h, hs, tk] = [2, 3, 5, 7];
    for (const [tq, rows] of [[1, b], [4, 1], [4, b]] as const) {
      const q = randn(101, [b, h, tq, hs]);
      const k = randn(102, [b, h, tk, hs]);
      const v = randn(103, [b, h, tk, hs]);
      const bias = { data: new Float32Array(rows * tq * tk), shape: [rows, 1, tq, tk] };
      for (let r = 0; r < rows; r++) {
        for (let i = 0; i < tq; i++) for (let j = 0; j < tk; j++) bias.data[(r * tq + i) * tk + j] = j <= tk - tq + i && !(r === 1 && j === 2) ? 0 : -1e9;
      }
      const scale = 1 / Math.sqrt(hs);
      const plain = (qq: tf.Tensor, kk: tf.Tensor, vv: tf.Tensor, m: tf.Tensor) => {
        const att = tf.softmax(tf.add(tf.mul(tf.matMul(qq, kk, false, true), scale), m));
        return [tf.transpose(tf.matMul(att, vv), [0, 2, 1, 3]).reshape([b, tq, h * hs])];
      };
      const [ref] = await valuesOn('wasm', [q, k, v, bias], plain);
      const [got] = await valuesOn('webgpu', [q, k, v, bias], (qq, kk, vv, m) => [fusedAttention(qq as tf.Tensor4D, kk as tf.Tensor4D, vv as tf.Tensor4D, m as tf.Tensor4D, scale)]);
      assertClose(got!, ref!, 1e-6, 1e-5, `attention tq=${tq} bias rows ${rows}`);
    }
    await withBackend('webgpu', () => {
      const z = tf.zeros([1, 1, 1, 2]) as tf.Tensor4D;
      assert.throws(() => tf.grad((x: tf.Tensor) => fusedAttention(x as tf.Tensor4D, z, z, tf.zeros([1, 1, 1, 1]) as tf.Tensor4D, 1).sum())(z), /no gradient/);
      z.dispose();
    });
  });

  it('linear layer (bias in the matmul shader, column-sum bias gradient): values and gradients', TIMEOUT, async () => {
    const x = randn(81, [3, 70, 12]);
    const w = randn(82, [12, 9]);
    const bias = randn(83, [9]);
    const dy = randn(84, [3, 70, 9]);
    const f = (lin: (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.Tensor) => (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor, d: tf.Tensor) => [
      lin(a, b, c),
      ...tf.grads((p: tf.Tensor, q: tf.Tensor, r: tf.Tensor) => lin(p, q, r))([a, b, c], d),
    ];
    const ref = await valuesOn('wasm', [x, w, bias, dy], f((a, b, c) => tf.add(tf.matMul(a.reshape([-1, 12]), b), c).reshape([3, 70, 9])));
    const got = await valuesOn('webgpu', [x, w, bias, dy], f(linear));
    ['y', 'dx', 'dw', 'db'].forEach((name, i) => assertClose(got[i]!, ref[i]!, 1e-5, 1e-5, `linear ${name}`));
  });

  it('token + position embedding, with and without positions: values and gradients (ids made inside the loss)', TIMEOUT, async () => {
    const [v, p, d, b, t] = [11, 9, 6, 3, 5];
    const wte = randn(91, [v, d]);
    const wpe = randn(92, [p, d]);
    const dy = randn(93, [b, t, d]);
    const rng = createRng(94);
    const tokens = Int32Array.from({ length: b * t }, () => rng.int(v));
    const positions = Int32Array.from({ length: b * t }, () => rng.int(p));
    for (const withPositions of [false, true]) {
      const f = (emb: (a: tf.Tensor, c: tf.Tensor, tok: tf.Tensor2D, pos: tf.Tensor2D | null) => tf.Tensor) => (a: tf.Tensor, c: tf.Tensor, g: tf.Tensor) => {
        const run = (x: tf.Tensor, y: tf.Tensor) => {
          const tok = tf.tensor2d(tokens, [b, t], 'int32');
          const pos = withPositions ? tf.tensor2d(positions, [b, t], 'int32') : null;
          return emb(x, y, tok, pos);
        };
        return [run(a, c), ...tf.grads(run)([a, c], g)];
      };
      const plain = (a: tf.Tensor, c: tf.Tensor, tok: tf.Tensor2D, pos: tf.Tensor2D | null) =>
        tf.add(tf.gather(a, tok), pos ? tf.gather(c, pos) : tf.slice(c, [0, 0], [t, d]));
      const ref = await valuesOn('wasm', [wte, wpe, dy], f(plain));
      const got = await valuesOn('webgpu', [wte, wpe, dy], f(fusedEmbed));
      ['x', 'dwte', 'dwpe'].forEach((name, i) => assertClose(got[i]!, ref[i]!, 1e-6, 1e-5, `embed ${name}, positions ${withPositions}`));
    }
  });

  it('token log-probabilities with a mask: values and gradient in the logits', TIMEOUT, async () => {
    const [b, t, v] = [3, 7, 50];
    const logits = randn(61, [b, t, v], 3);
    const rng = createRng(62);
    const tokens = Int32Array.from({ length: b * t }, () => rng.int(v));
    const mask = Float32Array.from({ length: b * t }, (_, i) => (i % 5 === 2 ? 0 : i % 7 === 3 ? 0.5 : 1));
    const dy = randn(63, [b, t]);
    const run = (backend: 'wasm' | 'webgpu', f: (x: tf.Tensor3D, tok: tf.Tensor2D, m: tf.Tensor2D) => tf.Tensor) =>
      withBackend(backend, async () => {
        const x = tf.tensor3d(logits.data, [b, t, v]);
        const d = tf.tensor2d(dy.data, [b, t]);
        const ids = () => tf.tensor2d(tokens, [b, t], 'int32');
        const m = () => tf.tensor2d(mask, [b, t]);
        const y = f(x, ids(), m());
        // ids and mask made inside the differentiated function: the gradient must not outlive them
        const dx = tf.grad((z: tf.Tensor) => f(z as tf.Tensor3D, ids(), m()))(x, d);
        const out = [(await y.data()) as Float32Array, (await dx.data()) as Float32Array];
        tf.dispose([x, d, y, dx]);
        return out;
      });
    // gpt.ts sequenceLogProbs's plain path
    const plain = (x: tf.Tensor3D, tok: tf.Tensor2D, m: tf.Tensor2D): tf.Tensor => {
      const lp = takeLast(tf.logSoftmax(x.slice([0, 0, 0], [b, t - 1, v])) as tf.Tensor3D, tok.slice([0, 1], [b, t - 1]) as tf.Tensor2D);
      return tf.mul(tf.concat([tf.zeros([b, 1]), lp], 1), m);
    };
    const [yRef, dxRef] = await run('wasm', plain);
    const [y, dx] = await run('webgpu', fusedTokenLogProbs);
    assertClose(y!, yRef!, 1e-5, 1e-5, 'token log-probs');
    assertClose(dx!, dxRef!, 1e-6, 1e-5, 'token log-probs grad');
  });

  it('global gradient norm: one and several dispatches, sizes across the workgroup width', TIMEOUT, async () => {
    const base = [[3], [300, 2], [1], [17, 17], [5], [1000], [7, 3], [2], [64, 9], [11], [4, 4, 4], [513], [9]];
    const shapes = [...base, ...base, [6], [257], [255], [31]]; // 30: more than two dispatches even at 14 per dispatch
    const grads = shapes.map((s, i) => randn(30 + i, s));
    const plain = (...gs: tf.Tensor[]) => [tf.sqrt(gs.map((g) => tf.sum(tf.square(g))).reduce((a, b) => tf.add(a, b)))];
    const [ref] = await valuesOn('wasm', grads, plain);
    for (const n of [1, 6, 7, 13, 14, 15, 29, 30]) {
      const [refN] = await valuesOn('wasm', grads.slice(0, n), plain);
      const [got] = await valuesOn('webgpu', grads.slice(0, n), (...gs) => [fusedGlobalNorm(gs)]);
      assertClose(got!, refN!, 0, 1e-6, `norm of ${n}`);
    }
    const [viaTrainer] = await valuesOn('webgpu', grads, (...gs) => [globalGradNorm(gs)]);
    assertClose(viaTrainer!, ref!, 0, 1e-6, 'globalGradNorm on webgpu');
  });

  it('AdamW: five steps with clipping, weight decay on matrices only, match the plain path on wasm', TIMEOUT, async () => {
    // five variables: on a device with 16 storage buffers per shader, dispatches of two, two and one
    const shapes: Record<string, number[]> = { w: [5, 7], b: [7], cube: [3, 2, 4], s: [], big: [130, 3] };
    const run = (backend: 'wasm' | 'webgpu') =>
      withBackend(backend, async () => {
        const params: Record<string, tf.Variable> = {};
        Object.entries(shapes).forEach(([n, s], i) => (params[n] = tf.variable(tf.tensor(randn(40 + i, s, 0.5).data, s))));
        // a second variable on the same buffer: the update must not write through to it
        const twin = tf.variable(params['w']!.clone(), false);
        const opt = new AdamW({ weightDecay: 0.3 });
        for (let step = 0; step < 5; step++) {
          const grads: Record<string, tf.Tensor> = {};
          Object.entries(shapes).forEach(([n, s], i) => (grads[n] = tf.tensor(randn(100 * step + i, s).data, s)));
          opt.apply(params, grads, 0.01 * (step + 1), step % 2 ? 0.25 : 1);
          tf.dispose(Object.values(grads));
        }
        const out: Record<string, Float32Array> = {};
        for (const [n, v] of Object.entries(params)) out[n] = (await v.data()) as Float32Array;
        out['twin'] = (await twin.data()) as Float32Array;
        opt.dispose();
        tf.dispose([...Object.values(params), twin]);
        return out;
      });
    const ref = await run('wasm');
    const got = await run('webgpu');
    for (const n of Object.keys(ref)) assertClose(got[n]!, ref[n]!, 1e-6, 1e-5, `AdamW ${n}`);
    // the twin kept the initial values
    assertClose(got['twin']!, randn(40, [5, 7], 0.5).data, 0, 0, 'twin of w');
  });
});

describe('GPT training on webgpu with the fused kernels', () => {
  const cfg = gptConfig('nano', { vocabSize: 40, blockSize: 12 });
  const rng = createRng(7);
  const batch: TokenBatch = {
    tokens: Int32Array.from({ length: 3 * 12 }, () => rng.int(40)),
    lossMask: Float32Array.from({ length: 3 * 12 }, (_, i) => (i % 12 === 0 ? 0 : 1)),
    shape: [3, 12],
  };

  /** Kernel names of one training step (tf.profile), after `warm` steps; tensor counts around `steps` more. */
  async function stepOnWebGPU(steps: number): Promise<{ names: Set<string>; tensorDelta: number; loss: number }> {
    return withBackend('webgpu', async () => {
      const model = createGPT(cfg, { rng: createRng(3) });
      const opt = new AdamW();
      const spec = { params: model.params, loss: (b: TokenBatch) => lmLoss(model, b) };
      let loss = 0;
      loss = (await trainStep(spec, batch, 0, 1e-3, opt, 0.5)).loss; // creates the moment variables
      const before = tf.memory().numTensors;
      for (let s = 1; s <= steps; s++) loss = (await trainStep(spec, batch, s, 1e-3, opt, 0.5)).loss;
      const tensorDelta = tf.memory().numTensors - before;
      const prof = await tf.profile(async () => {
        await trainStep(spec, batch, steps + 1, 1e-3, opt, 0.5);
      });
      opt.dispose();
      model.dispose();
      return { names: new Set(prof.kernels.map((k) => k.name)), tensorDelta, loss };
    });
  }

  it('uses the fused kernels and keeps the tensor count flat over repeated steps', TIMEOUT, async () => {
    const { names, tensorDelta, loss } = await stepOnWebGPU(4);
    assert.ok(Number.isFinite(loss));
    assert.equal(tensorDelta, 0, 'tensors leaked per step');
    for (const k of [ADAMW_KERNEL, SUM_SQUARES_KERNEL, 'SafeAlignLayerNorm', 'SafeAlignLayerNormGrad', 'SafeAlignGelu', 'SafeAlignGeluGrad', 'SafeAlignSplitHeads', 'SafeAlignSplitHeadsGrad', 'SafeAlignTokenLogProbs', 'SafeAlignTokenLogProbsGrad', 'SafeAlignAttentionSoftmax', 'SafeAlignAttentionSoftmaxGrad', 'SafeAlignColumnSum', 'SafeAlignEmbed', 'SafeAlignEmbedGrad', 'SafeAlignAddLayerNorm', 'SafeAlignAddLayerNormGrad', '_FusedMatMul']) {
      assert.ok(names.has(k), `${k} not used in a training step`);
    }
  });

  it('KV-cached sampling uses the fused kernels and leaves no tensors behind', TIMEOUT, async () => {
    await withBackend('webgpu', async () => {
      const model = createGPT(cfg, { rng: createRng(3) });
      const prompts = [[1, 2, 3], [4]];
      await generate(model, prompts, createRng(1), { maxNewTokens: 3 });
      const before = tf.memory().numTensors;
      const prof = await tf.profile(async () => {
        await generate(model, prompts, createRng(1), { maxNewTokens: 5 });
      });
      const names = new Set(prof.kernels.map((k) => k.name));
      assert.equal(tf.memory().numTensors, before, 'tensors leaked by sampling');
      for (const k of ['SafeAlignEmbed', 'SafeAlignLayerNorm', 'SafeAlignAddLayerNorm', 'SafeAlignSplitHeads', 'SafeAlignAttention', 'SafeAlignGelu', '_FusedMatMul']) {
        assert.ok(names.has(k), `${k} not used in sampling`);
      }
      model.dispose();
    });
  });

  it(`${WEBGPU_FUSED_ENV}=0 runs the plain ops`, TIMEOUT, async () => {
    const saved = process.env[WEBGPU_FUSED_ENV];
    process.env[WEBGPU_FUSED_ENV] = '0';
    try {
      const { names, tensorDelta } = await stepOnWebGPU(1);
      assert.equal(tensorDelta, 0);
      assert.deepEqual([...names].filter((n) => n.startsWith('SafeAlign') || n === '_FusedMatMul'), []);
    } finally {
      if (saved === undefined) delete process.env[WEBGPU_FUSED_ENV];
      else process.env[WEBGPU_FUSED_ENV] = saved;
    }
  });
});
