/**
 * Causal self-attention's core, y = softmax(q k^T scale + bias) v with the heads merged back
 * ([B, H, Tq, hs] -> [B, Tq, H hs]), as ONE webgpu dispatch for forward-only passes (KV-cached
 * decoding, reference and scoring passes): the plain path takes a matmul, the fused softmax, a
 * matmul and a transpose. No gradient: callers use it only when no gradient tape is recording.
 * One invocation per (b, h, query) row, two passes over the keys:
 *   m = max_j s_j,  s_j = (q . k_j) scale + bias_j
 *   y = (sum_j exp(s_j - m) v_j) / (sum_j exp(s_j - m))
 */
import * as tf from '@tensorflow/tfjs';
import { finiteAttr, flatMain, runFlatProgram, WG, type KernelArgs } from './program.js';

const SOURCE = 'src/backend/webgpu-kernels/attention.ts';

export const ATTENTION_KERNEL = 'SafeAlignAttention';

/** Kernel: inputs q [B, H, Tq, hs], k, v [B, H, Tk, hs], bias [1|B, 1, Tq, Tk]; attr scale; output [B, Tq, H hs]. */
export function attentionKernel(args: KernelArgs): tf.TensorInfo {
  const { q, k, v, bias } = args.inputs as Record<string, tf.TensorInfo | undefined>;
  if (!q || !k || !v || !bias || [q, k, v, bias].some((t) => t.dtype !== 'float32' || t.shape.length !== 4)) {
    throw new Error(`${SOURCE}: ${ATTENTION_KERNEL} needs float32 rank-4 inputs q, k, v and bias`);
  }
  const scale = finiteAttr(SOURCE, args, 'scale', ATTENTION_KERNEL);
  const [b, h, tq, hs] = q.shape as [number, number, number, number];
  const tk = k.shape[2]!;
  const rb = bias.shape[0]!;
  if (!tf.util.arraysEqual(k.shape, [b, h, tk, hs]) || !tf.util.arraysEqual(v.shape, k.shape) || !tf.util.arraysEqual(bias.shape, [rb, 1, tq, tk]) || (rb !== 1 && rb !== b)) {
    throw new Error(`${SOURCE}: ${ATTENTION_KERNEL}: shapes q [${q.shape}], k [${k.shape}], v [${v.shape}], bias [${bias.shape}]`);
  }
  const rows = b * h * tq;
  return runFlatProgram(args.backend, {
    key: ATTENTION_KERNEL,
    prelude: `
fn score(qb : i32, kb : i32, bi : i32) -> f32 {
  var s = 0.0;
  for (var e = 0; e < u.hs; e = e + 1) { s = s + in0[qb + e] * in1[kb + e]; }
  return s * u.scale + in3[bi];
}`,
    body: `${flatMain('r')}
  if (r >= u.rows) { return; }
  let i = r % u.tq;
  let bh = r / u.tq;
  let hh = bh % u.h;
  let bb = bh / u.h;
  let qb = r * u.hs;
  let kb = bh * u.tk * u.hs;
  let brow = (select(0, bb, u.biasRows > 1) * u.tq + i) * u.tk;
  let o = (bb * u.tq + i) * u.h * u.hs + hh * u.hs;
  var mx = score(qb, kb, brow);
  for (var j = 1; j < u.tk; j = j + 1) { mx = max(mx, score(qb, kb + j * u.hs, brow + j)); }
  for (var e = 0; e < u.hs; e = e + 1) { out0[o + e] = 0.0; }
  var sum = 0.0;
  for (var j = 0; j < u.tk; j = j + 1) {
    let p = exp(score(qb, kb + j * u.hs, brow + j) - mx);
    sum = sum + p;
    for (var e = 0; e < u.hs; e = e + 1) { out0[o + e] = out0[o + e] + p * in2[kb + j * u.hs + e]; }
  }
  for (var e = 0; e < u.hs; e = e + 1) { out0[o + e] = out0[o + e] / sum; }
}`,
    outputs: [{ shape: [b, tq, h * hs], dtype: 'float32' }],
    inputs: [q, k, v, bias],
    scalars: [
      { name: 'rows', type: 'i32', value: rows },
      { name: 'h', type: 'i32', value: h },
      { name: 'tq', type: 'i32', value: tq },
      { name: 'tk', type: 'i32', value: tk },
      { name: 'hs', type: 'i32', value: hs },
      { name: 'biasRows', type: 'i32', value: rb },
      { name: 'scale', type: 'f32', value: scale },
    ],
    workgroups: Math.ceil(rows / WG),
  })[0]!;
}

/** True when no gradient tape is recording, i.e. a non-differentiable kernel may be used. */
export function noGradientRecording(): boolean {
  return (tf.engine().state as unknown as { gradientDepth: number }).gradientDepth === 0;
}

/**
 * softmax(q k^T scale + bias) v with heads merged: q [B, H, Tq, hs], k, v [B, H, Tk, hs], bias
 * [1|B, 1, Tq, Tk] -> [B, Tq, H hs]. One dispatch, webgpu only, no gradient (throws when a
 * gradient tape is recording).
 */
export function fusedAttention(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, bias: tf.Tensor4D, scale: number): tf.Tensor3D {
  if (tf.getKernel(ATTENTION_KERNEL, tf.getBackend()) == null) {
    throw new Error(`${SOURCE}: fusedAttention: no ${ATTENTION_KERNEL} kernel on backend '${tf.getBackend()}' (webgpu only; check webgpuFusedAvailable())`);
  }
  if (!noGradientRecording()) throw new Error(`${SOURCE}: fusedAttention has no gradient; use it only outside tf.grad / variableGrads`);
  return tf.engine().runKernel(ATTENTION_KERNEL, { q, k, v, bias }, { scale }) as tf.Tensor3D;
}
