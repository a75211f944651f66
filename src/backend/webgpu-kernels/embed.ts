/**
 * Token plus position embedding as one webgpu dispatch each way (the plain path: two gathers or a
 * gather and a slice, and an add, forward; a gather gradient of six kernels and a batch sum of two,
 * backward):
 *   x[b, t, :] = wte[tokens[b, t], :] + wpe[pos[b, t], :]          (pos[b, t] = t without positions)
 *   dwte[v, :] = sum_{(b, t): tokens[b, t] = v} dx[b, t, :],   dwpe[p, :] = sum_{(b, t): pos[b, t] = p} dx[b, t, :]
 * The gradient runs one invocation per embedding column, adding rows in (b, t) order.
 */
import * as tf from '@tensorflow/tfjs';
import { flatMain, runFlatProgram, WG, type KernelArgs } from './program.js';

const SOURCE = 'src/backend/webgpu-kernels/embed.ts';

export const EMBED_KERNEL = 'SafeAlignEmbed';
export const EMBED_GRAD_KERNEL = 'SafeAlignEmbedGrad';

function check(args: KernelArgs, kernel: string): { wte: tf.TensorInfo; wpe: tf.TensorInfo; tokens: tf.TensorInfo; positions: tf.TensorInfo | undefined; n: number; t: number; d: number } {
  const { wte, wpe, tokens, positions } = args.inputs as Record<string, tf.TensorInfo | undefined>;
  if (!wte || !wpe || !tokens) throw new Error(`${SOURCE}: ${kernel} needs inputs wte, wpe and tokens`);
  const d = wte.shape[1]!;
  if (wte.shape.length !== 2 || wpe.shape.length !== 2 || wpe.shape[1] !== d || wte.dtype !== 'float32' || wpe.dtype !== 'float32') {
    throw new Error(`${SOURCE}: ${kernel}: wte [${wte.shape}] and wpe [${wpe.shape}] must be float32 [*, D] with the same D`);
  }
  if (tokens.shape.length !== 2 || tokens.dtype !== 'int32' || (positions && (!tf.util.arraysEqual(positions.shape, tokens.shape) || positions.dtype !== 'int32'))) {
    throw new Error(`${SOURCE}: ${kernel}: tokens [${tokens.shape}] (and positions) must be int32 [B, T]`);
  }
  const t = tokens.shape[1]!;
  if (!positions && t > wpe.shape[0]!) throw new Error(`${SOURCE}: ${kernel}: ${t} positions exceed wpe's ${wpe.shape[0]}`);
  return { wte, wpe, tokens, positions, n: tf.util.sizeFromShape(tokens.shape), t, d };
}

/** Kernel: inputs wte [V, D], wpe [P, D], tokens [B, T], optional positions [B, T]; output [B, T, D]. */
export function embedKernel(args: KernelArgs): tf.TensorInfo {
  const { wte, wpe, tokens, positions, n, t, d } = check(args, EMBED_KERNEL);
  const pos = positions ? 'in3[r]' : 'r % u.t';
  return runFlatProgram(args.backend, {
    key: `${EMBED_KERNEL}_${positions ? 'positions' : 'arange'}`,
    body: `${flatMain('i')}
  if (i >= u.size) { return; }
  let r = i / u.d;
  let e = i % u.d;
  out0[i] = in0[in2[r] * u.d + e] + in1[${pos} * u.d + e];
}`,
    outputs: [{ shape: [...tokens.shape, d], dtype: 'float32' }],
    inputs: positions ? [wte, wpe, tokens, positions] : [wte, wpe, tokens],
    scalars: [
      { name: 'size', type: 'i32', value: n * d },
      { name: 'd', type: 'i32', value: d },
      { name: 't', type: 'i32', value: t },
    ],
    workgroups: Math.ceil((n * d) / WG),
  })[0]!;
}

/** Kernel: inputs tokens, optional positions [B, T] int32, dy [B, T, D]; attrs vocab, npos; outputs [dwte [vocab, D], dwpe [npos, D]]. */
export function embedGradKernel(args: KernelArgs): tf.TensorInfo[] {
  const { tokens, positions, dy } = args.inputs as Record<string, tf.TensorInfo | undefined>;
  const { vocab, npos } = (args.attrs ?? {}) as { vocab?: number; npos?: number };
  if (!tokens || tokens.dtype !== 'int32' || tokens.shape.length !== 2 || (positions && (positions.dtype !== 'int32' || !tf.util.arraysEqual(positions.shape, tokens.shape)))) {
    throw new Error(`${SOURCE}: ${EMBED_GRAD_KERNEL}: tokens (and positions) must be int32 [B, T]`);
  }
  if (!dy || dy.dtype !== 'float32' || dy.shape.length !== 3 || !tf.util.arraysEqual(dy.shape.slice(0, 2), tokens.shape)) {
    throw new Error(`${SOURCE}: ${EMBED_GRAD_KERNEL}: dy must be float32 [${tokens.shape}, D], got ${dy ? `[${dy.shape}]` : 'none'}`);
  }
  if (!Number.isInteger(vocab) || !Number.isInteger(npos)) throw new Error(`${SOURCE}: ${EMBED_GRAD_KERNEL}: attrs vocab and npos must be integers`);
  const d = dy.shape[2]!;
  const t = tokens.shape[1]!;
  const n = tf.util.sizeFromShape(tokens.shape);
  const pos = positions ? 'in2[r]' : 'r % u.t';
  return runFlatProgram(args.backend, {
    key: `${EMBED_GRAD_KERNEL}_${positions ? 'positions' : 'arange'}`,
    body: `${flatMain('e')}
  if (e >= u.d) { return; }
  for (var v = 0; v < u.vocab; v = v + 1) { out0[v * u.d + e] = 0.0; }
  for (var p = 0; p < u.npos; p = p + 1) { out1[p * u.d + e] = 0.0; }
  for (var r = 0; r < u.n; r = r + 1) {
    let g = in0[r * u.d + e];
    let k = in1[r] * u.d + e;
    out0[k] = out0[k] + g;
    let q = ${pos} * u.d + e;
    out1[q] = out1[q] + g;
  }
}`,
    outputs: [
      { shape: [vocab!, d], dtype: 'float32' },
      { shape: [npos!, d], dtype: 'float32' },
    ],
    inputs: positions ? [dy, tokens, positions] : [dy, tokens],
    scalars: [
      { name: 'n', type: 'i32', value: n },
      { name: 'd', type: 'i32', value: d },
      { name: 't', type: 'i32', value: t },
      { name: 'vocab', type: 'i32', value: vocab! },
      { name: 'npos', type: 'i32', value: npos! },
    ],
    workgroups: Math.ceil(d / WG),
  });
}

/**
 * wte[tokens] + wpe[positions] (positions 0..T-1 when null): tokens, positions [B, T] int32 ->
 * [B, T, D]. One dispatch; differentiable in wte and wpe (one dispatch). Webgpu only.
 */
export function fusedEmbed(wte: tf.Tensor, wpe: tf.Tensor, tokens: tf.Tensor2D, positions: tf.Tensor2D | null): tf.Tensor3D {
  if (tf.getKernel(EMBED_KERNEL, tf.getBackend()) == null) {
    throw new Error(`${SOURCE}: fusedEmbed: no ${EMBED_KERNEL} kernel on backend '${tf.getBackend()}' (webgpu only; check webgpuFusedAvailable())`);
  }
  const op = tf.customGrad(((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [a, b, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    // The ids are saved so that they outlive the forward pass (the gradient reads them).
    save(positions ? [tokens, positions] : [tokens]);
    const ids = (t: tf.Tensor[]): tf.NamedTensorMap => (t.length > 1 ? { tokens: t[0]!, positions: t[1]! } : { tokens: t[0]! });
    return {
      value: tf.engine().runKernel(EMBED_KERNEL, { wte: a, wpe: b, ...ids(positions ? [tokens, positions] : [tokens]) }) as tf.Tensor,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.engine().runKernel(EMBED_GRAD_KERNEL, { ...ids(saved), dy }, { vocab: a.shape[0]!, npos: b.shape[0]! }) as tf.Tensor[],
    };
  }) as Parameters<typeof tf.customGrad>[0]) as (a: tf.Tensor, b: tf.Tensor) => tf.Tensor;
  return op(wte, wpe) as tf.Tensor3D;
}
