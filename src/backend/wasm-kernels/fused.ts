/**
 * Fused GELU and LayerNorm for the wasm backend: one kernel each for the forward and the backward
 * pass, instead of the ~7 + ~15 (GELU) and ~10 + ~20 (LayerNorm) small tfjs ops that
 * src/model/ops.ts composes them from. The functions compute the same formulas as ops.ts:
 *
 *   gelu(x)            = x sigmoid(2 sqrt(2/pi) (x + 0.044715 x^3))         (GPT-2 tanh form)
 *   layerNorm(x, g, b) = (x - mean) / sqrt(var + eps) g + b, biased var, last axis (Ba et al. 2016)
 *
 * They run only where the kernels are registered ('wasm', by registerFastWasmKernels; 'webgpu', by
 * initWebGPUNode with the WGSL versions of src/backend/webgpu-kernels/fused.ts) and throw elsewhere;
 * `fusedOpsAvailable()` says whether wasm has them (`webgpuFusedAvailable()` for webgpu), so a
 * caller can write
 *   fusedOpsAvailable() ? fusedGelu(x) : gelu(x)
 * Gradients come from tf.customGrad, so they compose with tf.grads / variableGrads as usual.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { heapOffset, kernelModule, kernelsUsable } from './module.js';
import type { KernelArgs } from './transpose.js';

const SOURCE = 'src/backend/wasm-kernels/fused.ts';

export const GELU_KERNEL = 'SafeAlignGelu';
export const GELU_GRAD_KERNEL = 'SafeAlignGeluGrad';
export const LAYER_NORM_KERNEL = 'SafeAlignLayerNorm';
export const LAYER_NORM_GRAD_KERNEL = 'SafeAlignLayerNormGrad';

function input(args: KernelArgs, name: string, kernel: string): tf.TensorInfo {
  const t = args.inputs[name];
  if (t === undefined) throw new Error(`${SOURCE}: ${kernel} needs input '${name}'`);
  if (t.dtype !== 'float32') throw new Error(`${SOURCE}: ${kernel} input '${name}' must be float32, got ${t.dtype}`);
  return t;
}

/** y = gelu(x), any shape. */
export function geluKernel(args: KernelArgs): tf.TensorInfo {
  const backend = args.backend as BackendWasm;
  const x = input(args, 'x', GELU_KERNEL);
  const xOff = heapOffset(backend, x.dataId);
  const out = backend.makeOutput(x.shape, 'float32');
  kernelModule(backend).exports.geluForward(xOff, heapOffset(backend, out.dataId), tf.util.sizeFromShape(x.shape));
  return out;
}

/** dx = dy gelu'(x). */
export function geluGradKernel(args: KernelArgs): tf.TensorInfo {
  const backend = args.backend as BackendWasm;
  const x = input(args, 'x', GELU_GRAD_KERNEL);
  const dy = input(args, 'dy', GELU_GRAD_KERNEL);
  if (!tf.util.arraysEqual(x.shape, dy.shape)) throw new Error(`${SOURCE}: ${GELU_GRAD_KERNEL}: x [${x.shape}] vs dy [${dy.shape}]`);
  const xOff = heapOffset(backend, x.dataId);
  const dyOff = heapOffset(backend, dy.dataId);
  const out = backend.makeOutput(x.shape, 'float32');
  kernelModule(backend).exports.geluBackward(xOff, dyOff, heapOffset(backend, out.dataId), tf.util.sizeFromShape(x.shape));
  return out;
}

/**
 * Rows and width n of LayerNorm's x [..., n], checking g (and b unless null) are [n]; errors name
 * `source` (the kernel's file: the webgpu LayerNorm kernels use this too) and `kernel`.
 */
export function lnShapes(source: string, x: tf.TensorInfo, g: tf.TensorInfo, b: tf.TensorInfo | null, kernel: string): { rows: number; n: number } {
  const n = x.shape[x.shape.length - 1] ?? 0;
  if (x.shape.length === 0 || g.shape.length !== 1 || g.shape[0] !== n || (b !== null && (b.shape.length !== 1 || b.shape[0] !== n))) {
    throw new Error(`${source}: ${kernel}: x [${x.shape}] needs g${b ? ' and b' : ''} of shape [${n}]`);
  }
  return { rows: n === 0 ? 0 : tf.util.sizeFromShape(x.shape) / n, n };
}

/** [y, mean, rstd] = layerNorm(x, g, b) over the last axis; mean and rstd have x's shape minus the last axis. */
export function layerNormKernel(args: KernelArgs): tf.TensorInfo[] {
  const backend = args.backend as BackendWasm;
  const x = input(args, 'x', LAYER_NORM_KERNEL);
  const g = input(args, 'g', LAYER_NORM_KERNEL);
  const b = input(args, 'b', LAYER_NORM_KERNEL);
  const eps = (args.attrs as { eps?: number } | undefined)?.eps;
  if (typeof eps !== 'number' || !(eps >= 0)) throw new Error(`${SOURCE}: ${LAYER_NORM_KERNEL}: attr eps must be >= 0, got ${eps}`);
  const { rows, n } = lnShapes(SOURCE, x, g, b, LAYER_NORM_KERNEL);
  const offs = [x, g, b].map((t) => heapOffset(backend, t.dataId));
  const lead = x.shape.slice(0, -1);
  const y = backend.makeOutput(x.shape, 'float32');
  const mean = backend.makeOutput(lead, 'float32');
  const rstd = backend.makeOutput(lead, 'float32');
  if (rows > 0) {
    kernelModule(backend).exports.layerNormForward(
      offs[0]!, offs[1]!, offs[2]!, heapOffset(backend, y.dataId), heapOffset(backend, mean.dataId),
      heapOffset(backend, rstd.dataId), rows, n, eps,
    );
  }
  return [y, mean, rstd];
}

/** [dx, dg, db] from x, g, dy and the forward's mean and rstd. */
export function layerNormGradKernel(args: KernelArgs): tf.TensorInfo[] {
  const backend = args.backend as BackendWasm;
  const x = input(args, 'x', LAYER_NORM_GRAD_KERNEL);
  const g = input(args, 'g', LAYER_NORM_GRAD_KERNEL);
  const dy = input(args, 'dy', LAYER_NORM_GRAD_KERNEL);
  const mean = input(args, 'mean', LAYER_NORM_GRAD_KERNEL);
  const rstd = input(args, 'rstd', LAYER_NORM_GRAD_KERNEL);
  const { rows, n } = lnShapes(SOURCE, x, g, null, LAYER_NORM_GRAD_KERNEL);
  if (!tf.util.arraysEqual(x.shape, dy.shape) || tf.util.sizeFromShape(mean.shape) !== rows || tf.util.sizeFromShape(rstd.shape) !== rows) {
    throw new Error(`${SOURCE}: ${LAYER_NORM_GRAD_KERNEL}: shapes x [${x.shape}], dy [${dy.shape}], mean [${mean.shape}], rstd [${rstd.shape}]`);
  }
  const offs = [x, g, dy, mean, rstd].map((t) => heapOffset(backend, t.dataId));
  const dx = backend.makeOutput(x.shape, 'float32');
  const dg = backend.makeOutput([n], 'float32');
  const db = backend.makeOutput([n], 'float32');
  const km = kernelModule(backend);
  if (rows > 0) {
    km.exports.layerNormBackward(
      offs[0]!, offs[1]!, offs[2]!, offs[3]!, offs[4]!,
      heapOffset(backend, dx.dataId), heapOffset(backend, dg.dataId), heapOffset(backend, db.dataId), rows, n,
    );
  } else if (n > 0) {
    new Float32Array((backend.wasm as unknown as { HEAPU8: Uint8Array }).HEAPU8.buffer, heapOffset(backend, dg.dataId), n).fill(0);
    new Float32Array((backend.wasm as unknown as { HEAPU8: Uint8Array }).HEAPU8.buffer, heapOffset(backend, db.dataId), n).fill(0);
  }
  return [dx, dg, db];
}

/** The fused kernels by name (registered for 'wasm' by registerFastWasmKernels). */
export const FUSED_KERNELS: Readonly<Record<string, (args: KernelArgs) => tf.TensorInfo | tf.TensorInfo[]>> = Object.freeze({
  [GELU_KERNEL]: geluKernel,
  [GELU_GRAD_KERNEL]: geluGradKernel,
  [LAYER_NORM_KERNEL]: layerNormKernel,
  [LAYER_NORM_GRAD_KERNEL]: layerNormGradKernel,
});

/**
 * True when the active backend is wasm with the fused kernels (registerFastWasmKernels(), module
 * usable). The webgpu versions of the same kernels (src/backend/webgpu-kernels/) have their own
 * check, webgpuFusedAvailable().
 */
export function fusedOpsAvailable(): boolean {
  return tf.getBackend() === 'wasm' && tf.getKernel(GELU_KERNEL, 'wasm') != null && kernelsUsable(tf.backend() as BackendWasm);
}

function run(kernel: string, inputs: tf.NamedTensorMap, attrs: tf.NamedAttrMap = {}): tf.Tensor | tf.Tensor[] {
  if (tf.getKernel(kernel, tf.getBackend()) == null) {
    throw new Error(`${SOURCE}: ${kernel} is registered for 'wasm' only (and 'webgpu' once initWebGPUNode ran; active backend '${tf.getBackend()}'); check fusedOpsAvailable() / webgpuFusedAvailable()`);
  }
  return tf.engine().runKernel(kernel, inputs, attrs) as tf.Tensor | tf.Tensor[];
}

const geluOp = tf.customGrad(((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [x, save] = args as [tf.Tensor, tf.GradSaveFunc];
  save([x]);
  return {
    value: run(GELU_KERNEL, { x }) as tf.Tensor,
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => run(GELU_GRAD_KERNEL, { x: saved[0]!, dy }) as tf.Tensor,
  };
}) as Parameters<typeof tf.customGrad>[0]) as (x: tf.Tensor) => tf.Tensor;

/** GELU (tanh form) as one wasm kernel, with a one-kernel gradient. x: float32, any shape. */
export function fusedGelu(x: tf.Tensor): tf.Tensor {
  return geluOp(x);
}

/**
 * LayerNorm over the last axis as one wasm kernel (forward) and one (backward):
 * x [..., D], g [D], b [D] -> [..., D]. The caller owns the result.
 */
export function fusedLayerNorm(x: tf.Tensor, g: tf.Tensor, b: tf.Tensor, eps: number): tf.Tensor {
  const op = tf.customGrad(((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xi, gi, bi, save] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    const [y, mean, rstd] = run(LAYER_NORM_KERNEL, { x: xi, g: gi, b: bi }, { eps }) as tf.Tensor[];
    save([xi, gi, mean!, rstd!]);
    return {
      value: y!,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx, sg, sm, sr] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
        return run(LAYER_NORM_GRAD_KERNEL, { x: sx, g: sg, dy, mean: sm, rstd: sr }) as tf.Tensor[];
      },
    };
  }) as Parameters<typeof tf.customGrad>[0]) as (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.Tensor;
  return op(x, g, b);
}
