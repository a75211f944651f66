/**
 * The global gradient norm ||g|| = sqrt(sum_i sum_j g_ij^2) (the quantity nanoGPT's
 * clip_grad_norm_ clips) in ceil(n / k) webgpu dispatches for n gradients, instead of a Square, a
 * Sum and an Add per gradient: each dispatch adds the squares of up to k gradients to the running
 * total of the previous one, the last one takes the square root. k = the device's storage buffers
 * per shader - 2 (the running total and the output), at most 14: 6 with WebGPU's guaranteed 8. One workgroup of 256 invocations per dispatch: each sums a strided
 * slice, then a tree reduction in workgroup memory.
 */
import * as tf from '@tensorflow/tfjs';
import { runFlatProgram, type KernelArgs } from './program.js';

const SOURCE = 'src/backend/webgpu-kernels/norm.ts';

export const SUM_SQUARES_KERNEL = 'SafeAlignSumSquares';

/** Most gradients per dispatch (16 storage buffers with the running total and the output). */
export const SUM_SQUARES_MAX_PER_DISPATCH = 14;

/** Gradients per dispatch on the active webgpu device. */
export function sumSquaresPerDispatch(): number {
  const limits = (tf.backend() as unknown as { device?: GPUDevice }).device?.limits;
  const buffers = limits?.maxStorageBuffersPerShaderStage ?? 8;
  return Math.max(1, Math.min(SUM_SQUARES_MAX_PER_DISPATCH, buffers - 2));
}

const WG = 256;

/** WGSL of a dispatch over `k` tensors, the first `hasTotal ? 1 : 0` of which is the running total. */
function body(k: number, hasTotal: boolean): string {
  const first = hasTotal ? 1 : 0;
  const loops: string[] = [];
  for (let j = first; j < k; j++) {
    loops.push(`  for (var i = i32(lid); i < u.n${j}; i = i + ${WG}) { let x = in${j}[i]; s = s + x * x; }`);
  }
  return `
var<workgroup> partial : array<f32, ${WG}>;
@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) lid : u32) {
  var s = 0.0;
${loops.join('\n')}
  partial[lid] = s;
  workgroupBarrier();
  for (var stride = ${WG / 2}u; stride > 0u; stride = stride >> 1u) {
    if (lid < stride) { partial[lid] = partial[lid] + partial[lid + stride]; }
    workgroupBarrier();
  }
  if (lid == 0u) {
    var total = partial[0]${hasTotal ? ' + in0[0]' : ''};
    if (u.takeSqrt != 0) { total = sqrt(total); }
    out0[0] = total;
  }
}`;
}

/**
 * Kernel: inputs t0..t(k-1) (float32; with attr hasTotal, t0 is a running total [1]); attr
 * takeSqrt. Output [1]: (t0 +) sum of squares of the others, square-rooted when takeSqrt.
 */
export function sumSquaresKernel(args: KernelArgs): tf.TensorInfo {
  const attrs = (args.attrs ?? {}) as { hasTotal?: boolean; takeSqrt?: boolean };
  const hasTotal = attrs.hasTotal === true;
  const inputs = Object.keys(args.inputs)
    .sort((a, b) => Number(a.slice(1)) - Number(b.slice(1)))
    .map((name) => args.inputs[name]!);
  const k = inputs.length;
  const most = SUM_SQUARES_MAX_PER_DISPATCH;
  if (k === 0 || k > most + 1 || (!hasTotal && k > most)) {
    throw new Error(`${SOURCE}: ${SUM_SQUARES_KERNEL}: ${k} inputs (at most ${most} gradients plus a running total)`);
  }
  for (const t of inputs) {
    if (t.dtype !== 'float32') throw new Error(`${SOURCE}: ${SUM_SQUARES_KERNEL}: inputs must be float32, got ${t.dtype}`);
  }
  const scalars = inputs.map((t, j) => ({ name: `n${j}`, type: 'i32' as const, value: tf.util.sizeFromShape(t.shape) }));
  scalars.push({ name: 'takeSqrt', type: 'i32', value: attrs.takeSqrt === true ? 1 : 0 });
  const [out] = runFlatProgram(args.backend, {
    key: `${SUM_SQUARES_KERNEL}_${k}_${hasTotal ? 'total' : 'first'}`,
    body: body(k, hasTotal),
    outputs: [{ shape: [], dtype: 'float32' }],
    inputs,
    scalars,
    workgroups: 1,
  });
  return out!;
}

/** ||grads|| as a scalar in ceil(n / sumSquaresPerDispatch()) dispatches (webgpu only). Empty list: 0. Caller disposes. */
export function fusedGlobalNorm(grads: readonly tf.Tensor[]): tf.Scalar {
  if (tf.getKernel(SUM_SQUARES_KERNEL, tf.getBackend()) == null) {
    throw new Error(`${SOURCE}: fusedGlobalNorm: no ${SUM_SQUARES_KERNEL} kernel on backend '${tf.getBackend()}' (webgpu only)`);
  }
  const nonEmpty = grads.filter((g) => g.size > 0);
  if (nonEmpty.length === 0) return tf.scalar(0);
  const per = sumSquaresPerDispatch();
  return tf.tidy(() => {
    let total: tf.Tensor | null = null;
    for (let at = 0; at < nonEmpty.length; at += per) {
      const chunk = nonEmpty.slice(at, at + per);
      const list = total ? [total, ...chunk] : chunk;
      const inputs: tf.NamedTensorMap = {};
      list.forEach((t, j) => (inputs[`t${j}`] = t));
      const last = at + per >= nonEmpty.length;
      total = tf.engine().runKernel(SUM_SQUARES_KERNEL, inputs, { hasTotal: total !== null, takeSqrt: last }) as tf.Tensor;
    }
    return total as tf.Scalar;
  });
}
