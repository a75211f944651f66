/**
 * Pairwise preference losses on policy/reference log-ratios, TRL's way: one shared log-ratio
 * computation, then one short case per loss type (trl `DPOTrainer.dpo_loss`; shared/design/
 * style-anchors.md section 3; shared/design/dualized-and-dpo.md section 6).
 *
 *   h = [log πθ(y_w) − log π_ref(y_w)] − [log πθ(y_l) − log π_ref(y_l)]
 *
 * with log π(y) the SUM of the response-token log-probs (`sequenceLogProbSums`). y_w is the chosen
 * response of the pair (for BFPO: the more helpful one, whatever its safety).
 *
 * Loss types (each a named function below; the batch loss is the mean over pairs):
 * - 'dpo'      −log σ(βh)                               Rafailov et al. 2023, eq. 7
 * - 'dpo_soft' −p log σ(βh) − (1−p) log σ(−βh)           soft label p = P(y_w ≻ y_l) (MoCAN, PeCAN, C-DPO relabelling;
 *                                                        constant p = 1−ε is cDPO label smoothing)
 * - 'ipo'      (h − 1/(2τ))²                             Azar et al. 2023, eq. 17
 * - 'bfpo'     (h − t/τ)²                               Zhang et al. 2025 (BFPO), t from src/align/bfpo.ts;
 *                                                        safe/safe pairs have t = ½, i.e. IPO's 1/(2τ)
 * One parameter `beta` is β for the DPO forms and τ for the squared forms, as in TRL and the BFPO
 * code (both use `self.beta` for τ).
 *
 * Reference log-probs are constants: compute them once per batch with `referenceLogProbSums`
 * (outside the trainer's gradient closure, e.g. in the batch provider) and pass the numbers in.
 */
import * as tf from '@tensorflow/tfjs';
import type { GPT } from '../model/gpt.js';
import type { LossOutput } from '../train/trainer.js';
import { positive, resolveConfig } from '../util/config.js';
import type { Vector } from './score.js';

const FILE = 'src/losses/preference.ts';

/**
 * log σ(x) = −softplus(−x): finite for any float32 x (softplus switches to x or e^x in the tails).
 * Not `tf.logSigmoid`: in tfjs 4.22 its custom gradient closes over its input without saving it, so
 * backprop fails ("Cannot read properties of undefined (reading 'backend')") whenever that input is
 * an intermediate tensor already freed by a tidy. softplus's registered gradient saves its input.
 */
function logSigmoid(x: tf.Tensor): tf.Tensor {
  return tf.neg(tf.softplus(tf.neg(x)));
}

export const PREFERENCE_LOSS_TYPES = ['dpo', 'dpo_soft', 'ipo', 'bfpo'] as const;
export type PreferenceLossType = (typeof PREFERENCE_LOSS_TYPES)[number];

export interface PreferenceLossConfig {
  /**
   * β of the DPO forms (the KL weight: −log σ(βh)); τ of IPO and BFPO (targets 1/(2τ), t/τ).
   * DPO paper and MoCAN use 0.1; BFPO's recipe 0.01 (±100-nat targets: for small models sweep 0.1-0.5).
   */
  beta: number;
}

export const DEFAULT_PREFERENCE_LOSS: Readonly<PreferenceLossConfig> = Object.freeze({ beta: 0.1 });

export function preferenceLossConfig(overrides?: Partial<PreferenceLossConfig>): PreferenceLossConfig {
  return resolveConfig('PreferenceLossConfig', DEFAULT_PREFERENCE_LOSS, overrides, { beta: positive });
}


export interface LogRatioInputs {
  /** Σ_t log πθ(y_w,t) [B] (carries the gradient). */
  policyChosen: Vector;
  /** Σ_t log πθ(y_l,t) [B]. */
  policyRejected: Vector;
  /** Σ_t log π_ref(y_w,t) [B] (constants). */
  refChosen: Vector;
  /** Σ_t log π_ref(y_l,t) [B]. */
  refRejected: Vector;
}

export interface PreferenceInputs extends LogRatioInputs {
  /** 'dpo_soft' only: P(y_w ≻ y_l) per pair in [0, 1] (or one number for every pair). */
  p?: Vector | number;
  /** 'bfpo' only: target margin per pair in units of 1/τ (`bfpoTarget`: +1, +½, −½, −1). */
  target?: Vector;
}

export interface LogRatios {
  /** log πθ(y_w) − log π_ref(y_w) [B]. */
  chosen: tf.Tensor1D;
  /** log πθ(y_l) − log π_ref(y_l) [B]. */
  rejected: tf.Tensor1D;
  /** h = chosen − rejected [B]. */
  margin: tf.Tensor1D;
}

function vector(where: string, field: string, x: Vector, length?: number): tf.Tensor1D {
  const t = x instanceof tf.Tensor ? x : tf.tensor1d(Array.from(x), 'float32');
  if (t.rank !== 1) throw new Error(`${where}: '${field}' must be a [B] vector, got shape [${t.shape}]`);
  if (length !== undefined && t.shape[0] !== length) {
    throw new Error(`${where}: '${field}' has length ${t.shape[0]}, expected ${length} (the batch size)`);
  }
  return t.dtype === 'float32' ? t : (t.toFloat() as tf.Tensor1D);
}

/**
 * The shared log-ratios (DPO eq. 7's argument, before β):
 * h = [log πθ(y_w) − log π_ref(y_w)] − [log πθ(y_l) − log π_ref(y_l)].
 * Returns new tensors [B], owned by the caller.
 */
export function logRatios(inputs: LogRatioInputs): LogRatios {
  const where = `${FILE} logRatios`;
  return tf.tidy(() => {
    const pc = vector(where, 'policyChosen', inputs.policyChosen); // [B]
    const B = pc.shape[0];
    const pr = vector(where, 'policyRejected', inputs.policyRejected, B); // [B]
    const rc = vector(where, 'refChosen', inputs.refChosen, B); // [B]
    const rr = vector(where, 'refRejected', inputs.refRejected, B); // [B]
    const chosen = tf.sub(pc, rc) as tf.Tensor1D; // [B]
    const rejected = tf.sub(pr, rr) as tf.Tensor1D; // [B]
    return { chosen, rejected, margin: tf.sub(chosen, rejected) as tf.Tensor1D };
  });
}

/** DPO (Rafailov et al. 2023, eq. 7): ℓ = −log σ(βh), per pair [B]. */
export function dpoLoss(h: tf.Tensor1D, beta: number): tf.Tensor1D {
  return tf.tidy(() => tf.neg(logSigmoid(tf.mul(beta, h))) as tf.Tensor1D);
}

/**
 * Soft-label DPO: ℓ = −p log σ(βh) − (1−p) log σ(−βh), per pair [B]: the expected DPO loss when the
 * label is drawn y_w ≻ y_l with probability p (MoCAN's Bernoulli(σ(w_w − w_l)) relabelling, Huang
 * et al. 2024, in expectation; C-DPO's p*_λ, Liu et al. 2024; cDPO label smoothing with p = 1−ε).
 */
export function softDpoLoss(h: tf.Tensor1D, p: tf.Tensor1D, beta: number): tf.Tensor1D {
  return tf.tidy(() => {
    const z = tf.mul(beta, h); // [B]
    const pos = tf.mul(p, logSigmoid(z)); // [B]
    const neg = tf.mul(tf.sub(1, p), logSigmoid(tf.neg(z))); // [B]
    return tf.neg(tf.add(pos, neg)) as tf.Tensor1D;
  });
}

/** IPO (Azar et al. 2023, eq. 17, with sampled log-ratios): ℓ = (h − 1/(2τ))², per pair [B]. */
export function ipoLoss(h: tf.Tensor1D, tau: number): tf.Tensor1D {
  return tf.tidy(() => tf.square(tf.sub(h, 1 / (2 * tau))) as tf.Tensor1D);
}

/**
 * BFPO (Zhang, Torr, Elhoseiny, Bibi, ICLR 2025; wx-zhang/bfpo `trainer/bfpo.py`):
 * ℓ = (h − t/τ)², per pair [B], t = the labelling function's target in units of 1/τ
 * (`bfpoTarget` in src/align/bfpo.ts). IPO with label-dependent margins: t = ½ (safe/safe) is IPO.
 */
export function bfpoLoss(h: tf.Tensor1D, target: tf.Tensor1D, tau: number): tf.Tensor1D {
  return tf.tidy(() => tf.square(tf.sub(h, tf.div(target, tau))) as tf.Tensor1D);
}

function checkType(type: string): asserts type is PreferenceLossType {
  if (!(PREFERENCE_LOSS_TYPES as readonly string[]).includes(type)) {
    throw new Error(`${FILE} preferenceLoss: unknown loss type '${type}' (valid: ${PREFERENCE_LOSS_TYPES.join(', ')})`);
  }
}

function checkProbabilities(where: string, p: Vector | number): void {
  if (p instanceof tf.Tensor) return;
  const values = typeof p === 'number' ? [p] : p;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!(v >= 0 && v <= 1)) throw new Error(`${where}: 'p'[${i}] = ${v}: must be in [0, 1]`);
  }
}

/**
 * The pairwise loss of `type` on one batch, averaged over pairs, with metrics:
 * - 'pref/accuracy': fraction of pairs whose h has the label's sign: h > 0 for 'dpo' and 'ipo';
 *   (h > 0) = (p > ½) for 'dpo_soft'; (h > 0) = (t > 0) for 'bfpo'.
 * - 'pref/margin': mean h.
 * - 'pref/chosen_reward', 'pref/rejected_reward': mean implicit rewards β·(log πθ − log π_ref).
 * Returns new tensors owned by the caller (the trainer's tidy). Options are a Partial
 * PreferenceLossConfig.
 */
export function preferenceLoss(
  type: PreferenceLossType,
  inputs: PreferenceInputs,
  options?: Partial<PreferenceLossConfig>,
): LossOutput {
  const where = `${FILE} preferenceLoss('${String(type)}')`;
  checkType(type);
  const { beta } = preferenceLossConfig(options);
  if (type === 'dpo_soft') {
    if (inputs.p === undefined) throw new Error(`${where}: 'p' (soft labels in [0, 1]) is required`);
    checkProbabilities(where, inputs.p);
  }
  if (type === 'bfpo' && inputs.target === undefined) {
    throw new Error(`${where}: 'target' (bfpoTarget per pair, units of 1/τ) is required`);
  }
  return tf.tidy(() => {
    const { chosen, rejected, margin: h } = logRatios(inputs); // [B] each
    const B = h.shape[0];
    let losses: tf.Tensor1D; // [B]
    let correct: tf.Tensor1D; // [B] 1 where h has the label's sign
    switch (type) {
      case 'dpo':
        losses = dpoLoss(h, beta);
        correct = tf.greater(h, 0).toFloat() as tf.Tensor1D;
        break;
      case 'dpo_soft': {
        const p = typeof inputs.p === 'number' ? tf.fill([B], inputs.p) as tf.Tensor1D : vector(where, 'p', inputs.p!, B); // [B]
        losses = softDpoLoss(h, p, beta);
        correct = tf.equal(tf.greater(h, 0), tf.greater(p, 0.5)).toFloat() as tf.Tensor1D;
        break;
      }
      case 'ipo':
        losses = ipoLoss(h, beta);
        correct = tf.greater(h, 0).toFloat() as tf.Tensor1D;
        break;
      case 'bfpo': {
        const t = vector(where, 'target', inputs.target!, B); // [B]
        losses = bfpoLoss(h, t, beta);
        correct = tf.equal(tf.greater(h, 0), tf.greater(t, 0)).toFloat() as tf.Tensor1D;
        break;
      }
      default: {
        const unknown: never = type;
        throw new Error(`${where}: unknown loss type '${String(unknown)}' (valid: ${PREFERENCE_LOSS_TYPES.join(', ')})`);
      }
    }
    return {
      loss: tf.mean(losses) as tf.Scalar,
      metrics: {
        'pref/accuracy': tf.mean(correct) as tf.Scalar,
        'pref/margin': tf.mean(h) as tf.Scalar,
        'pref/chosen_reward': tf.mul(beta, tf.mean(chosen)) as tf.Scalar,
        'pref/rejected_reward': tf.mul(beta, tf.mean(rejected)) as tf.Scalar,
      },
    };
  });
}

/** Tokens and masks of B sequences: tensors, or row-major typed arrays with `shape` (a data-layer SequenceBatch fits). */
export interface LogProbBatch {
  tokens: tf.Tensor2D | Int32Array;
  /** 1 on the response tokens whose log-probs are summed (the <eos> included). */
  responseMask: tf.Tensor2D | Float32Array;
  attentionMask?: tf.Tensor2D | Float32Array;
  /** [B, T]; required when the fields are typed arrays. */
  shape?: readonly [number, number];
}

function batchTensor(where: string, field: string, x: tf.Tensor2D | Int32Array | Float32Array, shape?: readonly [number, number]): tf.Tensor2D {
  if (x instanceof tf.Tensor) return x;
  if (!shape) throw new Error(`${where}: 'shape' is required when '${field}' is a typed array`);
  if (x.length !== shape[0] * shape[1]) throw new Error(`${where}: '${field}' has ${x.length} entries, shape [${shape}] needs ${shape[0] * shape[1]}`);
  return x instanceof Int32Array ? tf.tensor2d(x, [shape[0], shape[1]], 'int32') : tf.tensor2d(x, [shape[0], shape[1]], 'float32');
}

/**
 * Σ_t log π(y_t | y_<t) over the response tokens: model.sequenceLogProbs(tokens, responseMask,
 * attentionMask) summed over T -> [B]. For the policy, call it inside the loss (it carries the
 * gradient). Returns a new tensor owned by the caller.
 */
export function sequenceLogProbSums(model: Pick<GPT, 'sequenceLogProbs'>, batch: LogProbBatch): tf.Tensor1D {
  const where = `${FILE} sequenceLogProbSums`;
  return tf.tidy(() => {
    const tokens = batchTensor(where, 'tokens', batch.tokens, batch.shape); // [B, T]
    const mask = batchTensor(where, 'responseMask', batch.responseMask, batch.shape); // [B, T]
    const attn = batch.attentionMask === undefined ? undefined : batchTensor(where, 'attentionMask', batch.attentionMask, batch.shape);
    return tf.sum(model.sequenceLogProbs(tokens, mask, attn), 1) as tf.Tensor1D; // [B]
  });
}

/**
 * The reference model's Σ_t log π_ref over the response tokens [B], as plain numbers: constants
 * that carry no gradient. Compute them once per batch, outside the trainer's gradient closure (e.g.
 * in `TrainSpec.batch`), and pass them as `refChosen` / `refRejected`.
 */
export async function referenceLogProbSums(model: Pick<GPT, 'sequenceLogProbs'>, batch: LogProbBatch): Promise<Float32Array> {
  const sums = sequenceLogProbSums(model, batch);
  try {
    // read asynchronously (webgpu in Node has no synchronous read); a copy: some backends reuse the buffer after dispose
    return Float32Array.from(await sums.data());
  } finally {
    sums.dispose();
  }
}
