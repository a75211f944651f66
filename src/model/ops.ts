/**
 * Small tensor ops shared by the model code, written so that every backend takes its fast path.
 *
 * The wasm backend's BatchMatMul is 9-16x slower when asked to transpose an operand than on an
 * operand transposed explicitly beforehand (measured: [2048,512]^T x [2048,128] 336 ms vs 21 ms),
 * and tfjs's own matMul gradient asks for exactly those transposes (dA = dY B^T, dB = A^T dY).
 * `matmul` therefore has a custom gradient that transposes explicitly on the CPU backends. On
 * webgpu (and tfjs-node) transposed matmuls are cheap and an explicit transpose is one more
 * dispatch, so there it keeps the transpose flags. On webgpu, `linear` adds the bias inside the
 * matmul shader (tf.fused.matMul) and sums its gradient in one dispatch, unless
 * SAFE_ALIGN_WEBGPU_FUSED=0.
 */
import * as tf from '@tensorflow/tfjs';
import { fusedGelu, fusedLayerNorm, fusedOpsAvailable } from '../backend/wasm-kernels/fused.js';
import { fusedAddLayerNorm, fusedColumnSum, webgpuFusedAvailable } from '../backend/webgpu-kernels/index.js';

/** Backends whose matmul is slow with transpose flags. */
const EXPLICIT_TRANSPOSE_BACKENDS = new Set(['wasm', 'cpu']);

function explicitTranspose(): boolean {
  return EXPLICIT_TRANSPOSE_BACKENDS.has(tf.getBackend());
}

/** Swaps the last two axes. */
export function transposeLast2(x: tf.Tensor): tf.Tensor {
  const r = x.rank;
  const perm = [...Array(r).keys()];
  perm[r - 2] = r - 1;
  perm[r - 1] = r - 2;
  return tf.transpose(x, perm);
}

/** a @ b without transpose flags anywhere: the gradient transposes explicitly (dA = dY B^T, dB = A^T dY). */
const matmulExplicit = tf.customGrad(((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [x, y, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
  save([x, y]);
  return {
    value: tf.matMul(x, y),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [xs, ys] = saved as [tf.Tensor, tf.Tensor];
      return [tf.matMul(dy, transposeLast2(ys)), tf.matMul(transposeLast2(xs), dy)];
    },
  };
}) as Parameters<typeof tf.customGrad>[0]) as (a: tf.Tensor, b: tf.Tensor) => tf.Tensor;

/**
 * Matrix product over the last two axes, batched over leading axes of equal shape
 * ([..., M, K] x [..., K, N] -> [..., M, N]).
 */
export function matmul<T extends tf.Tensor>(a: T, b: tf.Tensor): T {
  return (explicitTranspose() ? matmulExplicit(a, b) : tf.matMul(a, b)) as T;
}

/** a @ b^T, with b^T materialised on the CPU backends (used by attention scores and the tied head). */
export function matmulTransposeB<T extends tf.Tensor>(a: T, b: tf.Tensor): T {
  if (explicitTranspose()) return matmulExplicit(a, transposeLast2(b)) as T;
  return tf.matMul(a, b, false, true) as T;
}

/**
 * x @ W + bias with explicit transposes in the gradient, and the bias gradient as a matmul with a
 * row of ones (a column sum over N rows is 80x slower as a Sum kernel on wasm).
 */
const affineExplicit = tf.customGrad(((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [x, w, b, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D, tf.GradSaveFunc];
  save([x, w]);
  return {
    value: tf.add(tf.matMul(x, w), b),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [xs, ws] = saved as [tf.Tensor2D, tf.Tensor2D];
      const ones = tf.ones([1, dy.shape[0]!]);
      return [tf.matMul(dy, transposeLast2(ws)), tf.matMul(transposeLast2(xs), dy), tf.matMul(ones, dy).reshape([-1])];
    },
  };
}) as Parameters<typeof tf.customGrad>[0]) as (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => tf.Tensor;

/**
 * x @ W + bias on webgpu: the bias is added inside the matmul shader (tf.fused.matMul), and its
 * gradient db = sum_rows dy is one column-sum dispatch instead of a transpose and a reduction;
 * dx = dy W^T and dW = x^T dy keep the transpose flags (cheap on webgpu).
 */
const affineWebGPU = tf.customGrad(((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [x, w, b, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D, tf.GradSaveFunc];
  save([x, w]);
  return {
    value: tf.fused.matMul({ a: x, b: w, bias: b }),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [xs, ws] = saved as [tf.Tensor2D, tf.Tensor2D];
      const dy2 = dy as tf.Tensor2D;
      return [tf.matMul(dy2, ws, false, true), tf.matMul(xs, dy2, true, false), fusedColumnSum(dy2)];
    },
  };
}) as Parameters<typeof tf.customGrad>[0]) as (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => tf.Tensor;

/** x @ W + bias on the last axis: x [..., Din], w [Din, Dout], bias [Dout] -> [..., Dout]. */
export function linear(x: tf.Tensor, w: tf.Tensor, bias?: tf.Tensor): tf.Tensor {
  const din = x.shape[x.rank - 1]!;
  const dout = w.shape[1]!;
  const lead = x.shape.slice(0, -1);
  const x2 = x.reshape([-1, din]); // [N, Din]
  let y: tf.Tensor;
  if (bias && explicitTranspose()) y = affineExplicit(x2, w, bias);
  else if (bias && webgpuFusedAvailable()) y = affineWebGPU(x2, w, bias);
  else {
    y = matmul(x2, w); // [N, Dout]
    if (bias) y = tf.add(y, bias);
  }
  return y.reshape([...lead, dout]);
}

/**
 * LayerNorm over the last axis (Ba, Kiros, Hinton 2016):
 * y = (x - mean) / sqrt(var + eps) * g + b, with the biased variance.
 */
export function layerNorm(x: tf.Tensor, g: tf.Tensor, b: tf.Tensor, eps: number): tf.Tensor {
  // one wasm kernel each way (docs/wasm-kernels.md); one webgpu dispatch each way (docs/backends.md)
  if (fusedOpsAvailable() || webgpuFusedAvailable()) return fusedLayerNorm(x, g, b, eps);
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps))), g), b);
}

/**
 * A pre-LN residual step: s = x + y and h = layerNorm(s, g, b) (the formula above). Returns [s, h].
 * One dispatch each way on webgpu (webgpu-kernels/addnorm.ts); elsewhere an add and layerNorm.
 */
export function addLayerNorm(x: tf.Tensor, y: tf.Tensor, g: tf.Tensor, b: tf.Tensor, eps: number): [tf.Tensor, tf.Tensor] {
  if (webgpuFusedAvailable()) return fusedAddLayerNorm(x, y, g, b, eps);
  const s = tf.add(x, y);
  return [s, layerNorm(s, g, b, eps)];
}

/**
 * GELU, tanh approximation as in GPT-2 (Hendrycks & Gimpel 2016, section 2):
 * 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), computed as x * sigmoid(2 sqrt(2/pi) (x + 0.044715 x^3))
 * since 0.5 (1 + tanh(u)) = sigmoid(2u); sigmoid is a vectorised kernel on wasm, tanh is 6x slower.
 */
export function gelu(x: tf.Tensor): tf.Tensor {
  if (fusedOpsAvailable() || webgpuFusedAvailable()) return fusedGelu(x);
  const c = 2 * Math.sqrt(2 / Math.PI);
  const inner = tf.mul(tf.add(x, tf.mul(tf.mul(tf.square(x), x), 0.044715)), c);
  return tf.mul(x, tf.sigmoid(inner));
}

/**
 * Gathers x[b, t, idx[b, t]] on the last axis: x [B, T, V], idx [B, T] int32 -> [B, T].
 * A gather on the flattened tensor: its gradient scatters B*T values (UnsortedSegmentSum) instead
 * of multiplying by a dense [B, T, V] one-hot.
 */
export function takeLast(x: tf.Tensor3D, idx: tf.Tensor2D): tf.Tensor2D {
  const [b, t, v] = x.shape;
  const flatIdx = tf.add(tf.mul(tf.range(0, b * t, 1, 'int32'), tf.scalar(v, 'int32')), idx.reshape([-1])); // [B*T]
  return tf.gather(x.reshape([-1]), flatIdx).reshape([b, t]) as tf.Tensor2D;
}

/** Sum of mask-weighted values over the last axis divided by the mask count (0 where empty). */
export function maskedMean(x: tf.Tensor, mask: tf.Tensor, axis = -1): tf.Tensor {
  const num = tf.sum(tf.mul(x, mask), axis);
  const den = tf.maximum(tf.sum(mask, axis), 1);
  return tf.div(num, den);
}
