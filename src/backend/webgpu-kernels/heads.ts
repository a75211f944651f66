/**
 * Attention's head split (and the KV-cache append) as one webgpu dispatch. The plain path runs
 * tf.split (three slices), three transposes [B, T, H, hs] -> [B, H, T, hs] and, when decoding
 * with a cache, two concats: up to 8 dispatches per layer. This kernel reads the fused projection
 * qkv [B, T, 3D] (q, k, v side by side, D = H hs, as GPT-2's c_attn) and the cached keys and
 * values [B, H, Tp, hs], and writes
 *   q [B, H, T, hs]            q[b, h, t, e]  = qkv[b, t, h hs + e]
 *   k [B, H, Tp + T, hs]       k[b, h, t', e] = past_k[b, h, t', e]          for t' < Tp
 *                                             = qkv[b, t' - Tp, D + h hs + e]  otherwise
 *   v [B, H, Tp + T, hs]       likewise from past_v and qkv[..., 2D + h hs + e].
 * Its gradient (one more dispatch) gathers dq, dk[:, :, Tp:], dv[:, :, Tp:] back into dqkv; the
 * cache's own gradients are the slices dk[:, :, :Tp], dv[:, :, :Tp].
 */
import * as tf from '@tensorflow/tfjs';
import { flatMain, floatInput, runFlatProgram, WG, type KernelArgs } from './program.js';

const SOURCE = 'src/backend/webgpu-kernels/heads.ts';

export const SPLIT_HEADS_KERNEL = 'SafeAlignSplitHeads';
export const SPLIT_HEADS_GRAD_KERNEL = 'SafeAlignSplitHeadsGrad';

function headsAttr(args: KernelArgs, kernel: string): number {
  const heads = (args.attrs as { heads?: number } | undefined)?.heads;
  if (typeof heads !== 'number' || !Number.isInteger(heads) || heads < 1) throw new Error(`${SOURCE}: ${kernel}: attr heads must be a positive integer, got ${heads}`);
  return heads;
}

/** Kernel: inputs qkv [B, T, 3D] and optionally pastK, pastV [B, H, Tp, hs]; attr heads. Outputs [q, k, v]. */
export function splitHeadsKernel(args: KernelArgs): tf.TensorInfo[] {
  const qkv = floatInput(SOURCE, args, 'qkv', SPLIT_HEADS_KERNEL);
  const heads = headsAttr(args, SPLIT_HEADS_KERNEL);
  const hasPast = args.inputs['pastK'] !== undefined;
  const [b, t, d3] = qkv.shape as [number, number, number];
  if (qkv.shape.length !== 3 || d3 % (3 * heads) !== 0) throw new Error(`${SOURCE}: ${SPLIT_HEADS_KERNEL}: qkv [${qkv.shape}] must be [B, T, 3 H hs] with H = ${heads}`);
  const d = d3 / 3;
  const hs = d / heads;
  let tp = 0;
  const inputs = [qkv];
  if (hasPast) {
    const pk = floatInput(SOURCE, args, 'pastK', SPLIT_HEADS_KERNEL);
    const pv = floatInput(SOURCE, args, 'pastV', SPLIT_HEADS_KERNEL);
    tp = pk.shape[2] ?? 0;
    const want = [b, heads, tp, hs];
    if (!tf.util.arraysEqual(pk.shape, want) || !tf.util.arraysEqual(pv.shape, want)) {
      throw new Error(`${SOURCE}: ${SPLIT_HEADS_KERNEL}: pastK [${pk.shape}], pastV [${pv.shape}] must be [${want}]`);
    }
    if (tp > 0) inputs.push(pk, pv);
  }
  const past = inputs.length === 3;
  const tk = tp + t;
  const qSize = b * heads * t * hs;
  const kSize = b * heads * tk * hs;
  const pastRead = past
    ? `if (tt < u.tp) { out1[i] = in1[((bb * u.heads + hh) * u.tp + tt) * u.hs + e]; out2[i] = in2[((bb * u.heads + hh) * u.tp + tt) * u.hs + e]; return; }`
    : '';
  return runFlatProgram(args.backend, {
    key: `${SPLIT_HEADS_KERNEL}_${past ? 'past' : 'nopast'}`,
    body: `${flatMain('i')}
  let d = u.heads * u.hs;
  if (i < u.qSize) {
    let e = i % u.hs;
    let tt = (i / u.hs) % u.t;
    let hh = (i / (u.hs * u.t)) % u.heads;
    let bb = i / (u.hs * u.t * u.heads);
    out0[i] = in0[(bb * u.t + tt) * 3 * d + hh * u.hs + e];
  }
  if (i < u.kSize) {
    let tk = u.tp + u.t;
    let e = i % u.hs;
    let tt = (i / u.hs) % tk;
    let hh = (i / (u.hs * tk)) % u.heads;
    let bb = i / (u.hs * tk * u.heads);
    ${pastRead}
    let src = (bb * u.t + (tt - u.tp)) * 3 * d + hh * u.hs + e;
    out1[i] = in0[src + d];
    out2[i] = in0[src + 2 * d];
  }
}`,
    outputs: [
      { shape: [b, heads, t, hs], dtype: 'float32' },
      { shape: [b, heads, tk, hs], dtype: 'float32' },
      { shape: [b, heads, tk, hs], dtype: 'float32' },
    ],
    inputs,
    scalars: [
      { name: 'heads', type: 'i32', value: heads },
      { name: 'hs', type: 'i32', value: hs },
      { name: 't', type: 'i32', value: t },
      { name: 'tp', type: 'i32', value: tp },
      { name: 'qSize', type: 'i32', value: qSize },
      { name: 'kSize', type: 'i32', value: kSize },
    ],
    workgroups: Math.ceil(Math.max(qSize, kSize) / WG),
  });
}

/** Kernel: inputs dq [B, H, T, hs], dk, dv [B, H, Tp + T, hs]; attr heads. Output dqkv [B, T, 3D]. */
export function splitHeadsGradKernel(args: KernelArgs): tf.TensorInfo {
  const dq = floatInput(SOURCE, args, 'dq', SPLIT_HEADS_GRAD_KERNEL);
  const dk = floatInput(SOURCE, args, 'dk', SPLIT_HEADS_GRAD_KERNEL);
  const dv = floatInput(SOURCE, args, 'dv', SPLIT_HEADS_GRAD_KERNEL);
  const heads = headsAttr(args, SPLIT_HEADS_GRAD_KERNEL);
  const [b, h, t, hs] = dq.shape as [number, number, number, number];
  const tk = dk.shape[2]!;
  if (dq.shape.length !== 4 || h !== heads || !tf.util.arraysEqual(dk.shape, [b, h, tk, hs]) || !tf.util.arraysEqual(dv.shape, dk.shape) || tk < t) {
    throw new Error(`${SOURCE}: ${SPLIT_HEADS_GRAD_KERNEL}: shapes dq [${dq.shape}], dk [${dk.shape}], dv [${dv.shape}] (heads ${heads})`);
  }
  const size = b * t * 3 * h * hs;
  return runFlatProgram(args.backend, {
    key: SPLIT_HEADS_GRAD_KERNEL,
    body: `${flatMain('i')}
  if (i >= u.size) { return; }
  let d = u.heads * u.hs;
  let c = i % (3 * d);
  let tt = (i / (3 * d)) % u.t;
  let bb = i / (3 * d * u.t);
  let part = c / d;
  let hh = (c % d) / u.hs;
  let e = c % u.hs;
  let tk = u.tp + u.t;
  if (part == 0) { out0[i] = in0[((bb * u.heads + hh) * u.t + tt) * u.hs + e]; }
  else if (part == 1) { out0[i] = in1[((bb * u.heads + hh) * tk + u.tp + tt) * u.hs + e]; }
  else { out0[i] = in2[((bb * u.heads + hh) * tk + u.tp + tt) * u.hs + e]; }
}`,
    outputs: [{ shape: [b, t, 3 * h * hs], dtype: 'float32' }],
    inputs: [dq, dk, dv],
    scalars: [
      { name: 'heads', type: 'i32', value: heads },
      { name: 'hs', type: 'i32', value: hs },
      { name: 't', type: 'i32', value: t },
      { name: 'tp', type: 'i32', value: tk - t },
      { name: 'size', type: 'i32', value: size },
    ],
    workgroups: Math.ceil(size / WG),
  })[0]!;
}

/**
 * Gradient of SPLIT_HEADS_KERNEL (tf.registerGradient: the kernel has three outputs, which
 * tf.customGrad cannot express): dqkv in one dispatch; the cache's gradients are slices of dk, dv.
 */
export const SPLIT_HEADS_GRADIENT: tf.GradConfig = {
  kernelName: SPLIT_HEADS_KERNEL,
  gradFunc: (dy: tf.Tensor | tf.Tensor[], _saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
    const [dq, dk, dv] = dy as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
    const heads = (attrs as unknown as { heads: number }).heads;
    const [b, h, tk, hs] = dk.shape;
    const tp = tk - dq.shape[2];
    return {
      qkv: () => tf.engine().runKernel(SPLIT_HEADS_GRAD_KERNEL, { dq, dk, dv }, { heads }) as tf.Tensor,
      pastK: () => tf.slice(dk, [0, 0, 0, 0], [b, h, tp, hs]),
      pastV: () => tf.slice(dv, [0, 0, 0, 0], [b, h, tp, hs]),
    };
  },
};

/**
 * q, k, v heads from the fused projection qkv [B, T, 3D], with the cached keys/values
 * [B, H, Tp, hs] prepended to k and v when `past` is given. One dispatch; differentiable
 * (SPLIT_HEADS_GRADIENT). Webgpu only.
 */
export function fusedSplitHeads(qkv: tf.Tensor, heads: number, past: { keys: tf.Tensor; values: tf.Tensor } | null): [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D] {
  if (tf.getKernel(SPLIT_HEADS_KERNEL, tf.getBackend()) == null) {
    throw new Error(`${SOURCE}: fusedSplitHeads: no ${SPLIT_HEADS_KERNEL} kernel on backend '${tf.getBackend()}' (webgpu only; check webgpuFusedAvailable())`);
  }
  const inputs: tf.NamedTensorMap = past ? { qkv, pastK: past.keys, pastV: past.values } : { qkv };
  return tf.engine().runKernel(SPLIT_HEADS_KERNEL, inputs, { heads }) as unknown as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
}
