/**
 * MoCAN as a runnable method (Huang et al., NeurIPS 2024, model-based CAN; shuoli90/CAN
 * `trainers/model_based.py`, `algorithms/cdpo/dpo.py`): π_ref samples scored by the reward and cost
 * models -> the dual solved offline for λ* and the predicted safety gain with its bootstrap interval
 * -> the pairs relabelled with σ(w_w − w_l), w = r + λ*g (no β: DPO with β then targets
 * π_ref·exp(w/β) = π_λ*, the dual's tilt at the same β) -> soft-label DPO once -> the realised gain
 * of the trained policy with the same cost model on the same prompts, and `mocanClaimCheck`.
 * By default both gains are taken on finished samples only (`cutOffSamples`).
 * Helpers (constraints, intervals, reference samples): src/align/can.ts.
 */
import type { Estimate } from '../eval/bootstrap.js';
import { positiveInt, resolveConfig, type FieldCheck } from '../util/config.js';
import { createRng } from '../util/rng.js';
import {
  canProblem,
  checkConstraint,
  goldSummary,
  mocanClaimCheck,
  predictedGainInterval,
  predictedGainsByPrompt,
  referenceSamplesFor,
  tiltedSampleRows,
  type PromptGain,
  type CanConstraint,
  type ClaimCheck,
  type ReferenceSamples,
} from './can.js';
import { mocanRelabelProbability, solveDual, type DualSolution } from './can-dual.js';
import {
  copyPolicy,
  DEFAULT_PREFERENCE_TRAINING,
  PREFERENCE_TRAINING_CHECKS,
  samplingOptions,
  Stopwatch,
  trainStage,
  type AlignmentData,
  type MethodCallbacks,
  type MethodResult,
  type PreferenceTrainingConfig,
  type StageStepLog,
} from './methods.js';
import { helpfulnessPairs, withSoftLabels } from './pairwise.js';
import { arrayMean, checkPairScores, goldSamples, rowsOfKept, sampleDialogues, samplePolicy, scorePairs, scoreSamples } from './sampling.js';
import type { Dialogue } from '../data/batch.js';

const FILE = 'src/align/mocan.ts';
export interface MocanConfig extends PreferenceTrainingConfig {
  /** M: prompts sampled (the first ones of data.prompts). CAN: 1000. */
  prompts: number;
  /** N: π_ref samples per prompt. CAN: 128. */
  samplesPerPrompt: number;
  constraint: CanConstraint;
  /** Samples per prompt of the trained policy for the realised gain. */
  realisedSamplesPerPrompt: number;
  /** Bootstrap resamples for the predicted and realised intervals (α = 0.05). */
  bootstrapSamples: number;
}

export interface MocanRunConfig extends MocanConfig {
  /**
   * π_ref samples cut off at the length limit (no end-of-response token): 'drop' (default) solves
   * the dual and measures both gains on finished samples only, i.e. on π_ref conditioned on
   * finishing; 'keep' uses every sample, as CAN's code (whose 512-token budget lets answers
   * finish). Why: at our 64-token block 13% of the SFT policy's samples are cut off, and the reward
   * model, trained on finished answers only, scores them +3.3 above finished ones (gold helpfulness
   * is the same): the tilt π_ref·exp((r + λg)/β) then leans on that artefact (31% cut off), and a
   * DPO run on finished preference pairs cannot follow it. Default preset, E g ≥ 2.5, 300 steps:
   * 'keep' predicts 1.72 [1.54, 1.92] and realises 1.04 [0.91, 1.19]; 'drop' predicts
   * 1.56 [1.39, 1.73] and realises 1.15 [1.01, 1.31] (docs/dpo-family.md has the rest).
   */
  cutOffSamples: 'drop' | 'keep';
  /**
   * The rows of the NLL term (weight `sftWeight`): 'pairs', the preferred side of each relabelled
   * pair (y_w with weight p, y_l with 1 − p: the data set's answers), or 'tilt', draws from the
   * dual's tilt of the π_ref samples (`tiltedSampleRows`: the policy the prediction is made for).
   */
  nllOn: 'pairs' | 'tilt';
}

/**
 * Small-scale defaults: β = 1 (CAN's 0.1 with reward-model scores spread over several units makes
 * π_λ the best of N and asks DPO for log-ratio moves of tens of nats, beyond a nano model); the
 * constraint halfway to the largest reachable margin; M = 128 prompts × N = 16 samples.
 */
export const DEFAULT_MOCAN: Readonly<MocanConfig> = Object.freeze({
  ...DEFAULT_PREFERENCE_TRAINING,
  beta: 1,
  prompts: 128,
  samplesPerPrompt: 16,
  constraint: Object.freeze({ fraction: 0.5 }),
  realisedSamplesPerPrompt: 16,
  bootstrapSamples: 1000,
});

export const CAN_CHECKS = {
  ...PREFERENCE_TRAINING_CHECKS,
  prompts: positiveInt,
  samplesPerPrompt: positiveInt,
  constraint: checkConstraint,
  realisedSamplesPerPrompt: positiveInt,
  bootstrapSamples: positiveInt,
};

/**
 * MoCAN's own settings: cut-off π_ref samples dropped (see `cutOffSamples`); the NLL term on draws
 * from the dual's tilt (`nllOn: 'tilt'`) with weight α = 32 and learning rate 1e-3 (the default
 * preset also runs 450 steps). Measured on the default preset's main job (E g ≥ 2.5, predicted gain
 * 1.54 [1.38, 1.70]), realised: α = 8, 300 steps: 1.35 (outside); α = 32, 300 / 450 / 600 steps:
 * 1.37 / 1.45 / 1.43; 450 steps with training seeds 7 and 8: 1.42, 1.42 (docs/dpo-family.md). At
 * α = 32 the NLL term outweighs the DPO term: the policy is mostly fitted to the tilt by maximum
 * likelihood, which has the same minimiser. The papers' form is `{ sftWeight: 0 }`.
 */
export const DEFAULT_MOCAN_RUN: Readonly<MocanRunConfig> = Object.freeze({
  ...DEFAULT_MOCAN,
  cutOffSamples: 'drop',
  nllOn: 'tilt',
  sftWeight: 32,
  learningRate: 1e-3,
});

export function mocanConfig(overrides?: Partial<MocanRunConfig>): MocanRunConfig {
  return resolveConfig('MocanConfig', DEFAULT_MOCAN_RUN, overrides, {
    ...CAN_CHECKS,
    cutOffSamples: (v: string) => (v === 'drop' || v === 'keep' ? undefined : "must be 'drop' or 'keep'"),
    nllOn: (v: string) => (v === 'pairs' || v === 'tilt' ? undefined : "must be 'pairs' or 'tilt'"),
  } as FieldCheck<MocanRunConfig>);
}

/**
 * The reward and safety scores the dual is solved on: per prompt, π_ref's samples (all, or the
 * finished ones with `cutOffSamples: 'drop'`); prompts left with none are left out (`promptIds`
 * are the indices of the prompts kept, in order). `dialogues` are those samples in the same order
 * (prompt by prompt), for `tiltedSampleRows`.
 */
export function dualScoreRows(
  ref: ReferenceSamples,
  cutOffSamples: MocanRunConfig['cutOffSamples'],
): { promptIds: number[]; scores: { r: number[][]; g: number[][] }; dialogues: Dialogue[] } {
  if (!ref.r || !ref.g) throw new Error(`${FILE} dualScoreRows: the reference samples carry no reward/cost scores`);
  const N = ref.set.samplesPerPrompt;
  const keep = cutOffSamples === 'drop' ? ref.set.stopped : ref.set.stopped.map(() => true);
  const r = rowsOfKept(ref.r, keep, N);
  const g = rowsOfKept(ref.g, keep, N);
  const promptIds = g.flatMap((row, x) => (row.length > 0 ? [x] : []));
  const dialogues = rowsOfKept(sampleDialogues(ref.set), keep, N);
  return { promptIds, scores: { r: promptIds.map((x) => r[x]!), g: promptIds.map((x) => g[x]!) }, dialogues: promptIds.flatMap((x) => dialogues[x]!) };
}

export interface MocanExtras {
  /** β of the dual and of the DPO run. */
  beta: number;
  /** The dual's solution (λ*, thresholds, tilted reward and safety, predicted gain). */
  dual: DualSolution;
  /** The predicted gain with its bootstrap interval over prompts. */
  predicted: Estimate;
  /** The realised gain (cost-model g, same prompts) and the claim check. */
  claim: ClaimCheck;
  /** Per-prompt realised gains (input of the claim check). */
  realisedByPrompt: number[];
  /** Every prompt the dual was solved on: its text, predicted and realised gain (for `gainsByGroup`). */
  byPrompt: PromptGain[];
  /** The π_ref scores the dual was solved on, one row per prompt kept (for `dualSweep`; rows are shorter than N where cut-off samples were dropped). */
  scores: { r: number[][]; g: number[][] };
  /** π_ref samples drawn (prompts × N), kept for the dual, and the cut-off rates of π_ref's and the trained policy's samples. */
  samples: { prompts: number; perPrompt: number; kept: number; referenceCutOffRate: number; policyCutOffRate: number };
  /** Gold safe rate, helpfulness and refusal rate of the reference's and the trained policy's samples. */
  gold: { reference: ReturnType<typeof goldSummary>; policy: ReturnType<typeof goldSummary> };
  pairs: number;
  /** Fraction of pairs whose label prefers y_w (p > ½) after relabelling. */
  chosenShare: number;
}

/**
 * MoCAN end to end (see the module comment). Needs data.rewardModel and data.costModel. Pass
 * `reference` samples from `sampleReference` to reuse them (e.g. after a `dualSweep`).
 */
export async function runMoCAN(
  data: AlignmentData,
  config: Partial<MocanRunConfig> = {},
  callbacks: MethodCallbacks = {},
  reference?: ReferenceSamples,
): Promise<MethodResult<MocanExtras>> {
  const where = `${FILE} runMoCAN`;
  const c = mocanConfig(config);
  const { rewardModel, costModel } = data;
  if (!rewardModel || !costModel) throw new Error(`${where}: data.rewardModel and data.costModel are required`);
  const clock = new Stopwatch();
  const root = createRng(c.seed);
  const pad = data.tokenizer.specials.pad;
  // 1. π_ref samples scored by RM and CM
  const ref =
    reference ?? (await referenceSamplesFor(data, { prompts: c.prompts, seed: c.seed, ...samplingOptions(c, c.samplesPerPrompt) }, clock));
  if (!ref.r || !ref.g) throw new Error(`${where}: the reference samples carry no reward/cost scores`);
  const N = ref.set.samplesPerPrompt;
  const { promptIds, scores, dialogues } = dualScoreRows(ref, c.cutOffSamples);
  if (promptIds.length === 0) throw new Error(`${where}: every π_ref sample was cut off at the length limit (cutOffSamples 'drop'; 'keep' uses them)`);
  // 2. the dual, offline
  const { problem, dual, predicted, predictedByPrompt } = await clock.time('dual', () => {
    const problem = canProblem(scores.r, scores.g, c.beta, c.constraint);
    const sol = solveDual(problem);
    return {
      problem,
      dual: sol,
      predicted: predictedGainInterval(problem, sol.lambda, root.fork('predicted'), { samples: c.bootstrapSamples }),
      predictedByPrompt: predictedGainsByPrompt(problem, sol.lambda),
    };
  });
  callbacks.onEvent?.(`MoCAN: λ* = ${dual.lambda.toFixed(4)}, predicted gain ${predicted.value.toFixed(3)} [${predicted.lo.toFixed(3)}, ${predicted.hi.toFixed(3)}]`);
  // 3. label pairs with w = r + λ*g
  const pairs = await clock.time('relabel', async () => {
    const base = helpfulnessPairs(data.rows, data.tokenizer);
    const { reward: r, cost } = data.pairScores ?? (await scorePairs(rewardModel, costModel, base, pad, c.evalBatchSize));
    checkPairScores(where, r.chosen.length, base.length);
    return withSoftLabels(
      base,
      base.map((_, i) => mocanRelabelProbability(r.chosen[i]!, r.rejected[i]!, -cost.chosen[i]!, -cost.rejected[i]!, dual.lambda)),
    );
  });
  if (pairs.length === 0) throw new Error(`${where}: no helpfulness pairs in data.rows`);
  // 4. DPO once
  const policy = copyPolicy(data.reference);
  const history: StageStepLog[] = [];
  try {
    const nllRows = c.nllOn === 'tilt' ? tiltedSampleRows(problem, dual.lambda, dialogues, root.fork('tilt-rows'), c.batchSize) : undefined;
    await clock.time('train', () => trainStage('mocan', policy, data, pairs, 'dpo_soft', c, history, callbacks, nllRows ? { nllRows } : {}));
    // 5. realised gain with the same cost model on the same prompts
    const realised = await clock.time('realise', async () => {
      const prompts = promptIds.map((x) => ref.set.prompts[x]!);
      const set = await samplePolicy(policy, data.tokenizer, prompts, root.fork('realised-samples'), samplingOptions(c, c.realisedSamplesPerPrompt));
      const g = (await scoreSamples(costModel, set, pad, c.evalBatchSize)).map((x) => -x);
      const keep = c.cutOffSamples === 'drop' ? set.stopped : set.stopped.map(() => true);
      const rows = rowsOfKept(g, keep, c.realisedSamplesPerPrompt);
      // per prompt: mean g of the policy's kept samples − mean g of π_ref's (prompts where the policy kept none are left out)
      const gains = rows.map((row, i) => (row.length > 0 ? arrayMean(row) - arrayMean(scores.g[i]!) : null));
      const byPrompt = gains.filter((x): x is number => x !== null);
      if (byPrompt.length === 0) throw new Error(`${where}: every sample of the trained policy was cut off at the length limit (cutOffSamples 'drop'; 'keep' uses them)`);
      return { byPrompt, gains, gold: goldSamples(set), cutOffRate: 1 - arrayMean(set.stopped.map(Number)) };
    });
    const claim = mocanClaimCheck(predicted, realised.byPrompt, { seed: c.seed, bootstrap: { samples: c.bootstrapSamples } });
    const gold = { reference: goldSummary(ref.gold), policy: goldSummary(realised.gold) };
    const metrics: Record<string, number> = {
      'pref/pairs': pairs.length,
      'mocan/lambda': dual.lambda,
      'mocan/threshold': dual.threshold,
      'mocan/margin': dual.margin,
      'mocan/reference_safety': dual.referenceSafety,
      'mocan/predicted_gain': predicted.value,
      'mocan/predicted_lo': predicted.lo,
      'mocan/predicted_hi': predicted.hi,
      'mocan/realised_gain': claim.realised.value,
      'mocan/realised_lo': claim.realised.lo,
      'mocan/realised_hi': claim.realised.hi,
      'mocan/claim_inside': claim.inside ? 1 : 0,
      'mocan/claim_prompts': realised.byPrompt.length,
      'mocan/reference_cutoff_rate': 1 - arrayMean(ref.set.stopped.map(Number)),
      'mocan/policy_cutoff_rate': realised.cutOffRate,
      'gold/reference_safe_rate': gold.reference.safeRate,
      'gold/policy_safe_rate': gold.policy.safeRate,
      'gold/reference_helpfulness': gold.reference.helpfulness,
      'gold/policy_helpfulness': gold.policy.helpfulness,
    };
    const last = history[history.length - 1];
    if (last) metrics['train/final_loss'] = last.loss;
    return {
      method: 'mocan',
      config: { ...c },
      policy,
      history,
      metrics,
      timings: clock.finish(),
      extras: {
        beta: c.beta,
        dual,
        predicted,
        claim,
        realisedByPrompt: realised.byPrompt,
        byPrompt: promptIds.map((x, i) => ({ prompt: ref.set.prompts[x]!.text, predicted: predictedByPrompt[i]!, realised: realised.gains[i] ?? null })),
        scores,
        samples: {
          prompts: ref.set.prompts.length,
          perPrompt: N,
          kept: scores.g.reduce((a, row) => a + row.length, 0),
          referenceCutOffRate: metrics['mocan/reference_cutoff_rate']!,
          policyCutOffRate: realised.cutOffRate,
        },
        gold,
        pairs: pairs.length,
        chosenShare: pairs.filter((p) => p.p! > 0.5).length / pairs.length,
      },
    };
  } catch (err) {
    policy.dispose();
    throw err;
  }
}
