/**
 * C-DPO as a runnable method (Liu, Sun, Zheng, "Enhancing LLM Safety via Constrained Direct
 * Preference Optimization", arXiv 2403.02475; shared/design/dualized-and-dpo.md section 2): K outer
 * rounds of relabel (p*_λ from the reward and cost models, `cdpoRelabelProbability`) -> soft-label
 * DPO warm-started from the previous round's policy -> Ê_{π_λ} c from samples of the current policy
 * scored by the cost model -> λ ← max(0, λ + η(Ê c − C_limit)) (`cdpoLambdaStep`, src/align/cdpo.ts).
 */
import { nonNegative, oneOf, positiveInt, resolveConfig, type FieldCheck } from '../util/config.js';
import { createRng } from '../util/rng.js';
import { cdpoLambdaStep, cdpoRelabelProbability } from './cdpo.js';
import {
  copyPolicy,
  DEFAULT_PREFERENCE_TRAINING,
  lastMetrics,
  PREFERENCE_TRAINING_CHECKS,
  requireModels,
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
import { arrayMean, checkPairScores, goldSamples, samplePolicy, scorePairs, scoreSamples } from './sampling.js';

const FILE = 'src/align/cdpo-method.ts';
export interface CdpoRunConfig extends PreferenceTrainingConfig {
  /** Outer rounds K (each: relabel, DPO warm-started for `steps`, estimate cost, λ step). */
  rounds: number;
  /** λ of the first round. */
  lambda0: number;
  /** η of λ ← max(0, λ + η(Ê c − C_limit)). */
  lambdaLr: number;
  /** C_limit (cost-model units; the paper's 0 = the cost model's safe/unsafe boundary). */
  costLimit: number;
  /** Prompts sampled per round for Ê_{π_λ} c (the first ones of data.prompts). */
  prompts: number;
  samplesPerPrompt: number;
  /** 'soft': p*_λ as the label of 'dpo_soft' (expected Bernoulli label); 'hard': p*_λ > ½ as a hard label. */
  labels: 'soft' | 'hard';
}

export const DEFAULT_CDPO_RUN: Readonly<CdpoRunConfig> = Object.freeze({
  ...DEFAULT_PREFERENCE_TRAINING,
  steps: 50,
  rounds: 3,
  lambda0: 1,
  lambdaLr: 0.5,
  costLimit: 0,
  prompts: 64,
  samplesPerPrompt: 2,
  labels: 'soft',
});

export function cdpoRunConfig(overrides?: Partial<CdpoRunConfig>): CdpoRunConfig {
  return resolveConfig('CdpoRunConfig', DEFAULT_CDPO_RUN, overrides, {
    ...PREFERENCE_TRAINING_CHECKS,
    rounds: positiveInt,
    lambda0: nonNegative,
    lambdaLr: nonNegative,
    costLimit: (v: number) => (Number.isFinite(v) ? undefined : 'must be finite'),
    prompts: positiveInt,
    samplesPerPrompt: positiveInt,
    labels: oneOf('soft', 'hard'),
  } as FieldCheck<CdpoRunConfig>);
}

export interface CdpoRound {
  round: number;
  /** λ used to relabel this round. */
  lambda: number;
  /** Ê_{π_λ} c: mean cost-model score of the round's samples. */
  sampledCost: number;
  /** Ê_{π_λ} r (reward model). */
  sampledReward: number;
  /** Ê c ≤ C_limit. */
  feasible: boolean;
  /** λ after the dual step. */
  nextLambda: number;
  /** Fraction of pairs whose label prefers y_w (p > ½). */
  chosenShare: number;
  /** Gold harmful rate and helpfulness of the round's samples. */
  goldHarmfulRate: number;
  goldHelpfulness: number;
}

export interface CdpoExtras {
  rounds: CdpoRound[];
  /** λ_0 … λ_K. */
  lambdas: number[];
  pairs: number;
}

/** C-DPO's outer loop (see the module comment). Needs data.rewardModel and data.costModel. */
export async function runCDPO(data: AlignmentData, config: Partial<CdpoRunConfig> = {}, callbacks: MethodCallbacks = {}): Promise<MethodResult<CdpoExtras>> {
  const where = `${FILE} runCDPO`;
  const c = cdpoRunConfig(config);
  const { rewardModel, costModel } = requireModels(where, data);
  if (data.prompts.length === 0) throw new Error(`${where}: data.prompts is empty`);
  const clock = new Stopwatch();
  const pad = data.tokenizer.specials.pad;
  const base = helpfulnessPairs(data.rows, data.tokenizer);
  if (base.length === 0) throw new Error(`${where}: no pairs in data.rows`);
  const scores = data.pairScores ?? (await clock.time('score', () => scorePairs(rewardModel, costModel, base, pad, c.evalBatchSize)));
  checkPairScores(where, scores.reward.chosen.length, base.length);
  const scored = { r: scores.reward, c: scores.cost };
  const prompts = data.prompts.slice(0, c.prompts);
  const policy = copyPolicy(data.reference);
  const history: StageStepLog[] = [];
  const rounds: CdpoRound[] = [];
  const lambdas = [c.lambda0];
  const root = createRng(c.seed);
  let lambda = c.lambda0;
  try {
    for (let k = 0; k < c.rounds; k++) {
      const stage = `cdpo/round-${k + 1}`;
      // 1. relabel by the Lagrangian reward r − λc
      const p = base.map((_, i) => {
        const q = cdpoRelabelProbability(scored.r.chosen[i]!, scored.r.rejected[i]!, scored.c.chosen[i]!, scored.c.rejected[i]!, lambda);
        return c.labels === 'soft' ? q : q > 0.5 ? 1 : 0;
      });
      const pairs = withSoftLabels(base, p);
      // 2. DPO, warm-started from the previous round's policy
      await clock.time('train', () => trainStage(stage, policy, data, pairs, 'dpo_soft', c, history, callbacks));
      // 3. Ê_{π_λ} c from the current policy's samples, scored by the cost model
      const { cost, reward, gold } = await clock.time('sample', async () => {
        const set = await samplePolicy(policy, data.tokenizer, prompts, root.fork(`${stage}:sample`), samplingOptions(c, c.samplesPerPrompt));
        return { cost: await scoreSamples(costModel, set, pad, c.evalBatchSize), reward: await scoreSamples(rewardModel, set, pad, c.evalBatchSize), gold: goldSamples(set) };
      });
      const sampledCost = arrayMean(cost);
      // 4. dual step
      const nextLambda = cdpoLambdaStep(lambda, sampledCost, c.costLimit, c.lambdaLr);
      rounds.push({
        round: k + 1,
        lambda,
        sampledCost,
        sampledReward: arrayMean(reward),
        feasible: sampledCost <= c.costLimit,
        nextLambda,
        chosenShare: p.filter((x) => x > 0.5).length / p.length,
        goldHarmfulRate: 1 - arrayMean(gold.safe),
        goldHelpfulness: arrayMean(gold.helpfulness),
      });
      callbacks.onEvent?.(`C-DPO round ${k + 1}/${c.rounds}: λ ${lambda.toFixed(3)}, Ê c ${sampledCost.toFixed(3)} (limit ${c.costLimit}) -> λ ${nextLambda.toFixed(3)}`);
      lambda = nextLambda;
      lambdas.push(lambda);
    }
  } catch (err) {
    policy.dispose();
    throw err;
  }
  const last = rounds[rounds.length - 1]!;
  const metrics: Record<string, number> = {
    'pref/pairs': base.length,
    'cdpo/lambda_final': lambda,
    'cdpo/lambda_last_used': last.lambda,
    'cdpo/sampled_cost': last.sampledCost,
    'cdpo/sampled_reward': last.sampledReward,
    'cdpo/feasible': last.feasible ? 1 : 0,
  };
  lastMetrics(history, metrics);
  return { method: 'cdpo', config: { ...c }, policy, history, metrics, timings: clock.finish(), extras: { rounds, lambdas, pairs: base.length } };
}
