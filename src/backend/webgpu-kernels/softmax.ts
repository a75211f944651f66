/**
 * Attention probabilities softmax(scores scale + bias) over the last axis as one webgpu dispatch
 * each way (the plain path: a Multiply, an Add and a Softmax forward; five kernels backward):
 *   y_ij = exp(z_ij - max_j z_ij) / sum_j exp(z_ij - max_j z_ij),   z_ij = s_ij scale + bias_ij
 *   ds_ij = (y_ij dy_ij - y_ij sum_j y_ij dy_ij) scale      (tfjs's softmax gradient, then the scale)
 * scores [B, H, Tq, Tk]; bias [1 or B, 1, Tq, Tk] is an additive mask (0 or -1e9), a constant: no
 * gradient flows to it. One invocation per row.
 */
import * as tf from '@tensorflow/tfjs';
import { finiteAttr, flatMain, floatInput, runFlatProgram, WG, type KernelArgs } from './program.js';

const SOURCE = 'src/backend/webgpu-kernels/softmax.ts';

export const ATTENTION_SOFTMAX_KERNEL = 'SafeAlignAttentionSoftmax';
export const ATTENTION_SOFTMAX_GRAD_KERNEL = 'SafeAlignAttentionSoftmaxGrad';

/** Kernel: inputs scores [B, H, Tq, Tk], bias [1|B, 1, Tq, Tk]; attr scale; output y like scores. */
export function attentionSoftmaxKernel(args: KernelArgs): tf.TensorInfo {
  const s = floatInput(SOURCE, args, 'scores', ATTENTION_SOFTMAX_KERNEL);
  const bias = floatInput(SOURCE, args, 'bias', ATTENTION_SOFTMAX_KERNEL);
  const scale = finiteAttr(SOURCE, args, 'scale', ATTENTION_SOFTMAX_KERNEL);
  const [b, h, tq, tk] = s.shape as [number, number, number, number];
  const rb = bias.shape[0]!;
  if (s.shape.length !== 4 || !tf.util.arraysEqual(bias.shape, [rb, 1, tq, tk]) || (rb !== 1 && rb !== b)) {
    throw new Error(`${SOURCE}: ${ATTENTION_SOFTMAX_KERNEL}: scores [${s.shape}] needs bias [1 or ${b}, 1, ${tq}, ${tk}], got [${bias.shape}]`);
  }
  const rows = b * h * tq;
  return runFlatProgram(args.backend, {
    key: ATTENTION_SOFTMAX_KERNEL,
    body: `${flatMain('r')}
  if (r >= u.rows) { return; }
  let i = r % u.tq;
  let bb = r / (u.tq * u.h);
  let row = r * u.tk;
  let brow = (select(0, bb, u.biasRows > 1) * u.tq + i) * u.tk;
  var mx = in0[row] * u.scale + in1[brow];
  for (var j = 1; j < u.tk; j = j + 1) { mx = max(mx, in0[row + j] * u.scale + in1[brow + j]); }
  var sum = 0.0;
  for (var j = 0; j < u.tk; j = j + 1) { sum = sum + exp(in0[row + j] * u.scale + in1[brow + j] - mx); }
  for (var j = 0; j < u.tk; j = j + 1) { out0[row + j] = exp(in0[row + j] * u.scale + in1[brow + j] - mx) / sum; }
}`,
    outputs: [{ shape: [b, h, tq, tk], dtype: 'float32' }],
    inputs: [s, bias],
    scalars: [
      { name: 'rows', type: 'i32', value: rows },
      { name: 'h', type: 'i32', value: h },
      { name: 'tq', type: 'i32', value: tq },
      { name: 'tk', type: 'i32', value: tk },
      { name: 'biasRows', type: 'i32', value: rb },
      { name: 'scale', type: 'f32', value: scale },
    ],
    workgroups: Math.ceil(rows / WG),
  })[0]!;
}

/** Kernel: inputs y (the forward's output), dy [B, H, Tq, Tk]; attr scale; output dscores. */
export function attentionSoftmaxGradKernel(args: KernelArgs): tf.TensorInfo {
  const y = floatInput(SOURCE, args, 'y', ATTENTION_SOFTMAX_GRAD_KERNEL);
  const dy = floatInput(SOURCE, args, 'dy', ATTENTION_SOFTMAX_GRAD_KERNEL);
  const scale = finiteAttr(SOURCE, args, 'scale', ATTENTION_SOFTMAX_GRAD_KERNEL);
  if (!tf.util.arraysEqual(y.shape, dy.shape) || y.shape.length === 0) throw new Error(`${SOURCE}: ${ATTENTION_SOFTMAX_GRAD_KERNEL}: y [${y.shape}] vs dy [${dy.shape}]`);
  const tk = y.shape[y.shape.length - 1]!;
  const rows = tf.util.sizeFromShape(y.shape) / tk;
  return runFlatProgram(args.backend, {
    key: ATTENTION_SOFTMAX_GRAD_KERNEL,
    body: `${flatMain('r')}
  if (r >= u.rows) { return; }
  let row = r * u.tk;
  var s = 0.0;
  for (var j = 0; j < u.tk; j = j + 1) { s = s + in1[row + j] * in0[row + j]; }
  for (var j = 0; j < u.tk; j = j + 1) { out0[row + j] = (in1[row + j] * in0[row + j] - s * in0[row + j]) * u.scale; }
}`,
    outputs: [{ shape: [...y.shape], dtype: 'float32' }],
    inputs: [y, dy],
    scalars: [
      { name: 'rows', type: 'i32', value: rows },
      { name: 'tk', type: 'i32', value: tk },
      { name: 'scale', type: 'f32', value: scale },
    ],
    workgroups: Math.ceil(rows / WG),
  })[0]!;
}

/**
 * softmax(scores scale + bias) over the last axis: scores [B, H, Tq, Tk], bias [1|B, 1, Tq, Tk]
 * (constant). One dispatch; differentiable in scores (one dispatch). Webgpu only.
 */
export function fusedAttentionSoftmax(scores: tf.Tensor4D, bias: tf.Tensor4D, scale: number): tf.Tensor4D {
  if (tf.getKernel(ATTENTION_SOFTMAX_KERNEL, tf.getBackend()) == null) {
    throw new Error(`${SOURCE}: fusedAttentionSoftmax: no ${ATTENTION_SOFTMAX_KERNEL} kernel on backend '${tf.getBackend()}' (webgpu only; check webgpuFusedAvailable())`);
  }
  const op = tf.customGrad(((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, save] = args as [tf.Tensor, tf.GradSaveFunc];
    const y = tf.engine().runKernel(ATTENTION_SOFTMAX_KERNEL, { scores: x, bias }, { scale }) as tf.Tensor;
    save([y]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.engine().runKernel(ATTENTION_SOFTMAX_GRAD_KERNEL, { y: saved[0]!, dy }, { scale }) as tf.Tensor,
    };
  }) as Parameters<typeof tf.customGrad>[0]) as (x: tf.Tensor) => tf.Tensor;
  return op(scores) as tf.Tensor4D;
}
