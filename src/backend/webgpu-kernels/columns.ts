/**
 * Column sums of a matrix, out[j] = sum_i x[i, j], as one webgpu dispatch (tfjs's Sum over a
 * non-last axis is a transpose plus a reduction: two). Used for a linear layer's bias gradient,
 * db = sum over rows of dy. One invocation per column, summing its rows in order.
 */
import * as tf from '@tensorflow/tfjs';
import { flatMain, runFlatProgram, WG, type KernelArgs } from './program.js';

const SOURCE = 'src/backend/webgpu-kernels/columns.ts';

export const COLUMN_SUM_KERNEL = 'SafeAlignColumnSum';

/** Kernel: input x [N, D] float32; output [D]. */
export function columnSumKernel(args: KernelArgs): tf.TensorInfo {
  const x = args.inputs['x'];
  if (x === undefined || x.dtype !== 'float32' || x.shape.length !== 2) {
    throw new Error(`${SOURCE}: ${COLUMN_SUM_KERNEL} needs a float32 matrix 'x', got ${x ? `${x.dtype} [${x.shape}]` : 'none'}`);
  }
  const [n, d] = x.shape as [number, number];
  return runFlatProgram(args.backend, {
    key: COLUMN_SUM_KERNEL,
    body: `${flatMain('j')}
  if (j >= u.d) { return; }
  var s = 0.0;
  for (var i = 0; i < u.n; i = i + 1) { s = s + in0[i * u.d + j]; }
  out0[j] = s;
}`,
    outputs: [{ shape: [d], dtype: 'float32' }],
    inputs: [x],
    scalars: [
      { name: 'n', type: 'i32', value: n },
      { name: 'd', type: 'i32', value: d },
    ],
    workgroups: Math.ceil(d / WG),
  })[0]!;
}

/** sum over rows of x [N, D] -> [D], one dispatch (webgpu only). */
export function fusedColumnSum(x: tf.Tensor2D): tf.Tensor1D {
  if (tf.getKernel(COLUMN_SUM_KERNEL, tf.getBackend()) == null) {
    throw new Error(`${SOURCE}: fusedColumnSum: no ${COLUMN_SUM_KERNEL} kernel on backend '${tf.getBackend()}' (webgpu only; check webgpuFusedAvailable())`);
  }
  return tf.engine().runKernel(COLUMN_SUM_KERNEL, { x }) as tf.Tensor1D;
}
