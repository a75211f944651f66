/**
 * AdamW as one webgpu dispatch per variable (Loshchilov & Hutter 2019, Algorithm 2, as
 * src/train/adamw.ts):
 *   g   = s g                                   (s: global-norm clipping scale, 1 = none)
 *   m_t = b1 m + (1 - b1) g,   v_t = b2 v + (1 - b2) g^2
 *   p  <- p - lr ((m_t / (1 - b1^t)) / (sqrt(v_t / (1 - b2^t)) + eps) + wd p)
 * The plain-ops path runs ~10 kernels per variable; this kernel reads p, g, m, v once and writes
 * the new p, m and v (three fresh buffers: nothing is updated in place, so a variable sharing its
 * buffer with another tensor, e.g. a model copied with `copyOf`, is safe). Every product is
 * evaluated in the plain path's order, so results agree with it to float32 rounding.
 */
import * as tf from '@tensorflow/tfjs';
import { runFlatProgram, type KernelArgs } from './program.js';

const SOURCE = 'src/backend/webgpu-kernels/adamw.ts';

export const ADAMW_KERNEL = 'SafeAlignAdamW';

/** Hyper-parameters of one AdamW update of one variable (bias corrections already computed). */
export interface AdamWStepAttrs {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** 0 for variables without decay (biases, gains). */
  weightDecay: number;
  /** 1 - beta1^t. */
  biasCorrection1: number;
  /** 1 - beta2^t. */
  biasCorrection2: number;
  /** Gradient scale from clipping (1 = none). */
  gradScale: number;
}

const WG = 64;

const BODY = `
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid : vec3<u32>, @builtin(num_workgroups) nwg : vec3<u32>) {
  let i = flatIndex(gid, nwg, ${WG}u);
  if (i >= u.n) { return; }
  let p = in0[i];
  let g = in1[i] * u.gradScale;
  let m = in2[i] * u.beta1 + g * u.oneMinusBeta1;
  let v = in3[i] * u.beta2 + (g * g) * u.oneMinusBeta2;
  let update = (m / u.bc1) / (sqrt(v / u.bc2) + u.eps);
  out0[i] = p - (update + p * u.weightDecay) * u.lr;
  out1[i] = m;
  out2[i] = v;
}`;

function tensor(args: KernelArgs, name: string): tf.TensorInfo {
  const t = args.inputs[name];
  if (t === undefined) throw new Error(`${SOURCE}: ${ADAMW_KERNEL} needs input '${name}'`);
  if (t.dtype !== 'float32') throw new Error(`${SOURCE}: ${ADAMW_KERNEL} input '${name}' must be float32, got ${t.dtype}`);
  return t;
}

/** Kernel: inputs p, g, m, v (same shape); attrs AdamWStepAttrs; outputs [p', m', v']. */
export function adamwKernel(args: KernelArgs): tf.TensorInfo[] {
  const [p, g, m, v] = ['p', 'g', 'm', 'v'].map((n) => tensor(args, n)) as [tf.TensorInfo, tf.TensorInfo, tf.TensorInfo, tf.TensorInfo];
  for (const t of [g, m, v]) {
    if (!tf.util.arraysEqual(t.shape, p.shape)) throw new Error(`${SOURCE}: ${ADAMW_KERNEL}: shapes p [${p.shape}], g [${g.shape}], m [${m.shape}], v [${v.shape}] differ`);
  }
  const a = args.attrs as unknown as AdamWStepAttrs;
  const n = tf.util.sizeFromShape(p.shape);
  const f = (name: string, value: number) => ({ name, type: 'f32' as const, value });
  return runFlatProgram(args.backend, {
    key: ADAMW_KERNEL,
    body: BODY,
    outputs: [0, 1, 2].map(() => ({ shape: [...p.shape], dtype: 'float32' as const })),
    inputs: [p, g, m, v],
    scalars: [
      { name: 'n', type: 'i32', value: n },
      f('lr', a.lr),
      f('beta1', a.beta1),
      f('beta2', a.beta2),
      f('oneMinusBeta1', 1 - a.beta1),
      f('oneMinusBeta2', 1 - a.beta2),
      f('bc1', a.biasCorrection1),
      f('bc2', a.biasCorrection2),
      f('eps', a.eps),
      f('weightDecay', a.weightDecay),
      f('gradScale', a.gradScale),
    ],
    workgroups: Math.ceil(n / WG),
  });
}

/** One fused AdamW update: returns [p', m', v'] (caller owns them). Needs the webgpu backend. */
export function fusedAdamWStep(p: tf.Tensor, g: tf.Tensor, m: tf.Tensor, v: tf.Tensor, attrs: AdamWStepAttrs): [tf.Tensor, tf.Tensor, tf.Tensor] {
  if (tf.getKernel(ADAMW_KERNEL, tf.getBackend()) == null) {
    throw new Error(`${SOURCE}: fusedAdamWStep: no ${ADAMW_KERNEL} kernel on backend '${tf.getBackend()}' (webgpu only; check webgpuFusedAvailable())`);
  }
  return tf.engine().runKernel(ADAMW_KERNEL, { p, g, m, v }, attrs as unknown as tf.NamedAttrMap) as unknown as [tf.Tensor, tf.Tensor, tf.Tensor];
}
