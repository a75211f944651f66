/**
 * The ONE pairwise preference trainer of the DPO family (DPO, soft-label DPO, IPO, BFPO; and
 * through relabelling C-DPO, MoCAN, PeCAN), on the shared loop `train` (src/train/trainer.ts).
 *
 * Per step (trl `DPOTrainer.concatenated_forward`; shared/design/dualized-and-dpo.md section 6):
 * 1. batch: B pairs (and R replay pairs for BFPO's buffer) are padded into ONE stacked batch
 *    [2B + 2R, T]: chosen rows, rejected rows, replay chosen, replay rejected;
 * 2. the frozen reference's Σ_t log π_ref over each row's response tokens is computed there, once,
 *    as plain numbers (constants: no gradient flows into the reference), or looked up in a
 *    `ReferenceLogProbs` that remembers them across steps, epochs and runs;
 * 3. loss: the policy's Σ_t log πθ for all rows in one forward pass, split into the four sides, and
 *    `preferenceLoss(lossType, …)` (src/losses/preference.ts: the shared log-ratios, then one case
 *    per loss type); with a replay buffer L = L_main + weight·L_replay (BFPO's buffer, weight 1).
 *
 * Optional NLL term (`sftWeight` α > 0; TRL's `rpo_alpha`, Pang et al. 2024, "Iterative Reasoning
 * Preference Optimization", eq. 1): L += α·NLL of the preferred response per token, where the
 * preferred response is y_w ('dpo', 'ipo'), y_w with weight p and y_l with weight 1 − p
 * ('dpo_soft'), and the side the target's sign ranks higher ('bfpo'). Sequence-level preference
 * losses lower the log-probability of both responses (the chosen one less), including their end
 * token; on small models that shows as responses running to the length limit. The NLL term keeps the
 * preferred responses, and their <eos>, likely.
 *
 * Metrics are flat: 'pref/accuracy', 'pref/margin', 'pref/chosen_reward', 'pref/rejected_reward'
 * (main pairs), with a buffer 'pref/main_loss', 'pref/replay_loss', 'pref/replay_accuracy', with
 * α > 0 'pref/nll'.
 *
 * Pairs are token ids: the framed prompt and two responses ending with <eos> (src/data/pairs.ts).
 * Builders below turn PKU-SafeRLHF-schema rows into the pairs each method trains on.
 */
import * as tf from '@tensorflow/tfjs';
import { padDialogues, type Dialogue } from '../data/batch.js';
import { buildCostPairs, buildRewardPairs } from '../data/pairs.js';
import type { PreferenceRow } from '../data/schema.js';
import { PREFERENCE_LOSS_TYPES, preferenceLoss, referenceLogProbSums, sequenceLogProbSums, type PreferenceLossType } from '../losses/preference.js';
import type { GPT } from '../model/gpt.js';
import type { Tokenizer } from '../tokenizer/types.js';
import { epochSampler } from '../train/sft.js';
import { train, type LossOutput, type TrainerCallbacks, type TrainerConfig, type TrainResult } from '../train/trainer.js';
import { oneOf, positive, positiveInt, resolveConfig } from '../util/config.js';
import type { Rng } from '../util/rng.js';
import { bfpoCellAccuracy, bfpoLabel, bfpoTarget, type BfpoCell, type BfpoConfig } from './bfpo.js';

const FILE = 'src/align/pairwise.ts';

/** One preference pair in token ids. "chosen" is y_w of the log-ratio h (for BFPO: the more helpful response). */
export interface PreferencePair {
  /** Framed prompt ids ([<bos>, <user>, …, <assistant>]). */
  prompt: readonly number[];
  /** y_w: response ids ending with <eos>. */
  chosen: readonly number[];
  /** y_l. */
  rejected: readonly number[];
  /** 'dpo_soft': P(y_w ≻ y_l) in [0, 1]. */
  p?: number;
  /** 'bfpo': target margin in units of 1/τ (`bfpoTarget`). */
  target?: number;
  /** BFPO label cell, for per-cell accuracy. */
  cell?: BfpoCell;
  /** Source row index. */
  index?: number;
}

// ---------------------------------------------------------------------------------------------
// Pairs from PKU-SafeRLHF-schema rows

/** Helpfulness pairs: y_w = the more helpful response (`better_response_id`), every row (DPO's usual data). */
export function helpfulnessPairs(rows: readonly PreferenceRow[], tokenizer: Tokenizer): PreferencePair[] {
  return buildRewardPairs(rows, tokenizer).pairs.map((p) => ({ prompt: p.prompt, chosen: p.chosen, rejected: p.rejected, index: p.index }));
}

/** Safety pairs: y_w = the more harmless response (`safer_response_id`); contradictory rows skipped (buildCostPairs). */
export function safetyPairs(rows: readonly PreferenceRow[], tokenizer: Tokenizer): PreferencePair[] {
  return buildCostPairs(rows, tokenizer).pairs.map((p) => ({ prompt: p.prompt, chosen: p.safer, rejected: p.unsafer, index: p.index }));
}

/**
 * BFPO pairs (src/align/bfpo.ts): y_w = the more helpful response whatever its safety, `target` and
 * `cell` from the two safety labels (+1 safe/unsafe, +½ safe/safe, −½ unsafe/unsafe, −1 unsafe/safe).
 */
export function bfpoPairs(rows: readonly PreferenceRow[], tokenizer: Tokenizer, config?: Partial<BfpoConfig>): PreferencePair[] {
  return helpfulnessPairs(rows, tokenizer).map((p) => {
    const label = bfpoLabel(rows[p.index!]!, config);
    return { ...p, target: label.target, cell: label.cell };
  });
}

/**
 * BFPO's replay buffer (wx-zhang/bfpo `trainer/trainer.py`: an UltraFeedback batch each step):
 * helpfulness-only pairs marked safe/safe, i.e. target ½ (IPO's 1/(2τ)) whatever their labels.
 */
export function replayPairs(rows: readonly PreferenceRow[], tokenizer: Tokenizer, config?: Partial<BfpoConfig>): PreferencePair[] {
  const target = bfpoTarget(true, true, config);
  return helpfulnessPairs(rows, tokenizer).map((p) => ({ ...p, target, cell: 'safe/safe' as const }));
}

/** The same pairs with soft labels p (e.g. MoCAN's σ(w_w − w_l)); `p.length` must match. */
export function withSoftLabels(pairs: readonly PreferencePair[], p: ArrayLike<number>): PreferencePair[] {
  if (p.length !== pairs.length) throw new Error(`${FILE} withSoftLabels: ${p.length} labels for ${pairs.length} pairs`);
  return pairs.map((pair, i) => ({ ...pair, p: p[i]! }));
}

// ---------------------------------------------------------------------------------------------
// Batches and log-prob sums

/** Stacked rows ready for `sequenceLogProbSums`: [N, T] typed arrays. */
export interface StackedBatch {
  tokens: Int32Array;
  attentionMask: Float32Array;
  responseMask: Float32Array;
  shape: [number, number];
}

function stack(dialogues: readonly Dialogue[], maxLen: number, padId: number): StackedBatch {
  const b = padDialogues(dialogues, { maxLen, padId });
  return { tokens: b.tokens, attentionMask: b.attentionMask, responseMask: b.responseMask, shape: b.shape };
}

function sides(pairs: readonly PreferencePair[]): { chosen: Dialogue[]; rejected: Dialogue[] } {
  return {
    chosen: pairs.map((p) => ({ prompt: p.prompt, response: p.chosen })),
    rejected: pairs.map((p) => ({ prompt: p.prompt, response: p.rejected })),
  };
}

/**
 * Σ_t log π(y_t | x, y_<t) over each dialogue's response tokens (the <eos> included), without
 * gradients, in batches of `batchSize` rows: Float32Array [N]. No tensor outlives the call.
 */
export async function dialogueLogProbSums(
  model: Pick<GPT, 'sequenceLogProbs' | 'config'>,
  dialogues: readonly Dialogue[],
  options: { padId: number; batchSize?: number },
): Promise<Float32Array> {
  const batchSize = options.batchSize ?? 64;
  const out = new Float32Array(dialogues.length);
  for (let start = 0; start < dialogues.length; start += batchSize) {
    const s = stack(dialogues.slice(start, start + batchSize), model.config.blockSize, options.padId);
    out.set(await referenceLogProbSums(model, s), start);
  }
  return out;
}

/**
 * Σ log π_ref of dialogues, remembered (TRL's `precompute_ref_log_probs`, kept across runs): the
 * reference is frozen, so each (prompt, response) is scored once, by the first run that needs it,
 * and looked up after. DPO, IPO, BFPO, C-DPO's rounds, MoCAN and PeCAN's three runs all train on
 * the same responses; the main job fills one from the `reference-logprobs` stage. Rows are padded
 * to the block size either way, so a sum looked up equals the one a batch would compute.
 */
export class ReferenceLogProbs {
  private readonly sums = new Map<string, number>();

  constructor(
    readonly model: Pick<GPT, 'sequenceLogProbs' | 'config'>,
    readonly options: { padId: number; batchSize?: number },
  ) {}

  static key(d: Dialogue): string {
    return `${d.prompt.join(',')}|${d.response.join(',')}`;
  }

  /** Dialogues remembered. */
  get size(): number {
    return this.sums.size;
  }

  /** Records sums computed elsewhere (e.g. read back from a stage file), one per dialogue. */
  set(dialogues: readonly Dialogue[], sums: ArrayLike<number>): void {
    if (sums.length !== dialogues.length) throw new Error(`${FILE} ReferenceLogProbs.set: ${sums.length} sums for ${dialogues.length} dialogues`);
    dialogues.forEach((d, i) => this.sums.set(ReferenceLogProbs.key(d), sums[i]!));
  }

  /** The sums of `dialogues`, computing (in batches) only the ones not seen before. */
  async of(dialogues: readonly Dialogue[]): Promise<Float32Array> {
    const keys = dialogues.map((d) => ReferenceLogProbs.key(d));
    const missing = new Map<string, Dialogue>();
    keys.forEach((k, i) => {
      if (!this.sums.has(k) && !missing.has(k)) missing.set(k, dialogues[i]!);
    });
    if (missing.size) this.set([...missing.values()], await dialogueLogProbSums(this.model, [...missing.values()], this.options));
    return Float32Array.from(keys, (k) => this.sums.get(k)!);
  }
}

/**
 * The log-ratio margins h = [log πθ(y_w) − log π_ref(y_w)] − [log πθ(y_l) − log π_ref(y_l)] of every
 * pair, without gradients: Float32Array [N]. `referenceLogProbs` (of `reference`) saves recomputing π_ref's sums.
 */
export async function pairMargins(
  policy: GPT,
  reference: GPT,
  pairs: readonly PreferencePair[],
  options: { padId: number; batchSize?: number; referenceLogProbs?: ReferenceLogProbs },
): Promise<Float32Array> {
  const { chosen, rejected } = sides(pairs);
  const ref = referenceOf(reference, options);
  const pc = await dialogueLogProbSums(policy, chosen, options);
  const pr = await dialogueLogProbSums(policy, rejected, options);
  const rc = await ref.of(chosen);
  const rr = await ref.of(rejected);
  return pc.map((v, i) => v - rc[i]! - (pr[i]! - rr[i]!));
}

/** The given cache after checking it is `reference`'s, or a fresh one. */
function referenceOf(reference: Pick<GPT, 'sequenceLogProbs' | 'config'>, options: { padId: number; batchSize?: number; referenceLogProbs?: ReferenceLogProbs }): ReferenceLogProbs {
  const given = options.referenceLogProbs;
  if (!given) return new ReferenceLogProbs(reference, options);
  if (given.model !== reference) throw new Error(`${FILE}: 'referenceLogProbs' holds another model's log-probs than the reference given`);
  return given;
}

/** Whether pair i's margin has its label's sign, with `preferenceLoss`'s rule for each loss type. */
export function pairCorrect(type: PreferenceLossType, h: number, pair: PreferencePair): boolean {
  switch (type) {
    case 'dpo':
    case 'ipo':
      return h > 0;
    case 'dpo_soft':
      return h > 0 === (pair.p ?? 1) > 0.5;
    case 'bfpo':
      return h > 0 === (pair.target ?? 0.5) > 0;
    default: {
      const unknown: never = type;
      throw new Error(`${FILE} pairCorrect: unknown loss type '${String(unknown)}' (valid: ${PREFERENCE_LOSS_TYPES.join(', ')})`);
    }
  }
}

export interface PairEvaluation {
  /** Fraction of pairs whose margin has the label's sign (see `pairCorrect`). */
  accuracy: number;
  /** Mean margin h. */
  meanMargin: number;
  margins: Float32Array;
  /** BFPO cells (pairs with `cell`): accuracy and count per cell (NaN accuracy for an empty cell). */
  byCell?: Record<BfpoCell, { accuracy: number; total: number; meanMargin: number }>;
}

/** Pairwise accuracy of a policy against its reference on `pairs` (and per BFPO cell when pairs carry cells). */
export async function evaluatePairs(
  policy: GPT,
  reference: GPT,
  pairs: readonly PreferencePair[],
  type: PreferenceLossType,
  options: { padId: number; batchSize?: number; referenceLogProbs?: ReferenceLogProbs },
): Promise<PairEvaluation> {
  const margins = await pairMargins(policy, reference, pairs, options);
  let right = 0;
  let sum = 0;
  pairs.forEach((p, i) => {
    if (pairCorrect(type, margins[i]!, p)) right++;
    sum += margins[i]!;
  });
  const out: PairEvaluation = { accuracy: pairs.length ? right / pairs.length : NaN, meanMargin: pairs.length ? sum / pairs.length : NaN, margins };
  const withCell = pairs.map((p, i) => [p.cell, margins[i]!] as const).filter((x): x is readonly [BfpoCell, number] => x[0] !== undefined);
  if (withCell.length) {
    const counts = bfpoCellAccuracy(withCell.map((x) => x[1]), withCell.map((x) => x[0]));
    const byCell = {} as NonNullable<PairEvaluation['byCell']>;
    for (const [cell, c] of Object.entries(counts) as [BfpoCell, { correct: number; total: number }][]) {
      const ms = withCell.filter((x) => x[0] === cell).map((x) => x[1]);
      byCell[cell] = { accuracy: c.total ? c.correct / c.total : NaN, total: c.total, meanMargin: ms.length ? ms.reduce((a, b) => a + b, 0) / ms.length : NaN };
    }
    out.byCell = byCell;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The trainer

export interface PairwiseConfig {
  /** 'dpo' | 'dpo_soft' | 'ipo' | 'bfpo' (src/losses/preference.ts). */
  lossType: PreferenceLossType;
  /** β of the DPO forms, τ of IPO/BFPO (one parameter, as in TRL and the BFPO code). */
  beta: number;
  /** Pairs per step (each pair is two rows of the stacked forward pass). */
  batchSize: number;
  /** α of the NLL term on the preferred responses (TRL rpo_alpha; 0 = off). */
  sftWeight: number;
}

export const DEFAULT_PAIRWISE: Readonly<PairwiseConfig> = Object.freeze({ lossType: 'dpo', beta: 0.1, batchSize: 16, sftWeight: 0 });

export function pairwiseConfig(overrides?: Partial<PairwiseConfig>): PairwiseConfig {
  return resolveConfig('PairwiseConfig', DEFAULT_PAIRWISE, overrides, {
    lossType: oneOf(...PREFERENCE_LOSS_TYPES),
    beta: positive,
    batchSize: positiveInt,
    sftWeight: (v) => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? undefined : 'must be a finite number >= 0'),
  });
}

export interface ReplayBuffer {
  /** Pairs drawn every step besides the main batch (BFPO: helpfulness pairs marked safe/safe, `replayPairs`). */
  pairs: readonly PreferencePair[];
  /** Weight of the replay loss (BFPO code: 1). */
  weight: number;
  /** Replay pairs per step (default: the main batch size). */
  batchSize?: number;
}

/**
 * Where the NLL term's rows come from when not from the pairs: `draw()` gives one step's dialogues
 * (e.g. draws from a target distribution; MoCAN's tilt of π_ref's samples, `tiltedSampleRows`).
 */
export interface NllRows {
  draw(): readonly Dialogue[];
}

export interface PairwiseOptions extends Partial<PairwiseConfig> {
  /** The tokenizer's pad id. */
  padId: number;
  /** Drives the batch order (epochs without replacement); the replay order uses rng.fork('replay'). */
  rng: Rng;
  replay?: ReplayBuffer;
  /** The reference's remembered sums (`ReferenceLogProbs` of `reference`): no reference forward pass per batch for dialogues it holds. */
  referenceLogProbs?: ReferenceLogProbs;
  /**
   * With sftWeight > 0: take the NLL term on these rows (stacked after the pairs) instead of on the
   * preferred side of each pair. Without it, the preferred side as described at `sftWeight`.
   */
  nllRows?: NllRows;
}

interface PairBatch {
  stacked: StackedBatch;
  /** Σ log π_ref per stacked row [2B + 2R] (constants). */
  refSums: Float32Array;
  n: number;
  replayN: number;
  p?: Float32Array;
  target?: Float32Array;
  replayP?: Float32Array;
  replayTarget?: Float32Array;
  /** NLL weight of every stacked row (pair rows, then NLL rows), normalised by the weighted token count. */
  nllWeights?: Float32Array;
}

/** Weight of each side of a pair in the NLL term: how much the label prefers it. */
function preferredWeights(type: PreferenceLossType, pair: PreferencePair): [number, number] {
  switch (type) {
    case 'dpo':
    case 'ipo':
      return [1, 0];
    case 'dpo_soft':
      return [pair.p!, 1 - pair.p!];
    case 'bfpo':
      return pair.target! > 0 ? [1, 0] : pair.target! < 0 ? [0, 1] : [0.5, 0.5];
    default: {
      const unknown: never = type;
      throw new Error(`${FILE} preferredWeights: unknown loss type '${String(unknown)}'`);
    }
  }
}

function checkLabels(where: string, field: string, pairs: readonly PreferencePair[], type: PreferenceLossType): void {
  if (pairs.length === 0) throw new Error(`${where}: '${field}' is empty`);
  pairs.forEach((p, i) => {
    if (!p.prompt.length || !p.chosen.length || !p.rejected.length) throw new Error(`${where}: ${field}[${i}] has an empty prompt or response`);
    if (type === 'dpo_soft' && !(typeof p.p === 'number' && p.p >= 0 && p.p <= 1)) {
      throw new Error(`${where}: ${field}[${i}].p = ${String(p.p)}: lossType 'dpo_soft' needs a soft label in [0, 1] on every pair`);
    }
    if (type === 'bfpo' && !(typeof p.target === 'number' && Number.isFinite(p.target))) {
      throw new Error(`${where}: ${field}[${i}].target = ${String(p.target)}: lossType 'bfpo' needs a finite target on every pair (bfpoPairs / replayPairs)`);
    }
  });
}

/**
 * Trains `policy` on preference pairs against the frozen `reference` with the shared loop (see the
 * module comment). The reference is only read (its Σ log π_ref are computed once per batch, outside
 * the gradient); only `policy.params` change. Returns the trainer's history; `trainerConfig` is the
 * loop's Partial<TrainerConfig> (steps, learning rate, …), `callbacks` its onStep/shouldStop.
 */
export function trainPreference(
  policy: GPT,
  reference: GPT,
  pairs: readonly PreferencePair[],
  options: PairwiseOptions,
  trainerConfig: Partial<TrainerConfig> = {},
  callbacks: TrainerCallbacks = {},
): Promise<TrainResult> {
  const where = `${FILE} trainPreference`;
  const { padId, rng, replay, referenceLogProbs, nllRows, ...rest } = options;
  const cfg = pairwiseConfig(rest);
  if (!Number.isInteger(padId) || padId < 0) throw new Error(`${where}: 'padId' = ${padId}: must be a token id`);
  if (policy.config.vocabSize !== reference.config.vocabSize) {
    throw new Error(`${where}: policy vocabSize ${policy.config.vocabSize} != reference vocabSize ${reference.config.vocabSize}`);
  }
  checkLabels(where, 'pairs', pairs, cfg.lossType);
  if (replay) {
    checkLabels(where, 'replay.pairs', replay.pairs, cfg.lossType);
    if (!(Number.isFinite(replay.weight) && replay.weight >= 0)) throw new Error(`${where}: 'replay.weight' = ${replay.weight}: must be a finite number >= 0`);
    if (replay.batchSize !== undefined && !(Number.isInteger(replay.batchSize) && replay.batchSize > 0)) {
      throw new Error(`${where}: 'replay.batchSize' = ${replay.batchSize}: must be a positive integer`);
    }
  }
  const maxLen = Math.min(policy.config.blockSize, reference.config.blockSize);
  const next = epochSampler(pairs.length, Math.min(cfg.batchSize, pairs.length), rng);
  const nextReplay = replay ? epochSampler(replay.pairs.length, Math.min(replay.batchSize ?? cfg.batchSize, replay.pairs.length), rng.fork('replay')) : null;
  const labels = (ps: readonly PreferencePair[], key: 'p' | 'target'): Float32Array | undefined =>
    (cfg.lossType === 'dpo_soft' && key === 'p') || (cfg.lossType === 'bfpo' && key === 'target') ? Float32Array.from(ps, (p) => p[key]!) : undefined;

  const refCache = referenceLogProbs ? referenceOf(reference, { padId, referenceLogProbs }) : null;

  async function batch(): Promise<PairBatch> {
    const main = next().map((i) => pairs[i]!);
    const rep = nextReplay ? nextReplay().map((i) => replay!.pairs[i]!) : [];
    const m = sides(main);
    const r = sides(rep);
    const rows = [...m.chosen, ...m.rejected, ...r.chosen, ...r.rejected];
    const extra = cfg.sftWeight > 0 && nllRows ? nllRows.draw() : [];
    const stacked = stack([...rows, ...extra], maxLen, padId); // [2B + 2R (+ K NLL rows), T]
    const refSums = refCache ? await refCache.of(rows) : await referenceLogProbSums(reference, extra.length ? stack(rows, maxLen, padId) : stacked);
    const out: PairBatch = { stacked, refSums, n: main.length, replayN: rep.length };
    if (cfg.sftWeight > 0) {
      // w_row / Σ_rows w_row·tokens_row, so Σ_rows weight_row·(−Σ_t log π) is the weighted per-token NLL
      const [all, T] = stacked.shape;
      const tokens = new Float32Array(all);
      for (let r = 0; r < all; r++) for (let t = 0; t < T; t++) tokens[r] += stacked.responseMask[r * T + t]!;
      const w = new Float32Array(all);
      if (extra.length) w.fill(1, rows.length);
      else main.forEach((p, b) => ([w[b], w[main.length + b]] = preferredWeights(cfg.lossType, p)));
      let denom = 0;
      w.forEach((x, r) => (denom += x * tokens[r]!));
      out.nllWeights = w.map((x) => (denom > 0 ? x / denom : 0));
    }
    const p = labels(main, 'p');
    const t = labels(main, 'target');
    if (p) out.p = p;
    if (t) out.target = t;
    if (rep.length) {
      const rp = labels(rep, 'p');
      const rt = labels(rep, 'target');
      if (rp) out.replayP = rp;
      if (rt) out.replayTarget = rt;
    }
    return out;
  }

  function loss(b: PairBatch): LossOutput {
    const { n, replayN: r, refSums } = b;
    const sums = sequenceLogProbSums(policy, b.stacked); // [2B + 2R], carries the gradient
    const main = preferenceLoss(
      cfg.lossType,
      {
        policyChosen: sums.slice(0, n), // [B]
        policyRejected: sums.slice(n, n), // [B]
        refChosen: refSums.subarray(0, n),
        refRejected: refSums.subarray(n, 2 * n),
        ...(b.p ? { p: b.p } : {}),
        ...(b.target ? { target: b.target } : {}),
      },
      { beta: cfg.beta },
    );
    const withNll = (o: LossOutput): LossOutput => {
      if (!b.nllWeights) return o;
      const nll = tf.neg(tf.sum(tf.mul(sums, b.nllWeights))) as tf.Scalar; // weighted per-token NLL
      return { loss: tf.add(o.loss, tf.mul(cfg.sftWeight, nll)) as tf.Scalar, metrics: { ...o.metrics, 'pref/nll': nll } };
    };
    if (!r) return withNll(main);
    const rep = preferenceLoss(
      cfg.lossType,
      {
        policyChosen: sums.slice(2 * n, r), // [R]
        policyRejected: sums.slice(2 * n + r, r), // [R]
        refChosen: refSums.subarray(2 * n, 2 * n + r),
        refRejected: refSums.subarray(2 * n + r, 2 * n + 2 * r),
        ...(b.replayP ? { p: b.replayP } : {}),
        ...(b.replayTarget ? { target: b.replayTarget } : {}),
      },
      { beta: cfg.beta },
    );
    return withNll({
      loss: tf.add(main.loss, tf.mul(replay!.weight, rep.loss)) as tf.Scalar,
      metrics: {
        ...main.metrics,
        'pref/main_loss': main.loss,
        'pref/replay_loss': rep.loss,
        'pref/replay_accuracy': rep.metrics!['pref/accuracy']!,
      },
    });
  }

  return train<PairBatch>({ params: policy.params, batch, loss, config: trainerConfig, callbacks });
}
