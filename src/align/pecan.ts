/**
 * PeCAN as a runnable method (Huang et al., NeurIPS 2024, preference-based CAN; shuoli90/CAN
 * `dpo_alg2.py`, `preference_based_dual_trainer*.ipynb`): DPO-train π_r on helpfulness pairs and π_g
 * on safety pairs -> u = log π_r − log π_ref, v = log π_g − log π_ref on the π_ref samples ->
 * `solvePeCANDual`-style dual with logits u + λv -> relabel with σ(s·[Δu + λΔv]) -> DPO once.
 * β placement (`relabelScale: 'beta'`, our default): s = β. Soft-label DPO with β fits
 * βh = logit p, i.e. log π/π_ref = s(u + λv)/β + const; with s = β that is u + λv, exactly the tilt
 * the dual solved for (π_ref·exp(u + λv)). The CAN code uses s = 1 (`'one'`): labels near 0/1 and a
 * target tilted 1/β times too far. Gains are in log-ratio units of v (× β: implicit-reward units).
 * π_r is plain DPO on the helpfulness pairs, so a DPO policy trained with the same β and NLL weight
 * (`data.helpfulPolicy`; the main job passes its DPO stage's) is reused rather than trained again.
 */
import { bootstrapMean, type Estimate } from '../eval/bootstrap.js';
import type { GPT } from '../model/gpt.js';
import { resolveConfig, type FieldCheck } from '../util/config.js';
import { createRng } from '../util/rng.js';
import {
  canProblem,
  goldSummary,
  mocanClaimCheck,
  perPromptGain,
  predictedGainInterval,
  referenceSamplesFor,
  type CanConstraint,
  type ClaimCheck,
  type ReferenceSamples,
} from './can.js';
import { pecanRelabelProbability, solveDual, type DualSolution } from './can-dual.js';
import {
  copyPolicy,
  referenceSums,
  samplingOptions,
  Stopwatch,
  trainStage,
  type AlignmentData,
  type MethodCallbacks,
  type MethodResult,
  type PreferenceTrainingConfig,
  type StageStepLog,
} from './methods.js';
import { CAN_CHECKS, DEFAULT_MOCAN, type MocanConfig } from './mocan.js';
import { dialogueLogProbSums, helpfulnessPairs, safetyPairs, withSoftLabels, type PreferencePair } from './pairwise.js';
import { goldSamples, sampleDialogues, samplePolicy, scoreSamples, toRows } from './sampling.js';

const FILE = 'src/align/pecan.ts';
export interface PecanConfig extends MocanConfig {
  /** Steps of the helpfulness-only DPO run (π_r); 0 -> `steps`. */
  helpfulSteps: number;
  /** Steps of the safety-only DPO run (π_g); 0 -> `steps`. */
  safeSteps: number;
  /** s in σ(s·[Δu + λΔv]): 'beta' (BT-consistent, our default) or 'one' (the CAN code). */
  relabelScale: 'beta' | 'one';
}

/**
 * PeCAN at small scale: β = 0.1 (log-ratios of DPO-trained nano policies are a few nats, so the
 * implicit rewards βu, βv stay O(1)); the constraint halfway to the largest margin reachable in v.
 * `constraint.margin`/`threshold` are in implicit-reward units (β·v), as the CAN notebook's b ∈ [0, 3].
 */
export const DEFAULT_PECAN: Readonly<PecanConfig> = Object.freeze({
  ...DEFAULT_MOCAN,
  beta: 0.1,
  helpfulSteps: 0,
  safeSteps: 0,
  relabelScale: 'beta',
});

export function pecanConfig(overrides?: Partial<PecanConfig>): PecanConfig {
  return resolveConfig('PecanConfig', DEFAULT_PECAN, overrides, {
    ...CAN_CHECKS,
    helpfulSteps: (v: number) => (Number.isInteger(v) && v >= 0 ? undefined : 'must be an integer >= 0'),
    safeSteps: (v: number) => (Number.isInteger(v) && v >= 0 ? undefined : 'must be an integer >= 0'),
    relabelScale: (v: string) => (v === 'beta' || v === 'one' ? undefined : "must be 'beta' or 'one'"),
  } as FieldCheck<PecanConfig>);
}

export interface PecanExtras {
  /** β of the three DPO runs (the implicit rewards are βu, βv). */
  beta: number;
  /** Solution of CAN with r = u, g = v, β = 1: every number in log-ratio units of v. */
  dual: DualSolution;
  /** Predicted gain in v (log-ratio) units with its bootstrap interval. */
  predicted: Estimate;
  /** Realised gain in v units: Ê_{π} v − Ê_ref v per prompt (v = log π_g − log π_ref on each policy's samples). */
  claim: ClaimCheck;
  realisedByPrompt: number[];
  /** Realised gain in cost-model g units when data.costModel is given. */
  costModelGain?: Estimate;
  /** Scale s of the relabelling logit. */
  relabelScale: number;
  /** u and v matrices on the reference samples (rows of N). */
  scores: { u: number[][]; v: number[][] };
  gold: { reference: ReturnType<typeof goldSummary>; policy: ReturnType<typeof goldSummary> };
  /** Pairwise accuracy of π_r on its helpfulness pairs and π_g on its safety pairs (sign of h). */
  auxiliaryAccuracy: { helpful: number; safe: number };
  pairs: number;
  chosenShare: number;
}

/** Pairwise accuracy (h > 0) on the first `evalPairs` pairs; NaN when evalPairs = 0 (skipped). */
async function accuracyOf(policy: GPT, data: AlignmentData, pairs: readonly PreferencePair[], c: PreferenceTrainingConfig): Promise<number> {
  if (c.evalPairs === 0) return NaN;
  const sample = pairs.slice(0, c.evalPairs);
  const pad = { padId: data.tokenizer.specials.pad, batchSize: c.evalBatchSize };
  const chosen = sample.map((p) => ({ prompt: p.prompt, response: p.chosen }));
  const rejected = sample.map((p) => ({ prompt: p.prompt, response: p.rejected }));
  const a = await dialogueLogProbSums(policy, chosen, pad);
  const b = await dialogueLogProbSums(policy, rejected, pad);
  const ra = await referenceSums(data, chosen, c.evalBatchSize);
  const rb = await referenceSums(data, rejected, c.evalBatchSize);
  let right = 0;
  for (let i = 0; i < sample.length; i++) if (a[i]! - ra[i]! > b[i]! - rb[i]!) right++;
  return sample.length ? right / sample.length : NaN;
}

/** PeCAN end to end (see the module comment). Reuse MoCAN's reference samples by passing them. */
export async function runPeCAN(
  data: AlignmentData,
  config: Partial<PecanConfig> = {},
  callbacks: MethodCallbacks = {},
  reference?: ReferenceSamples,
): Promise<MethodResult<PecanExtras>> {
  const where = `${FILE} runPeCAN`;
  const c = pecanConfig(config);
  const clock = new Stopwatch();
  const root = createRng(c.seed);
  const pad = data.tokenizer.specials.pad;
  const lp = { padId: pad, batchSize: c.evalBatchSize };
  const helpful = helpfulnessPairs(data.rows, data.tokenizer);
  const safe = safetyPairs(data.rows, data.tokenizer);
  if (helpful.length === 0 || safe.length === 0) throw new Error(`${where}: data.rows gives ${helpful.length} helpfulness and ${safe.length} safety pairs; both are needed`);
  const history: StageStepLog[] = [];
  const given = data.helpfulPolicy;
  if (given && (given.method !== 'dpo' || given.beta !== c.beta || given.sftWeight !== c.sftWeight)) {
    throw new Error(
      `${where}: data.helpfulPolicy was trained by '${given.method}' with β ${given.beta}, NLL weight ${given.sftWeight}; ` +
        `PeCAN's π_r must be DPO with β ${c.beta}, NLL weight ${c.sftWeight} (u = log π_r − log π_ref is read at that β)`,
    );
  }
  const piR = given ? given.policy : copyPolicy(data.reference);
  const piG = copyPolicy(data.reference);
  let policy: GPT | null = null;
  try {
    // 1. the two single-objective DPO policies (π_r reused when given)
    if (!given) await clock.time('train_helpful', () => trainStage('pecan/helpful', piR, data, helpful, 'dpo', c, history, callbacks, { steps: c.helpfulSteps || c.steps }));
    await clock.time('train_safe', () => trainStage('pecan/safe', piG, data, safe, 'dpo', c, history, callbacks, { steps: c.safeSteps || c.steps }));
    const auxiliaryAccuracy = await clock.time('eval', async () => ({ helpful: await accuracyOf(piR, data, helpful, c), safe: await accuracyOf(piG, data, safe, c) }));
    // 2. implicit rewards on the reference samples, and the dual
    const ref =
      reference ?? (await referenceSamplesFor(data, { prompts: c.prompts, seed: c.seed, ...samplingOptions(c, c.samplesPerPrompt) }, clock));
    const N = ref.set.samplesPerPrompt;
    const { u, v } = await clock.time('log_ratios', async () => {
      const d = sampleDialogues(ref.set);
      const lref = await referenceSums(data, d, c.evalBatchSize);
      const lr = await dialogueLogProbSums(piR, d, lp);
      const lg = await dialogueLogProbSums(piG, d, lp);
      return { u: lr.map((x, i) => x - lref[i]!), v: lg.map((x, i) => x - lref[i]!) };
    });
    const scores = { u: toRows(u, N), v: toRows(v, N) };
    // CAN with r = u, g = v, β = 1 (logits u + λv); the constraint in implicit units -> v units (÷β)
    const constraint: CanConstraint =
      'fraction' in c.constraint
        ? c.constraint
        : 'margin' in c.constraint
          ? { margin: c.constraint.margin / c.beta }
          : { threshold: c.constraint.threshold / c.beta };
    const { dual, predicted } = await clock.time('dual', () => {
      const problem = canProblem(scores.u, scores.v, 1, constraint);
      const sol = solveDual(problem);
      return { dual: sol, predicted: predictedGainInterval(problem, sol.lambda, root.fork('predicted'), { samples: c.bootstrapSamples }) };
    });
    callbacks.onEvent?.(`PeCAN: λ* = ${dual.lambda.toFixed(4)}, predicted gain ${predicted.value.toFixed(3)} nats of v`);
    // 3. relabel with σ(s·[Δu + λΔv])
    const scale = c.relabelScale === 'beta' ? c.beta : 1;
    const labels = await clock.time('relabel', async () => {
      const chosen = helpful.map((p) => ({ prompt: p.prompt, response: p.chosen }));
      const rejected = helpful.map((p) => ({ prompt: p.prompt, response: p.rejected }));
      const [rc, rr] = [await referenceSums(data, chosen, c.evalBatchSize), await referenceSums(data, rejected, c.evalBatchSize)];
      const [uc, ur] = [await dialogueLogProbSums(piR, chosen, lp), await dialogueLogProbSums(piR, rejected, lp)];
      const [vc, vr] = [await dialogueLogProbSums(piG, chosen, lp), await dialogueLogProbSums(piG, rejected, lp)];
      return helpful.map((_, i) => pecanRelabelProbability(uc[i]! - rc[i]!, ur[i]! - rr[i]!, vc[i]! - rc[i]!, vr[i]! - rr[i]!, dual.lambda, scale));
    });
    // 4. DPO once
    policy = copyPolicy(data.reference);
    const trained = policy;
    await clock.time('train', () => trainStage('pecan', trained, data, withSoftLabels(helpful, labels), 'dpo_soft', c, history, callbacks));
    // 5. realised gain in v units (and cost-model units when available)
    const realised = await clock.time('realise', async () => {
      const set = await samplePolicy(trained, data.tokenizer, ref.set.prompts, root.fork('realised-samples'), samplingOptions(c, c.realisedSamplesPerPrompt));
      const d = sampleDialogues(set);
      const lref = await referenceSums(data, d, c.evalBatchSize);
      const lg = await dialogueLogProbSums(piG, d, lp);
      const vPolicy = lg.map((x, i) => x - lref[i]!);
      let costGain: Estimate | undefined;
      if (data.costModel && ref.g) {
        const g = (await scoreSamples(data.costModel, set, pad, c.evalBatchSize)).map((x) => -x);
        costGain = bootstrapMean(perPromptGain(g, c.realisedSamplesPerPrompt, ref.g, N), root.fork('cost-gain'), { samples: c.bootstrapSamples });
      }
      return { byPrompt: perPromptGain(vPolicy, c.realisedSamplesPerPrompt, v, N), gold: goldSamples(set), costGain };
    });
    const claim = mocanClaimCheck(predicted, realised.byPrompt, { seed: c.seed, bootstrap: { samples: c.bootstrapSamples } });
    const gold = { reference: goldSummary(ref.gold), policy: goldSummary(realised.gold) };
    const metrics: Record<string, number> = {
      'pref/pairs': helpful.length,
      'pecan/lambda': dual.lambda,
      'pecan/margin_v': dual.margin,
      'pecan/margin_implicit': dual.margin * c.beta,
      'pecan/predicted_gain': predicted.value,
      'pecan/predicted_lo': predicted.lo,
      'pecan/predicted_hi': predicted.hi,
      'pecan/realised_gain': claim.realised.value,
      'pecan/claim_inside': claim.inside ? 1 : 0,
      'pecan/helpful_accuracy': auxiliaryAccuracy.helpful,
      'pecan/safe_accuracy': auxiliaryAccuracy.safe,
      'gold/reference_safe_rate': gold.reference.safeRate,
      'gold/policy_safe_rate': gold.policy.safeRate,
      'gold/reference_helpfulness': gold.reference.helpfulness,
      'gold/policy_helpfulness': gold.policy.helpfulness,
    };
    if (realised.costGain) metrics['pecan/cost_model_gain'] = realised.costGain.value;
    const last = history[history.length - 1];
    if (last) metrics['train/final_loss'] = last.loss;
    const extras: PecanExtras = {
      beta: c.beta,
      dual,
      predicted,
      claim,
      realisedByPrompt: realised.byPrompt,
      relabelScale: scale,
      scores,
      gold,
      auxiliaryAccuracy,
      pairs: helpful.length,
      chosenShare: labels.filter((p) => p > 0.5).length / labels.length,
    };
    if (realised.costGain) extras.costModelGain = realised.costGain;
    return { method: 'pecan', config: { ...c }, policy, history, metrics, timings: clock.finish(), extras };
  } catch (err) {
    policy?.dispose();
    throw err;
  } finally {
    if (!given) piR.dispose();
    piG.dispose();
  }
}
