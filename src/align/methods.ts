/**
 * The DPO family as runnable methods, all on the one pairwise trainer (`trainPreference`,
 * src/align/pairwise.ts) and the one training loop:
 *
 * - `runDPO`  DPO (Rafailov et al. 2023) on helpfulness (default) or safety pairs, loss −log σ(βh).
 * - `runIPO`  IPO (Azar et al. 2023): (h − 1/(2τ))² on the same pairs.
 * - `runBFPO` (bfpo-method.ts) BFPO (Zhang et al., ICLR 2025): y_w = the more helpful response,
 *             target t/τ from the two safety labels (+1, +½, −½, −1), squared loss, plus the replay
 *             buffer of helpfulness-only pairs marked safe/safe (target ½ = IPO) with weight 1.
 * - `runCDPO` (cdpo-method.ts) C-DPO (Liu, Sun, Zheng 2024): K rounds of [relabel the pairs with
 *             p = σ((r_w − λc_w) − (r_l − λc_l)) from the reward and cost models -> soft-label DPO,
 *             warm-started -> Ê_{π_λ} c from samples of the current policy scored by the cost model
 *             -> λ ← max(0, λ + η(Ê c − C_limit))].
 * - `runMoCAN` (mocan.ts), `runPeCAN` (pecan.ts): CAN (Huang et al. 2024), on src/align/can.ts.
 *
 * This file holds what they share: the inputs (`AlignmentData`), the result (`MethodResult`), the
 * training settings (`PreferenceTrainingConfig`) and one training stage (`trainStage`).
 *
 * Every run starts its policy as a copy of `data.reference` (the SFT policy, which is only read),
 * and returns `{method, policy, history, metrics, timings, extras}`: the policy belongs to the
 * caller (dispose it), metrics are flat 'group/name' numbers, timings wall seconds per phase plus
 * 'total'. Progress: `callbacks.onStep(log, stage)` after every trainer step.
 *
 * β/τ placement: one `beta` field per config; it is β inside σ(βh) for the DPO forms and τ in the
 * targets 1/(2τ), t/τ for IPO and BFPO (as TRL and the BFPO code use one `beta`). BFPO's recipe τ =
 * 0.01 means targets of ±100 nats, far beyond what a nano model moves in a few hundred steps; the
 * default τ = 0.2 gives ±5 and ±2.5 nats (the design note suggests sweeping 0.1-0.5 at small scale).
 */
import type { PromptItem } from '../data/pairs.js';
import type { PreferenceRow } from '../data/schema.js';
import { createGPT, type GPT } from '../model/gpt.js';
import type { ScoreModel } from '../model/score-model.js';
import type { Tokenizer } from '../tokenizer/types.js';
import type { StepLog, TrainerConfig } from '../train/trainer.js';
import { nonNegative, oneOf, positive, positiveInt, resolveConfig, type FieldCheck } from '../util/config.js';
import { createRng } from '../util/rng.js';
import type { PreferenceLossType } from '../losses/preference.js';
import type { ReferenceSamples } from './can.js';
import type { PairScores } from './sampling.js';
import {
  dialogueLogProbSums,
  evaluatePairs,
  helpfulnessPairs,
  safetyPairs,
  trainPreference,
  type PairEvaluation,
  type PreferencePair,
  type ReferenceLogProbs,
  type NllRows,
  type ReplayBuffer,
} from './pairwise.js';
import type { Dialogue } from '../data/batch.js';

const FILE = 'src/align/methods.ts';

// ---------------------------------------------------------------------------------------------
// Shared inputs, outputs and settings

/** What every method reads. Nothing here is modified. */
export interface AlignmentData {
  /** π_ref: the SFT policy. Only read; each run trains a copy. */
  reference: GPT;
  tokenizer: Tokenizer;
  /** Decoupled preference rows (PKU-SafeRLHF schema) the pairs are built from. */
  rows: readonly PreferenceRow[];
  /** Prompts to sample on (CAN's dual, C-DPO's cost estimate, realised gains): buildPromptSet(rows, tokenizer). */
  prompts: readonly PromptItem[];
  /** Reward model (C-DPO, MoCAN). */
  rewardModel?: ScoreModel;
  /** Cost model, > 0 = unsafe (C-DPO, MoCAN; PeCAN's optional cost-model gain). */
  costModel?: ScoreModel;
  /** BFPO's replay buffer rows (helpfulness-only data); default: the benign rows of `rows` with both responses labelled safe. */
  replayRows?: readonly PreferenceRow[];
  /**
   * PeCAN's π_r when already trained: a DPO policy on the helpfulness pairs of the same rows from the
   * same π_ref (the DPO stage's), with its β and NLL weight; PeCAN trains its own when absent.
   */
  helpfulPolicy?: TrainedPolicy;
  /**
   * The reward/cost-model scores of `helpfulnessPairs(rows)` when already computed (C-DPO and MoCAN
   * relabel the same pairs with the same models; the main job scores them once).
   */
  pairScores?: PairScores;
  /** π_ref samples scored by the reward and cost models (MoCAN's and PeCAN's dual), when already drawn. */
  referenceSamples?: ReferenceSamples;
  /** Σ log π_ref of dialogues, remembered across runs (a `ReferenceLogProbs` of `reference`). */
  referenceLogProbs?: ReferenceLogProbs;
}

/** A policy trained by one of these methods, with the settings another method must match to reuse it. */
export interface TrainedPolicy {
  policy: GPT;
  method: string;
  beta: number;
  sftWeight: number;
}

export interface MethodCallbacks {
  /** After every trainer step; `stage` names the training run ('dpo', 'cdpo/round-1', 'pecan/helpful', …). */
  onStep?(log: StepLog, stage: string): void | Promise<void>;
  /** A line of progress between phases (sampling, dual solved, round done). */
  onEvent?(message: string): void;
}

export interface StageStepLog extends StepLog {
  stage: string;
}

export interface MethodResult<E = Record<string, unknown>> {
  method: string;
  /** The resolved settings (defaults filled in). */
  config: Record<string, unknown>;
  /** The trained policy; the caller owns it. */
  policy: GPT;
  /** Every trainer step of every training stage, in order. */
  history: StageStepLog[];
  /** Flat summary numbers ('pref/train_accuracy', 'cdpo/lambda_final', 'mocan/predicted_gain', …). */
  metrics: Record<string, number>;
  /** Wall seconds per phase ('train', 'sample', 'dual', 'eval', …) and 'total'. */
  timings: Record<string, number>;
  extras: E;
}

/** Settings of one preference-training run, shared by every method's config. */
export interface PreferenceTrainingConfig {
  /** β of the DPO forms / τ of IPO and BFPO (see the module comment). */
  beta: number;
  /** Pairs per step. */
  batchSize: number;
  /** Trainer steps (per round for C-DPO). */
  steps: number;
  learningRate: number;
  minLearningRate: number;
  warmupSteps: number;
  /** 0 by default: decay pulls weights to 0, not to the reference that DPO's KL keeps the policy near. */
  weightDecay: number;
  gradClipNorm: number;
  /** Root seed of the batch order and sampling streams. */
  seed: number;
  /** Pairs scored for the final pairwise accuracy (the first ones; 0 = skip). */
  evalPairs: number;
  /** Rows per forward pass when scoring and sampling. */
  evalBatchSize: number;
  /**
   * α of the NLL term on the preferred responses (TRL rpo_alpha; see trainPreference). 1 by default:
   * at our scale the pure sequence losses (α = 0, the papers' form) push the end-of-response token
   * down with the rejected responses and the policies ramble to the length limit (default preset,
   * DPO at β = 0.1: 73% of held-out answers truncated, benign helpfulness 3.6 -> −4.5; with α = 1:
   * 34%, 6.6). Set 0 for the papers' losses.
   */
  sftWeight: number;
  /** Cap on sampled response tokens (methods that sample); 0 = what fits the block after the prompt. */
  maxNewTokens: number;
}

/**
 * DPO defaults adapted to nano/micro GPTs: β = 0.1 as in the DPO paper and CAN; lr 5e-4 (the SFT
 * lr is 3e-3; the DPO papers use ~5e-7 on 7B models) with 10 warmup steps and cosine decay; the
 * NLL term on the preferred responses with weight 1 (`sftWeight`, TRL's rpo_alpha).
 */
export const DEFAULT_PREFERENCE_TRAINING: Readonly<PreferenceTrainingConfig> = Object.freeze({
  beta: 0.1,
  batchSize: 16,
  steps: 100,
  learningRate: 5e-4,
  minLearningRate: 5e-5,
  warmupSteps: 10,
  weightDecay: 0,
  gradClipNorm: 1,
  seed: 1,
  evalPairs: 512,
  evalBatchSize: 64,
  maxNewTokens: 0,
  sftWeight: 1,
});

export const PREFERENCE_TRAINING_CHECKS: FieldCheck<PreferenceTrainingConfig> = {
  beta: positive,
  batchSize: positiveInt,
  steps: (v) => (Number.isInteger(v) && v >= 0 ? undefined : 'must be an integer >= 0'),
  learningRate: nonNegative,
  minLearningRate: nonNegative,
  warmupSteps: (v) => (Number.isInteger(v) && v >= 0 ? undefined : 'must be an integer >= 0'),
  weightDecay: nonNegative,
  gradClipNorm: nonNegative,
  seed: (v) => (Number.isFinite(v) ? undefined : 'must be a finite number'),
  evalPairs: (v) => (Number.isInteger(v) && v >= 0 ? undefined : 'must be an integer >= 0'),
  evalBatchSize: positiveInt,
  sftWeight: nonNegative,
  maxNewTokens: (v) => (Number.isInteger(v) && v >= 0 ? undefined : 'must be an integer >= 0'),
};

/** The trainer settings of a preference run. */
export function trainerSettings(c: PreferenceTrainingConfig, steps = c.steps): Partial<TrainerConfig> {
  return {
    steps,
    learningRate: c.learningRate,
    minLearningRate: c.minLearningRate,
    warmupSteps: Math.min(c.warmupSteps, steps),
    weightDecay: c.weightDecay,
    gradClipNorm: c.gradClipNorm,
  };
}

/** Sampling options of a method's config. */
export function samplingOptions(c: PreferenceTrainingConfig, samplesPerPrompt: number): { samplesPerPrompt: number; batchSize: number; maxNewTokens?: number } {
  return { samplesPerPrompt, batchSize: c.evalBatchSize, ...(c.maxNewTokens > 0 ? { maxNewTokens: c.maxNewTokens } : {}) };
}

/** A trainable copy of the reference (the starting policy of every method). Caller owns it. */
export function copyPolicy(reference: GPT): GPT {
  return createGPT(reference.config, { copyOf: reference.params });
}

/** Wall-clock bookkeeping for `timings`. */
export class Stopwatch {
  readonly timings: Record<string, number> = {};
  private readonly t0 = performance.now();
  async time<T>(phase: string, fn: () => T | Promise<T>): Promise<T> {
    const t = performance.now();
    try {
      return await fn();
    } finally {
      this.timings[phase] = (this.timings[phase] ?? 0) + (performance.now() - t) / 1000;
    }
  }
  finish(): Record<string, number> {
    this.timings['total'] = (performance.now() - this.t0) / 1000;
    return this.timings;
  }
}

/** Runs one `trainPreference` stage, labelling its steps with `stage` and appending them to `history`. */
export async function trainStage(
  stage: string,
  policy: GPT,
  data: AlignmentData,
  pairs: readonly PreferencePair[],
  lossType: PreferenceLossType,
  c: PreferenceTrainingConfig,
  history: StageStepLog[],
  callbacks: MethodCallbacks,
  extra: { replay?: ReplayBuffer; steps?: number; nllRows?: NllRows } = {},
): Promise<void> {
  const res = await trainPreference(
    policy,
    data.reference,
    pairs,
    {
      lossType,
      beta: c.beta,
      batchSize: c.batchSize,
      sftWeight: c.sftWeight,
      padId: data.tokenizer.specials.pad,
      rng: createRng(c.seed).fork(`batches:${stage}`),
      ...(extra.replay ? { replay: extra.replay } : {}),
      ...(extra.nllRows ? { nllRows: extra.nllRows } : {}),
      ...cacheOf(data),
    },
    trainerSettings(c, extra.steps),
    { onStep: (log) => callbacks.onStep?.(log, stage) },
  );
  history.push(...res.history.map((h) => ({ ...h, stage })));
}

/**
 * Pairwise accuracy and mean margin of an evaluation (null: skipped) into metrics under `prefix`;
 * returns the two numbers for a method's extras.
 */
export function pairMetrics(prefix: string, e: PairEvaluation | null, metrics: Record<string, number>): { accuracy: number; meanMargin: number } | null {
  if (!e) return null;
  metrics[`${prefix}/train_accuracy`] = e.accuracy;
  metrics[`${prefix}/train_margin`] = e.meanMargin;
  return { accuracy: e.accuracy, meanMargin: e.meanMargin };
}

export async function evaluateTraining(
  policy: GPT,
  data: AlignmentData,
  pairs: readonly PreferencePair[],
  type: PreferenceLossType,
  c: PreferenceTrainingConfig,
): Promise<PairEvaluation | null> {
  if (c.evalPairs === 0) return null;
  return evaluatePairs(policy, data.reference, pairs.slice(0, c.evalPairs), type, { padId: data.tokenizer.specials.pad, batchSize: c.evalBatchSize, ...cacheOf(data) });
}

/** Σ log π_ref of dialogues: looked up in data.referenceLogProbs when there is one. */
export function referenceSums(data: AlignmentData, dialogues: readonly Dialogue[], batchSize: number): Promise<Float32Array> {
  return data.referenceLogProbs ? data.referenceLogProbs.of(dialogues) : dialogueLogProbSums(data.reference, dialogues, { padId: data.tokenizer.specials.pad, batchSize });
}

function cacheOf(data: AlignmentData): { referenceLogProbs?: ReferenceLogProbs } {
  return data.referenceLogProbs ? { referenceLogProbs: data.referenceLogProbs } : {};
}

export function lastMetrics(history: readonly StageStepLog[], metrics: Record<string, number>): void {
  const last = history[history.length - 1];
  if (!last) return;
  metrics['train/final_loss'] = last.loss;
  for (const [k, v] of Object.entries(last.metrics)) metrics[`final/${k}`] = v;
}

export function requireModels(where: string, data: AlignmentData): { rewardModel: ScoreModel; costModel: ScoreModel } {
  if (!data.rewardModel) throw new Error(`${where}: data.rewardModel is required`);
  if (!data.costModel) throw new Error(`${where}: data.costModel is required`);
  return { rewardModel: data.rewardModel, costModel: data.costModel };
}

// ---------------------------------------------------------------------------------------------
// DPO and IPO

export interface DpoConfig extends PreferenceTrainingConfig {
  /** Which preference the pairs follow: 'helpfulness' (better_response_id; DPO's usual data) or 'safety' (safer_response_id). */
  preference: 'helpfulness' | 'safety';
}

export const DEFAULT_DPO: Readonly<DpoConfig> = Object.freeze({ ...DEFAULT_PREFERENCE_TRAINING, preference: 'helpfulness' });

export function dpoConfig(overrides?: Partial<DpoConfig>): DpoConfig {
  return resolveConfig('DpoConfig', DEFAULT_DPO, overrides, { ...PREFERENCE_TRAINING_CHECKS, preference: oneOf('helpfulness', 'safety') } as FieldCheck<DpoConfig>);
}

/** IPO: τ = 0.2 by default (target margin 1/(2τ) = 2.5 nats; equal to BFPO's safe/safe target). */
export const DEFAULT_IPO: Readonly<DpoConfig> = Object.freeze({ ...DEFAULT_DPO, beta: 0.2 });

export function ipoConfig(overrides?: Partial<DpoConfig>): DpoConfig {
  return resolveConfig('IpoConfig', DEFAULT_IPO, overrides, { ...PREFERENCE_TRAINING_CHECKS, preference: oneOf('helpfulness', 'safety') } as FieldCheck<DpoConfig>);
}

export interface PairRunExtras {
  pairs: number;
  /** Pairwise accuracy and mean margin on the evaluated training pairs (null when evalPairs = 0). */
  evaluation: { accuracy: number; meanMargin: number } | null;
}

async function runPairs(method: string, lossType: 'dpo' | 'ipo', data: AlignmentData, c: DpoConfig, callbacks: MethodCallbacks): Promise<MethodResult<PairRunExtras>> {
  const clock = new Stopwatch();
  const pairs = c.preference === 'helpfulness' ? helpfulnessPairs(data.rows, data.tokenizer) : safetyPairs(data.rows, data.tokenizer);
  if (pairs.length === 0) throw new Error(`${FILE} ${method}: no ${c.preference} pairs in data.rows`);
  const policy = copyPolicy(data.reference);
  const history: StageStepLog[] = [];
  const metrics: Record<string, number> = { 'pref/pairs': pairs.length };
  let evaluation: PairRunExtras['evaluation'] = null;
  try {
    await clock.time('train', () => trainStage(method, policy, data, pairs, lossType, c, history, callbacks));
    const e = await clock.time('eval', () => evaluateTraining(policy, data, pairs, lossType, c));
    evaluation = pairMetrics('pref', e, metrics);
  } catch (err) {
    policy.dispose();
    throw err;
  }
  lastMetrics(history, metrics);
  return { method, config: { ...c }, policy, history, metrics, timings: clock.finish(), extras: { pairs: pairs.length, evaluation } };
}

/** DPO (Rafailov et al. 2023, eq. 7) from the reference on helpfulness (or safety) pairs. */
export function runDPO(data: AlignmentData, config: Partial<DpoConfig> = {}, callbacks: MethodCallbacks = {}): Promise<MethodResult<PairRunExtras>> {
  const c = dpoConfig(config);
  return runPairs(c.preference === 'helpfulness' ? 'dpo' : 'dpo-safe', 'dpo', data, c, callbacks);
}

/** IPO (Azar et al. 2023, eq. 17) from the reference; `beta` is τ. */
export function runIPO(data: AlignmentData, config: Partial<DpoConfig> = {}, callbacks: MethodCallbacks = {}): Promise<MethodResult<PairRunExtras>> {
  const c = ipoConfig(config);
  return runPairs(c.preference === 'helpfulness' ? 'ipo' : 'ipo-safe', 'ipo', data, c, callbacks);
}
