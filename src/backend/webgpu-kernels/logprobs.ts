/**
 * Masked per-token log-probabilities of a sequence under next-token logits, as one webgpu dispatch
 * each way (the plain path, gpt.ts sequenceLogProbs, runs two slices, a logSoftmax of six kernels,
 * an index add, a gather, a concat and the mask product forward, and about a dozen kernels
 * backward):
 *   out[b, 0] = 0,   out[b, t] = log softmax(logits[b, t - 1])[tokens[b, t]] mask[b, t]
 *   log softmax(x)_k = (x_k - max_j x_j) - log sum_j exp(x_j - max_j x_j)   (tfjs's order)
 * with x = logits[b, t - 1], k = tokens[b, t]. Gradient, one invocation per logits row:
 *   dlogits[b, t - 1, j] = g (1[j = k] - softmax(x)_j),  g = dout[b, t] mask[b, t];  dlogits[b, T - 1, :] = 0.
 * logits [B, T, V] float32, tokens [B, T] int32, mask [B, T] float32 -> [B, T].
 */
import * as tf from '@tensorflow/tfjs';
import { flatMain, requiredInput, runFlatProgram, WG, type FlatProgramSpec, type KernelArgs } from './program.js';

const SOURCE = 'src/backend/webgpu-kernels/logprobs.ts';

export const TOKEN_LOG_PROBS_KERNEL = 'SafeAlignTokenLogProbs';
export const TOKEN_LOG_PROBS_GRAD_KERNEL = 'SafeAlignTokenLogProbsGrad';

/** WGSL: row max and log-sum-exp of logits row `row` (V = u.v entries of in0). */
const ROW_STATS = `
fn rowStats(row : i32) -> vec2<f32> {
  var mx = in0[row];
  for (var j = 1; j < u.v; j = j + 1) { mx = max(mx, in0[row + j]); }
  var s = 0.0;
  for (var j = 0; j < u.v; j = j + 1) { s = s + exp(in0[row + j] - mx); }
  return vec2<f32>(mx, log(s));
}`;

function shapes(logits: tf.TensorInfo, tokens: tf.TensorInfo, mask: tf.TensorInfo, kernel: string): { b: number; t: number; v: number } {
  const [b, t, v] = logits.shape as [number, number, number];
  if (logits.shape.length !== 3 || logits.dtype !== 'float32' || !tf.util.arraysEqual(tokens.shape, [b, t]) || tokens.dtype !== 'int32') {
    throw new Error(`${SOURCE}: ${kernel}: logits [${logits.shape}] ${logits.dtype} must be float32 [B, T, V] and tokens [${tokens.shape}] ${tokens.dtype} int32 [B, T]`);
  }
  if (!tf.util.arraysEqual(mask.shape, [b, t]) || mask.dtype !== 'float32') {
    throw new Error(`${SOURCE}: ${kernel}: mask [${mask.shape}] ${mask.dtype} must be float32 [${b}, ${t}]`);
  }
  return { b, t, v };
}

/** The inputs both kernels take: logits, tokens and mask (checked by `shapes`). */
function sequenceInputs(args: KernelArgs, kernel: string): { logits: tf.TensorInfo; tokens: tf.TensorInfo; mask: tf.TensorInfo } {
  return {
    logits: requiredInput(SOURCE, args, 'logits', kernel),
    tokens: requiredInput(SOURCE, args, 'tokens', kernel),
    mask: requiredInput(SOURCE, args, 'mask', kernel),
  };
}

/** Scalars and workgroups of both kernels: one invocation per (b, t) row of V logits. */
function perRowLaunch({ b, t, v }: { b: number; t: number; v: number }): Pick<FlatProgramSpec, 'scalars' | 'workgroups'> {
  return {
    scalars: [
      { name: 'rows', type: 'i32', value: b * t },
      { name: 't', type: 'i32', value: t },
      { name: 'v', type: 'i32', value: v },
    ],
    workgroups: Math.ceil((b * t) / WG),
  };
}

/** Kernel: inputs logits [B, T, V], tokens [B, T], mask [B, T]; output [B, T]. */
export function tokenLogProbsKernel(args: KernelArgs): tf.TensorInfo {
  const { logits, tokens, mask } = sequenceInputs(args, TOKEN_LOG_PROBS_KERNEL);
  const dims = shapes(logits, tokens, mask, TOKEN_LOG_PROBS_KERNEL);
  const { b, t } = dims;
  return runFlatProgram(args.backend, {
    key: TOKEN_LOG_PROBS_KERNEL,
    prelude: ROW_STATS,
    body: `${flatMain('r')}
  if (r >= u.rows) { return; }
  if (r % u.t == 0) { out0[r] = 0.0; return; }
  let row = (r - 1) * u.v;
  let st = rowStats(row);
  out0[r] = ((in0[row + in1[r]] - st.x) - st.y) * in2[r];
}`,
    outputs: [{ shape: [b, t], dtype: 'float32' }],
    inputs: [logits, tokens, mask],
    ...perRowLaunch(dims),
  })[0]!;
}

/** Kernel: inputs logits [B, T, V], tokens [B, T], mask [B, T], dy [B, T]; output dlogits [B, T, V]. */
export function tokenLogProbsGradKernel(args: KernelArgs): tf.TensorInfo {
  const { logits, tokens, mask } = sequenceInputs(args, TOKEN_LOG_PROBS_GRAD_KERNEL);
  const dy = requiredInput(SOURCE, args, 'dy', TOKEN_LOG_PROBS_GRAD_KERNEL);
  const dims = shapes(logits, tokens, mask, TOKEN_LOG_PROBS_GRAD_KERNEL);
  const { b, t, v } = dims;
  if (!tf.util.arraysEqual(dy.shape, [b, t]) || dy.dtype !== 'float32') throw new Error(`${SOURCE}: ${TOKEN_LOG_PROBS_GRAD_KERNEL}: dy [${dy.shape}] must be float32 [${b}, ${t}]`);
  return runFlatProgram(args.backend, {
    key: TOKEN_LOG_PROBS_GRAD_KERNEL,
    prelude: ROW_STATS,
    body: `${flatMain('r')}
  if (r >= u.rows) { return; }
  let row = r * u.v;
  if ((r + 1) % u.t == 0) {
    for (var j = 0; j < u.v; j = j + 1) { out0[row + j] = 0.0; }
    return;
  }
  let st = rowStats(row);
  let g = in3[r + 1] * in2[r + 1];
  let k = in1[r + 1];
  for (var j = 0; j < u.v; j = j + 1) {
    let p = exp((in0[row + j] - st.x) - st.y);
    out0[row + j] = select(0.0, g, j == k) - g * p;
  }
}`,
    outputs: [{ shape: [b, t, v], dtype: 'float32' }],
    inputs: [logits, tokens, mask, dy],
    ...perRowLaunch(dims),
  })[0]!;
}

/**
 * out[b, t] = log p(tokens[b, t] | logits[b, t - 1]) mask[b, t], out[b, 0] = 0: logits [B, T, V],
 * tokens [B, T] int32, mask [B, T] float32 -> [B, T]. One dispatch; differentiable in logits (one
 * dispatch). Webgpu only.
 */
export function fusedTokenLogProbs(logits: tf.Tensor3D, tokens: tf.Tensor2D, mask: tf.Tensor2D): tf.Tensor2D {
  if (tf.getKernel(TOKEN_LOG_PROBS_KERNEL, tf.getBackend()) == null) {
    throw new Error(`${SOURCE}: fusedTokenLogProbs: no ${TOKEN_LOG_PROBS_KERNEL} kernel on backend '${tf.getBackend()}' (webgpu only; check webgpuFusedAvailable())`);
  }
  const op = tf.customGrad(((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, save] = args as [tf.Tensor, tf.GradSaveFunc];
    save([x, tokens, mask]); // the ids and mask saved too, so that they outlive the forward pass
    return {
      value: tf.engine().runKernel(TOKEN_LOG_PROBS_KERNEL, { logits: x, tokens, mask }) as tf.Tensor,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.engine().runKernel(TOKEN_LOG_PROBS_GRAD_KERNEL, { logits: saved[0]!, tokens: saved[1]!, mask: saved[2]!, dy }) as tf.Tensor,
    };
  }) as Parameters<typeof tf.customGrad>[0]) as (x: tf.Tensor) => tf.Tensor;
  return op(logits) as tf.Tensor2D;
}
