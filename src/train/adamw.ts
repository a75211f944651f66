/**
 * AdamW (Loshchilov & Hutter 2019, "Decoupled Weight Decay Regularization", Algorithm 2):
 *   m_t = b1 m + (1 - b1) g,   v_t = b2 v + (1 - b2) g^2
 *   p  <- p - lr (m_t / (1 - b1^t)) / (sqrt(v_t / (1 - b2^t)) + eps) - lr wd p
 * Weight decay applies to matrices only (rank >= 2), not to biases, gains or scalars (nanoGPT's
 * grouping). State is plain variables so it can be checkpointed and restored.
 *
 * On webgpu (unless SAFE_ALIGN_WEBGPU_FUSED=0) one fused dispatch updates one to four variables
 * (src/backend/webgpu-kernels/adamw.ts) instead of ~10 elementwise kernels per variable; other
 * backends run the plain ops below.
 */
import * as tf from '@tensorflow/tfjs';
import { adamwVariablesPerDispatch, fusedAdamWStep, webgpuFusedAvailable, type AdamWSlot, type AdamWStepAttrs } from '../backend/webgpu-kernels/index.js';

export interface AdamWConfig {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

export const DEFAULT_ADAMW: Readonly<AdamWConfig> = Object.freeze({ beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 });

export class AdamW {
  readonly config: AdamWConfig;
  /** Number of updates applied so far. */
  step = 0;
  private readonly m = new Map<string, tf.Variable>();
  private readonly v = new Map<string, tf.Variable>();

  constructor(config: Partial<AdamWConfig> = {}) {
    this.config = { ...DEFAULT_ADAMW, ...config };
  }

  /**
   * Applies one update to `params` from `grads` (same names) with learning rate `lr`; every
   * gradient is first multiplied by `gradScale` (global-norm clipping; 1 = as given). Does not
   * dispose grads.
   */
  apply(params: Record<string, tf.Variable>, grads: Record<string, tf.Tensor>, lr: number, gradScale = 1): void {
    const { beta1, beta2, eps, weightDecay } = this.config;
    this.step++;
    const bc1 = 1 - beta1 ** this.step;
    const bc2 = 1 - beta2 ** this.step;
    if (webgpuFusedAvailable()) {
      this.applyFused(params, grads, { lr, beta1, beta2, eps, biasCorrection1: bc1, biasCorrection2: bc2, gradScale });
      return;
    }
    for (const [name, p] of Object.entries(params)) {
      const grad = grads[name];
      if (!grad) continue;
      const [mm, vv] = this.moments(name, p);
      tf.tidy(() => {
        const g = gradScale === 1 ? grad : tf.mul(grad, gradScale);
        const mNew = tf.add(tf.mul(mm, beta1), tf.mul(g, 1 - beta1));
        const vNew = tf.add(tf.mul(vv, beta2), tf.mul(tf.square(g), 1 - beta2));
        mm.assign(mNew);
        vv.assign(vNew);
        const update = tf.div(tf.div(mNew, bc1), tf.add(tf.sqrt(tf.div(vNew, bc2)), eps));
        const decay = p.rank >= 2 && weightDecay > 0 ? tf.mul(p, weightDecay) : null;
        p.assign(tf.sub(p, tf.mul(decay ? tf.add(update, decay) : update, lr)));
      });
    }
  }

  /** The moment variables of `name`, created as zeros like `p` on first use. */
  private moments(name: string, p: tf.Variable): [tf.Variable, tf.Variable] {
    let m = this.m.get(name);
    let v = this.v.get(name);
    if (!m || !v) {
      m = tf.tidy(() => tf.variable(tf.zerosLike(p), false));
      v = tf.tidy(() => tf.variable(tf.zerosLike(p), false));
      this.m.set(name, m);
      this.v.set(name, v);
    }
    return [m, v];
  }

  /** The same update on webgpu: one fused dispatch per adamwVariablesPerDispatch() variables. */
  private applyFused(params: Record<string, tf.Variable>, grads: Record<string, tf.Tensor>, attrs: AdamWStepAttrs): void {
    const slots: (AdamWSlot & { p: tf.Variable; m: tf.Variable; v: tf.Variable })[] = [];
    for (const [name, p] of Object.entries(params)) {
      const g = grads[name];
      if (!g) continue;
      const [m, v] = this.moments(name, p);
      slots.push({ p, g, m, v, weightDecay: p.rank >= 2 ? this.config.weightDecay : 0 });
    }
    const per = adamwVariablesPerDispatch();
    for (let at = 0; at < slots.length; at += per) {
      const group = slots.slice(at, at + per);
      tf.tidy(() => {
        fusedAdamWStep(group, attrs).forEach(([pNew, mNew, vNew], j) => {
          group[j]!.m.assign(mNew);
          group[j]!.v.assign(vNew);
          group[j]!.p.assign(pNew);
        });
      });
    }
  }

  /**
   * Moment estimates and step count, for checkpoints. Arrays are copies, read with `await data()`
   * (webgpu in Node has no synchronous reads); every read starts before the first await, so the
   * state is the one at the call, with `step` taken at the same moment.
   */
  async exportState(): Promise<{ step: number; tensors: Record<string, { shape: number[]; data: Float32Array }> }> {
    const step = this.step;
    const entries: [string, tf.Variable][] = [
      ...[...this.m].map(([name, m]): [string, tf.Variable] => [`m.${name}`, m]),
      ...[...this.v].map(([name, v]): [string, tf.Variable] => [`v.${name}`, v]),
    ];
    const values = await Promise.all(entries.map(([, t]) => t.data() as Promise<Float32Array>));
    const tensors: Record<string, { shape: number[]; data: Float32Array }> = {};
    entries.forEach(([key, t], i) => (tensors[key] = { shape: t.shape.slice(), data: Float32Array.from(values[i]!) }));
    return { step, tensors };
  }

  /** Restores `exportState()` output. */
  importState(state: { step: number; tensors: Record<string, { shape: readonly number[]; data: ArrayLike<number> }> }): void {
    this.dispose();
    this.step = state.step;
    for (const [key, t] of Object.entries(state.tensors)) {
      const dot = key.indexOf('.');
      const kind = key.slice(0, dot);
      const name = key.slice(dot + 1);
      const variable = tf.tidy(() => tf.variable(tf.tensor(Float32Array.from(t.data), [...t.shape]), false));
      if (kind === 'm') this.m.set(name, variable);
      else if (kind === 'v') this.v.set(name, variable);
      else throw new Error(`AdamW.importState: unexpected state entry '${key}'`);
    }
  }

  dispose(): void {
    for (const t of [...this.m.values(), ...this.v.values()]) t.dispose();
    this.m.clear();
    this.v.clear();
  }
}
