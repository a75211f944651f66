/**
 * The project's one training loop. Every algorithm (SFT, reward and cost models, PPO's actor and
 * critics, the DPO family) supplies only a loss on a batch; the loop does the rest, in nanoGPT's
 * order: learning rate -> loss and gradients (one tidy) -> global-norm clipping -> AdamW -> metrics
 * -> callbacks.
 *
 * A non-finite loss or gradient norm stops training with `NonFiniteLossError` before the update is
 * applied, so the weights stay those of the last good step.
 */
import * as tf from '@tensorflow/tfjs';
import { nonNegative, resolveConfig } from '../util/config.js';
import { fusedGlobalNorm, webgpuFusedAvailable } from '../backend/webgpu-kernels/index.js';
import { AdamW, type AdamWConfig } from './adamw.js';
import { learningRateAt } from './schedule.js';

export interface TrainerConfig extends AdamWConfig {
  steps: number;
  learningRate: number;
  minLearningRate: number;
  warmupSteps: number;
  /** Step at which cosine decay reaches minLearningRate; 0 keeps the rate constant after warmup; -1 means `steps`. */
  decaySteps: number;
  /** Clip the global gradient norm to this value (0 = off). */
  gradClipNorm: number;
}

export const DEFAULT_TRAINER: Readonly<TrainerConfig> = Object.freeze({
  steps: 100,
  learningRate: 1e-3,
  minLearningRate: 1e-4,
  warmupSteps: 0,
  decaySteps: -1,
  gradClipNorm: 1,
  beta1: 0.9,
  beta2: 0.95,
  eps: 1e-8,
  weightDecay: 0.1,
});

/** What an algorithm returns for one batch. Built inside the loop's tidy: return fresh tensors. */
export interface LossOutput {
  loss: tf.Scalar;
  /** Extra scalars to log, flat names like 'train/accuracy'. */
  metrics?: Record<string, tf.Scalar>;
}

export interface StepLog {
  step: number;
  loss: number;
  lr: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  metrics: Record<string, number>;
  /** Wall time of the step in milliseconds. */
  ms: number;
}

export interface TrainerCallbacks {
  /** After each update. May be async (a notebook redraw, a checkpoint). */
  onStep?(log: StepLog): void | Promise<void>;
  /** Checked after each step; true ends training early. */
  shouldStop?(log: StepLog): boolean;
}

export interface TrainSpec<B> {
  /** Variables to train (non-trainable ones are skipped). */
  params: Record<string, tf.Variable>;
  /** The algorithm's loss on one batch. */
  loss(batch: B, step: number): LossOutput;
  /** The batch for a step (the caller owns any tensors in it and frees them in `releaseBatch`). */
  batch(step: number): B | Promise<B>;
  releaseBatch?(batch: B): void;
  config?: Partial<TrainerConfig>;
  /** Continue with an existing optimizer (its step count is the start step). */
  optimizer?: AdamW;
  /**
   * Return the optimizer (e.g. to checkpoint it or train further). By default an optimizer the loop
   * created is disposed when training ends, so a finished run leaves no tensors behind.
   */
  keepOptimizer?: boolean;
  callbacks?: TrainerCallbacks;
}

export interface TrainResult {
  history: StepLog[];
  /** The optimizer when it was given or `keepOptimizer` was set; otherwise null (disposed). */
  optimizer: AdamW | null;
}

export class NonFiniteLossError extends Error {
  constructor(readonly step: number, readonly loss: number, readonly gradNorm: number) {
    super(`training stopped at step ${step}: loss = ${loss}, gradient norm = ${gradNorm} (non-finite); weights keep the last good step`);
    this.name = 'NonFiniteLossError';
  }
}

export function trainerConfig(overrides?: Partial<TrainerConfig>): TrainerConfig {
  return resolveConfig('TrainerConfig', DEFAULT_TRAINER, overrides, {
    steps: (v) => (Number.isInteger(v) && v >= 0 ? undefined : 'must be an integer >= 0'),
    learningRate: nonNegative,
    minLearningRate: nonNegative,
    warmupSteps: (v) => (Number.isInteger(v) && v >= 0 ? undefined : 'must be an integer >= 0'),
    decaySteps: (v) => (Number.isInteger(v) && v >= -1 ? undefined : 'must be an integer >= -1'),
    gradClipNorm: nonNegative,
    beta1: (v) => (v >= 0 && v < 1 ? undefined : 'must be in [0, 1)'),
    beta2: (v) => (v >= 0 && v < 1 ? undefined : 'must be in [0, 1)'),
    eps: nonNegative,
    weightDecay: nonNegative,
  });
}

/**
 * Global gradient norm sqrt(sum over all gradients of sum g^2), the quantity clipped below
 * (nanoGPT's clip_grad_norm_). On webgpu one fused dispatch per 6-14 gradients
 * (src/backend/webgpu-kernels/norm.ts); elsewhere a Square and a Sum per gradient and a chain of
 * adds (not addN: webgpu limits a shader to 16 storage buffers). Caller disposes.
 */
export function globalGradNorm(grads: readonly tf.Tensor[]): tf.Scalar {
  if (webgpuFusedAvailable()) return fusedGlobalNorm(grads);
  return tf.tidy(() =>
    grads.length ? (tf.sqrt(grads.map((g) => tf.sum(tf.square(g))).reduce((a, b) => tf.add(a, b))) as tf.Scalar) : tf.scalar(0),
  );
}

/**
 * Computes the loss and gradients for one batch, clips and applies them. Returns the step's
 * numbers; throws NonFiniteLossError (without updating) on a non-finite loss or gradient.
 */
export async function trainStep<B>(
  spec: Pick<TrainSpec<B>, 'params' | 'loss'>,
  batch: B,
  step: number,
  lr: number,
  optimizer: AdamW,
  gradClipNorm: number,
): Promise<Omit<StepLog, 'ms' | 'lr' | 'step'>> {
  const names = Object.keys(spec.params).filter((n) => spec.params[n]!.trainable);
  const vars = names.map((n) => spec.params[n]!);
  const byVarName = new Map(names.map((n) => [spec.params[n]!.name, n]));
  let metricTensors: Record<string, tf.Scalar> = {};
  const { value, grads: rawGrads } = tf.variableGrads(() => {
    const out = spec.loss(batch, step);
    metricTensors = {};
    for (const [k, t] of Object.entries(out.metrics ?? {})) metricTensors[k] = tf.keep(t);
    return out.loss;
  }, vars);
  const grads: Record<string, tf.Tensor> = {};
  for (const [varName, g] of Object.entries(rawGrads)) grads[byVarName.get(varName)!] = g;
  const metricNames = Object.keys(metricTensors);
  const gradList = Object.values(grads);
  const norm = globalGradNorm(gradList);
  const packed = tf.tidy(() => tf.stack([value, norm, ...metricNames.map((k) => metricTensors[k]!)].map((t) => t.reshape([]))));
  const numbers = await packed.data();
  packed.dispose();
  const loss = numbers[0]!;
  const gradNorm = numbers[1]!;
  const metrics: Record<string, number> = {};
  metricNames.forEach((k, i) => (metrics[k] = numbers[2 + i]!));
  try {
    if (!Number.isFinite(loss) || !Number.isFinite(gradNorm)) throw new NonFiniteLossError(step, loss, gradNorm);
    const scale = gradClipNorm > 0 && gradNorm > gradClipNorm ? gradClipNorm / (gradNorm + 1e-6) : 1;
    optimizer.apply(spec.params, grads, lr, scale); // clipping: g * scale inside the update
  } finally {
    tf.dispose([value, norm, ...gradList, ...Object.values(metricTensors)]);
  }
  return { loss, gradNorm, metrics };
}

/** Runs `config.steps` updates (from the optimizer's step count when continuing). */
export async function train<B>(spec: TrainSpec<B>): Promise<TrainResult> {
  const cfg = trainerConfig(spec.config);
  const optimizer =
    spec.optimizer ?? new AdamW({ beta1: cfg.beta1, beta2: cfg.beta2, eps: cfg.eps, weightDecay: cfg.weightDecay });
  const decaySteps = cfg.decaySteps === -1 ? cfg.steps : cfg.decaySteps;
  const history: StepLog[] = [];
  const ownOptimizer = !spec.optimizer && !spec.keepOptimizer;
  try {
    for (let step = optimizer.step; step < cfg.steps; step++) {
      const t0 = performance.now();
      const lr = learningRateAt(step, cfg.learningRate, cfg.warmupSteps, decaySteps, cfg.minLearningRate);
      const batch = await spec.batch(step);
      let result;
      try {
        result = await trainStep(spec, batch, step, lr, optimizer, cfg.gradClipNorm);
      } finally {
        spec.releaseBatch?.(batch);
      }
      const log: StepLog = { step, lr, ...result, ms: performance.now() - t0 };
      history.push(log);
      await spec.callbacks?.onStep?.(log);
      if (spec.callbacks?.shouldStop?.(log)) break;
    }
  } finally {
    if (ownOptimizer) optimizer.dispose();
  }
  return { history, optimizer: ownOptimizer ? null : optimizer };
}

