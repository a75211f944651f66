/**
 * AdamW as one webgpu dispatch per variable, or per 2-4 variables where the device allows 14-28
 * storage buffers per shader (Loshchilov & Hutter 2019, Algorithm 2, as src/train/adamw.ts):
 *   g   = s g                                   (s: global-norm clipping scale, 1 = none)
 *   m_t = b1 m + (1 - b1) g,   v_t = b2 v + (1 - b2) g^2
 *   p  <- p - lr ((m_t / (1 - b1^t)) / (sqrt(v_t / (1 - b2^t)) + eps) + wd p)
 * The plain-ops path runs ~10 kernels per variable; this kernel reads p, g, m, v once and writes
 * the new p, m and v (three fresh buffers: nothing is updated in place, so a variable sharing its
 * buffer with another tensor, e.g. a model copied with `copyOf`, is safe). Every product is
 * evaluated in the plain path's order, so results agree with it to float32 rounding.
 */
import * as tf from '@tensorflow/tfjs';
import { flatMain, floatInput, runFlatProgram, WG, type KernelArgs } from './program.js';

const SOURCE = 'src/backend/webgpu-kernels/adamw.ts';

export const ADAMW_KERNEL = 'SafeAlignAdamW';

/** Hyper-parameters of one AdamW update (bias corrections already computed), shared by the variables of a dispatch. */
export interface AdamWStepAttrs {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** 1 - beta1^t. */
  biasCorrection1: number;
  /** 1 - beta2^t. */
  biasCorrection2: number;
  /** Gradient scale from clipping (1 = none). */
  gradScale: number;
}

/** One variable's part of a fused update: its tensors and its decay (0 for biases and gains). */
export interface AdamWSlot {
  p: tf.Tensor;
  g: tf.Tensor;
  m: tf.Tensor;
  v: tf.Tensor;
  weightDecay: number;
}

/** Storage buffers one variable takes in a dispatch: p, g, m, v in; p', m', v' out. */
export const ADAMW_BUFFERS_PER_VARIABLE = 7;

/** WGSL updating `k` variables; variable j reads in(4j .. 4j+3) and writes out(3j .. 3j+2). */
function body(k: number): string {
  const parts: string[] = [];
  for (let j = 0; j < k; j++) {
    const [ip, ig, im, iv] = [4 * j, 4 * j + 1, 4 * j + 2, 4 * j + 3];
    parts.push(`  if (i < u.n${j}) {
    let p = in${ip}[i];
    let g = in${ig}[i] * u.gradScale;
    let m = in${im}[i] * u.beta1 + g * u.oneMinusBeta1;
    let v = in${iv}[i] * u.beta2 + (g * g) * u.oneMinusBeta2;
    let update = (m / u.bc1) / (sqrt(v / u.bc2) + u.eps);
    out${3 * j}[i] = p - (update + p * u.wd${j}) * u.lr;
    out${3 * j + 1}[i] = m;
    out${3 * j + 2}[i] = v;
  }`);
  }
  return `${flatMain('i')}
${parts.join('\n')}
}`;
}

/**
 * Kernel: for j < attr count, inputs p<j>, g<j>, m<j>, v<j> (same shape per j); attrs
 * AdamWStepAttrs and weightDecays (one per variable); outputs [p0', m0', v0', p1', ...].
 */
export function adamwKernel(args: KernelArgs): tf.TensorInfo[] {
  const a = args.attrs as unknown as AdamWStepAttrs & { count: number; weightDecays: number[] };
  const k = a.count;
  if (!Number.isInteger(k) || k < 1 || a.weightDecays?.length !== k) {
    throw new Error(`${SOURCE}: ${ADAMW_KERNEL}: attr count ${k} needs as many weightDecays (got ${a.weightDecays?.length})`);
  }
  const inputs: tf.TensorInfo[] = [];
  const outputs: { shape: number[]; dtype: 'float32' }[] = [];
  const f = (name: string, value: number) => ({ name, type: 'f32' as const, value });
  const perVariable: { name: string; type: 'i32' | 'f32'; value: number }[] = [];
  let widest = 0;
  for (let j = 0; j < k; j++) {
    const [p, g, m, v] = ['p', 'g', 'm', 'v'].map((n) => floatInput(SOURCE, args, `${n}${j}`, ADAMW_KERNEL)) as [tf.TensorInfo, tf.TensorInfo, tf.TensorInfo, tf.TensorInfo];
    for (const t of [g, m, v]) {
      if (!tf.util.arraysEqual(t.shape, p.shape)) throw new Error(`${SOURCE}: ${ADAMW_KERNEL}: variable ${j}: shapes p [${p.shape}], g [${g.shape}], m [${m.shape}], v [${v.shape}] differ`);
    }
    const n = tf.util.sizeFromShape(p.shape);
    widest = Math.max(widest, n);
    inputs.push(p, g, m, v);
    for (let o = 0; o < 3; o++) outputs.push({ shape: [...p.shape], dtype: 'float32' });
    perVariable.push({ name: `n${j}`, type: 'i32', value: n }, f(`wd${j}`, a.weightDecays[j]!));
  }
  return runFlatProgram(args.backend, {
    key: `${ADAMW_KERNEL}_${k}`,
    body: body(k),
    outputs,
    inputs,
    scalars: [
      ...perVariable,
      f('lr', a.lr),
      f('beta1', a.beta1),
      f('beta2', a.beta2),
      f('oneMinusBeta1', 1 - a.beta1),
      f('oneMinusBeta2', 1 - a.beta2),
      f('bc1', a.biasCorrection1),
      f('bc2', a.biasCorrection2),
      f('eps', a.eps),
      f('gradScale', a.gradScale),
    ],
    workgroups: Math.ceil(widest / WG),
  });
}

/** Variables per AdamW dispatch on the active webgpu device: its storage-buffer limit / 7, at most 4. */
export function adamwVariablesPerDispatch(): number {
  const limits = (tf.backend() as unknown as { device?: GPUDevice }).device?.limits;
  const buffers = limits?.maxStorageBuffersPerShaderStage ?? 8;
  return Math.max(1, Math.min(4, Math.floor(buffers / ADAMW_BUFFERS_PER_VARIABLE)));
}

/**
 * One fused AdamW update of the variables in `slots` (at most adamwVariablesPerDispatch()) in one
 * dispatch: returns [p', m', v'] per slot (caller owns them). Needs the webgpu backend.
 */
export function fusedAdamWStep(slots: readonly AdamWSlot[], attrs: AdamWStepAttrs): [tf.Tensor, tf.Tensor, tf.Tensor][] {
  if (tf.getKernel(ADAMW_KERNEL, tf.getBackend()) == null) {
    throw new Error(`${SOURCE}: fusedAdamWStep: no ${ADAMW_KERNEL} kernel on backend '${tf.getBackend()}' (webgpu only; check webgpuFusedAvailable())`);
  }
  const inputs: tf.NamedTensorMap = {};
  slots.forEach((s, j) => Object.assign(inputs, { [`p${j}`]: s.p, [`g${j}`]: s.g, [`m${j}`]: s.m, [`v${j}`]: s.v }));
  const all = { ...attrs, count: slots.length, weightDecays: slots.map((s) => s.weightDecay) };
  const out = tf.engine().runKernel(ADAMW_KERNEL, inputs, all as unknown as tf.NamedAttrMap) as unknown as tf.Tensor[];
  return slots.map((_, j) => [out[3 * j]!, out[3 * j + 1]!, out[3 * j + 2]!]);
}
