/**
 * A residual add followed by LayerNorm, s = x + y, h = layerNorm(s, g, b) (Ba et al. 2016; the
 * pre-LN transformer's "x = x + sublayer(...); h = ln(x)"), as one webgpu dispatch each way instead
 * of an Add and a LayerNorm forward, and a LayerNorm gradient and an Add (the two paths of ds
 * meeting) backward:
 *   forward, one invocation per row:  s = x + y,  mean, rstd = 1 / sqrt(var + eps) (biased),
 *                                     h = (s - mean) rstd g + b
 *   backward: xhat = (s - mean) rstd, gy = dh g,
 *             dx = dy = ds + rstd (gy - mean_j(gy) - xhat mean_j(gy xhat)),
 *             dg = sum_rows dh xhat,  db = sum_rows dh     (per column, in the same dispatch)
 * Outputs [s, h, mean, rstd]; mean and rstd serve the gradient only. Registered with
 * tf.registerGradient (a customGrad has a single output). WGSL bodies: layernorm.ts (residual variant).
 */
import * as tf from '@tensorflow/tfjs';
import { floatInput, nonNegativeAttr, runFlatProgram, type KernelArgs } from './program.js';
import { layerNormGradLaunch, layerNormLaunch } from './layernorm.js';

const SOURCE = 'src/backend/webgpu-kernels/addnorm.ts';

export const ADD_LAYER_NORM_KERNEL = 'SafeAlignAddLayerNorm';
export const ADD_LAYER_NORM_GRAD_KERNEL = 'SafeAlignAddLayerNormGrad';

function rowsOf(x: tf.TensorInfo, others: tf.TensorInfo[], g: tf.TensorInfo, kernel: string): { rows: number; n: number } {
  const n = x.shape[x.shape.length - 1] ?? 0;
  if (x.shape.length === 0 || n === 0 || others.some((t) => !tf.util.arraysEqual(t.shape, x.shape)) || !tf.util.arraysEqual(g.shape, [n])) {
    throw new Error(`${SOURCE}: ${kernel}: [${x.shape}] and [${others.map((t) => t.shape).join('], [')}] must match, with g [${n}] (got [${g.shape}])`);
  }
  return { rows: tf.util.sizeFromShape(x.shape) / n, n };
}

/** Kernel: inputs x, y [..., D], g, b [D]; attr eps; outputs [s, h, mean, rstd]. */
export function addLayerNormKernel(args: KernelArgs): tf.TensorInfo[] {
  const x = floatInput(SOURCE, args, 'x', ADD_LAYER_NORM_KERNEL);
  const y = floatInput(SOURCE, args, 'y', ADD_LAYER_NORM_KERNEL);
  const g = floatInput(SOURCE, args, 'g', ADD_LAYER_NORM_KERNEL);
  const b = floatInput(SOURCE, args, 'b', ADD_LAYER_NORM_KERNEL);
  const eps = nonNegativeAttr(SOURCE, args, 'eps', ADD_LAYER_NORM_KERNEL);
  const { rows, n } = rowsOf(x, [y], g, ADD_LAYER_NORM_KERNEL);
  if (!tf.util.arraysEqual(b.shape, [n])) throw new Error(`${SOURCE}: ${ADD_LAYER_NORM_KERNEL}: b [${b.shape}] must be [${n}]`);
  return runFlatProgram(args.backend, {
    key: ADD_LAYER_NORM_KERNEL,
    inputs: [x, y, g, b],
    ...layerNormLaunch({ residual: true }, x.shape, rows, n, eps),
  });
}

/** Kernel: inputs s, g, ds, dh, mean, rstd; outputs [dx (= dy), dg, db]. */
export function addLayerNormGradKernel(args: KernelArgs): tf.TensorInfo[] {
  const [s, g, ds, dh, mean, rstd] = ['s', 'g', 'ds', 'dh', 'mean', 'rstd'].map((k) => floatInput(SOURCE, args, k, ADD_LAYER_NORM_GRAD_KERNEL)) as tf.TensorInfo[];
  const { rows, n } = rowsOf(s!, [ds!, dh!], g!, ADD_LAYER_NORM_GRAD_KERNEL);
  if (tf.util.sizeFromShape(mean!.shape) !== rows || tf.util.sizeFromShape(rstd!.shape) !== rows) {
    throw new Error(`${SOURCE}: ${ADD_LAYER_NORM_GRAD_KERNEL}: mean [${mean!.shape}] and rstd [${rstd!.shape}] need ${rows} rows`);
  }
  return runFlatProgram(args.backend, {
    key: ADD_LAYER_NORM_GRAD_KERNEL,
    inputs: [s!, g!, ds!, dh!, mean!, rstd!],
    ...layerNormGradLaunch({ residual: true }, s!.shape, rows, n),
  });
}

/** Gradient of ADD_LAYER_NORM_KERNEL: x and y both get dx; g and b their column sums. */
export const ADD_LAYER_NORM_GRADIENT: tf.GradConfig = {
  kernelName: ADD_LAYER_NORM_KERNEL,
  inputsToSave: ['g'],
  outputsToSave: [true, false, true, true],
  gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
    const [ds, dh] = dy as tf.Tensor[];
    const [g, s, mean, rstd] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
    // Run now, not inside the per-input thunks: tfjs calls each thunk in its own tidy, which would
    // dispose the outputs the other thunks return.
    const [dx, dg, db] = tf.engine().runKernel(ADD_LAYER_NORM_GRAD_KERNEL, { s, g, ds: ds!, dh: dh!, mean, rstd }) as tf.Tensor[];
    return { x: () => dx!, y: () => dx!.clone(), g: () => dg!, b: () => db! };
  },
};

/**
 * [x + y, layerNorm(x + y, g, b)] over the last axis: x, y [..., D], g, b [D]. One dispatch each
 * way (ADD_LAYER_NORM_GRADIENT). Webgpu only.
 */
export function fusedAddLayerNorm(x: tf.Tensor, y: tf.Tensor, g: tf.Tensor, b: tf.Tensor, eps: number): [tf.Tensor, tf.Tensor] {
  if (tf.getKernel(ADD_LAYER_NORM_KERNEL, tf.getBackend()) == null) {
    throw new Error(`${SOURCE}: fusedAddLayerNorm: no ${ADD_LAYER_NORM_KERNEL} kernel on backend '${tf.getBackend()}' (webgpu only; check webgpuFusedAvailable())`);
  }
  const [s, h, mean, rstd] = tf.engine().runKernel(ADD_LAYER_NORM_KERNEL, { x, y, g, b }, { eps }) as unknown as tf.Tensor[];
  tf.dispose([mean!, rstd!]); // the gradient keeps its own references (saved outputs)
  return [s!, h!];
}
