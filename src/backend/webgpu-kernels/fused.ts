/**
 * GELU and LayerNorm on webgpu as one dispatch each way, registered under the same kernel names
 * and with the same contract as the wasm kernels (src/backend/wasm-kernels/fused.ts), so
 * `fusedGelu` / `fusedLayerNorm` and their tf.customGrad gradients serve both backends:
 *
 *   gelu(x)   = x sigmoid(u), u = c (x + 0.044715 x^3), c = 2 sqrt(2/pi)         (GPT-2 tanh form)
 *   gelu'(x)  = s + x s (1 - s) u',  u' = c (1 + 3 0.044715 x^2),  s = sigmoid(u)
 *   layerNorm = (x - mean) rstd g + b, rstd = 1 / sqrt(var + eps), biased var (Ba et al. 2016)
 *   backward: xhat = (x - mean) rstd, gy = dy g,
 *             dx = rstd (gy - mean_j(gy) - xhat mean_j(gy xhat)), dg = sum_rows dy xhat, db = sum_rows dy
 *
 * LayerNorm's forward writes y, mean and rstd (one invocation per row); its backward writes dx
 * (one invocation per row) and dg, db (one invocation per column, over all rows) in the same
 * dispatch. Row loops are serial per invocation: fine for the model widths here (D <= 1024).
 * The LayerNorm WGSL bodies are in layernorm.ts (shared with addnorm.ts).
 */
import * as tf from '@tensorflow/tfjs';
import { GELU_GRAD_KERNEL, GELU_KERNEL, LAYER_NORM_GRAD_KERNEL, LAYER_NORM_KERNEL, lnShapes } from '../wasm-kernels/fused.js';
import { flatMain, floatInput, nonNegativeAttr, runFlatProgram, WG, type KernelArgs } from './program.js';
import { layerNormGradLaunch, layerNormLaunch } from './layernorm.js';

const SOURCE = 'src/backend/webgpu-kernels/fused.ts';

const SIGMOID_WGSL = `
fn geluInner(x : f32) -> f32 { return ((x * x) * x * 0.044715 + x) * 1.5957691216057308; }
fn sigmoidOf(u : f32) -> f32 { return 1.0 / (1.0 + exp(-u)); }`;

/** y = gelu(x), any shape. */
export function geluWebGPU(args: KernelArgs): tf.TensorInfo {
  const x = floatInput(SOURCE, args, 'x', GELU_KERNEL);
  const n = tf.util.sizeFromShape(x.shape);
  return runFlatProgram(args.backend, {
    key: GELU_KERNEL,
    prelude: SIGMOID_WGSL,
    body: `${flatMain('i')}
  if (i >= u.n) { return; }
  let x = in0[i];
  out0[i] = x * sigmoidOf(geluInner(x));
}`,
    outputs: [{ shape: [...x.shape], dtype: 'float32' }],
    inputs: [x],
    scalars: [{ name: 'n', type: 'i32', value: n }],
    workgroups: Math.ceil(n / WG),
  })[0]!;
}

/** dx = dy gelu'(x). */
export function geluGradWebGPU(args: KernelArgs): tf.TensorInfo {
  const x = floatInput(SOURCE, args, 'x', GELU_GRAD_KERNEL);
  const dy = floatInput(SOURCE, args, 'dy', GELU_GRAD_KERNEL);
  if (!tf.util.arraysEqual(x.shape, dy.shape)) throw new Error(`${SOURCE}: ${GELU_GRAD_KERNEL}: x [${x.shape}] vs dy [${dy.shape}]`);
  const n = tf.util.sizeFromShape(x.shape);
  return runFlatProgram(args.backend, {
    key: GELU_GRAD_KERNEL,
    prelude: SIGMOID_WGSL,
    body: `${flatMain('i')}
  if (i >= u.n) { return; }
  let x = in0[i];
  let s = sigmoidOf(geluInner(x));
  let du = 1.5957691216057308 * ((x * x) * 0.134145 + 1.0);
  out0[i] = in1[i] * ((x * s) * (1.0 - s) * du + s);
}`,
    outputs: [{ shape: [...x.shape], dtype: 'float32' }],
    inputs: [x, dy],
    scalars: [{ name: 'n', type: 'i32', value: n }],
    workgroups: Math.ceil(n / WG),
  })[0]!;
}

/** [y, mean, rstd] = layerNorm(x, g, b) over the last axis; mean and rstd have x's shape minus the last axis. */
export function layerNormWebGPU(args: KernelArgs): tf.TensorInfo[] {
  const x = floatInput(SOURCE, args, 'x', LAYER_NORM_KERNEL);
  const g = floatInput(SOURCE, args, 'g', LAYER_NORM_KERNEL);
  const b = floatInput(SOURCE, args, 'b', LAYER_NORM_KERNEL);
  const eps = nonNegativeAttr(SOURCE, args, 'eps', LAYER_NORM_KERNEL);
  const { rows, n } = lnShapes(SOURCE, x, g, b, LAYER_NORM_KERNEL);
  return runFlatProgram(args.backend, {
    key: LAYER_NORM_KERNEL,
    inputs: [x, g, b],
    ...layerNormLaunch({ residual: false }, x.shape, rows, n, eps),
  });
}

/** [dx, dg, db] from x, g, dy and the forward's mean and rstd. */
export function layerNormGradWebGPU(args: KernelArgs): tf.TensorInfo[] {
  const x = floatInput(SOURCE, args, 'x', LAYER_NORM_GRAD_KERNEL);
  const g = floatInput(SOURCE, args, 'g', LAYER_NORM_GRAD_KERNEL);
  const dy = floatInput(SOURCE, args, 'dy', LAYER_NORM_GRAD_KERNEL);
  const mean = floatInput(SOURCE, args, 'mean', LAYER_NORM_GRAD_KERNEL);
  const rstd = floatInput(SOURCE, args, 'rstd', LAYER_NORM_GRAD_KERNEL);
  const { rows, n } = lnShapes(SOURCE, x, g, null, LAYER_NORM_GRAD_KERNEL);
  if (!tf.util.arraysEqual(x.shape, dy.shape) || tf.util.sizeFromShape(mean.shape) !== rows || tf.util.sizeFromShape(rstd.shape) !== rows) {
    throw new Error(`${SOURCE}: ${LAYER_NORM_GRAD_KERNEL}: shapes x [${x.shape}], dy [${dy.shape}], mean [${mean.shape}], rstd [${rstd.shape}]`);
  }
  return runFlatProgram(args.backend, {
    key: LAYER_NORM_GRAD_KERNEL,
    inputs: [x, g, dy, mean, rstd],
    ...layerNormGradLaunch({ residual: false }, x.shape, rows, n),
  });
}
