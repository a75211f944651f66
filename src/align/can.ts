/**
 * Shared pieces of CAN's two methods (runMoCAN in mocan.ts, runPeCAN in pecan.ts): the constraint,
 * the predicted gain's bootstrap interval, the claim check, the dual sweep and π_ref sampling.
 *
 * CAN's two methods (Huang et al., "One-Shot Safety Alignment for Large Language Models via Optimal
 * Dualization", NeurIPS 2024; shuoli90/CAN; shared/design/dualized-and-dpo.md section 1), on the
 * dual solvers of src/align/can-dual.ts and the one pairwise trainer:
 *
 * MoCAN (`runMoCAN`, model-based):
 * 1. sample N responses per prompt from π_ref (M prompts), score them with the reward model (r) and
 *    the cost model (g = −c);
 * 2. solve the convex dual offline for λ* (bisection on D̂'); predicted safety gain
 *    Ê_{π_λ*} g − Ê_ref g, with a percentile bootstrap interval over prompts (λ* held fixed);
 * 3. relabel the preference pairs with p = σ(w_w − w_l), w = r + λ*g (no β inside σ: DPO with β then
 *    targets π_ref·exp(w/β) = π_λ*, the same β as the dual's);
 * 4. soft-label DPO once, from the reference;
 * 5. realised gain: sample the trained policy on the same prompts, score with the same cost model,
 *    per-prompt Ê_π g − Ê_ref g; `mocanClaimCheck` says whether it lies inside the predicted interval
 *    (the paper's central claim: one DPO run at λ* delivers the margin the dual predicted).
 *
 * PeCAN (`runPeCAN`, preference-based):
 * 1. DPO-train π_r on helpfulness pairs and π_g on safety pairs, both from π_ref, with the same β;
 * 2. on the π_ref samples, u = log π_r − log π_ref and v = log π_g − log π_ref (sequence sums); the
 *    implicit rewards are βu and βv; `solvePeCANDual` solves CAN with logits u + λv (β cancels);
 * 3. relabel the pairs with p = σ(s·[(u_w − u_l) + λ(v_w − v_l)]);
 * 4. soft-label DPO once with β.
 * β placement (our choice, `relabelScale: 'beta'`): s = β. Soft-label DPO with β fits βh = logit p,
 * i.e. log π/π_ref = s(u + λv)/β + const; with s = β that is u + λv, exactly the tilt the dual
 * solved for (π_ref·exp(u + λv)). The CAN code uses s = 1 (`relabelScale: 'one'`): labels near 0/1
 * and a target tilted 1/β times too far (10× at β = 0.1).
 * Predicted and realised gains of PeCAN are in log-ratio units of v (multiply by β for
 * implicit-reward units); with a cost model the realised cost-model gain is reported too.
 */
import { bootstrapMean, type BootstrapConfig, type Estimate } from '../eval/bootstrap.js';
import { createRng, type Rng } from '../util/rng.js';
import { dualValue, prepareCANDual, solveDual, tiltedWeights, type CANDual, type CANDualSpec, type DualSolution, type ScoreMatrix } from './can-dual.js';
import type { Dialogue } from '../data/batch.js';
import type { AlignmentData, Stopwatch } from './methods.js';
import type { NllRows } from './pairwise.js';
import { arrayMean, goldSamples, promptMeans, samplePolicy, scoreSamples, type GoldSamples, type SampleSet } from './sampling.js';

const FILE = 'src/align/can.ts';

// ---------------------------------------------------------------------------------------------
// Constraints, the predicted interval and the claim check

/**
 * The safety constraint: an absolute threshold b̄ (E_π g ≥ b̄, the CAN notebook's form), a margin b
 * over the reference (E_π g − E_ref g ≥ b, the paper's form), or a fraction f of the largest margin
 * any tilt of the samples can reach (b = f·(mean_x max_i g − Ê_ref g)): scale-free, handy when the
 * score models' units are not known in advance.
 */
export type CanConstraint = { threshold: number } | { margin: number } | { fraction: number };

export function checkConstraint(v: CanConstraint): string | undefined {
  if (v === null || typeof v !== 'object') return 'must be {threshold}, {margin} or {fraction}';
  const keys = Object.keys(v);
  if (keys.length !== 1 || !['threshold', 'margin', 'fraction'].includes(keys[0]!)) return 'must have exactly one of threshold, margin, fraction';
  const x = (v as Record<string, number>)[keys[0]!]!;
  if (!Number.isFinite(x)) return `${keys[0]} must be finite`;
  if ('fraction' in v && !(v.fraction >= 0 && v.fraction < 1)) return 'fraction must be in [0, 1)';
  return undefined;
}

/** The CAN problem for a constraint (g, r, β fixed). */
export function canProblem(r: ScoreMatrix, g: ScoreMatrix, beta: number, constraint: CanConstraint): CANDual {
  const base: Pick<CANDualSpec, 'r' | 'g' | 'beta'> = { r, g, beta };
  if ('threshold' in constraint) return prepareCANDual({ ...base, threshold: constraint.threshold });
  if ('margin' in constraint) return prepareCANDual({ ...base, margin: constraint.margin });
  const probe = prepareCANDual({ ...base, margin: 0 });
  return prepareCANDual({ ...base, margin: constraint.fraction * (probe.maxSafety - probe.referenceSafety) });
}

/**
 * Per-prompt predicted gains at a fixed λ: d_x = Σ_i w_i g_i − Σ_i q_i g_i with the tilted weights
 * w (their mean over prompts is `predictedSafetyGain`).
 */
export function predictedGainsByPrompt(problem: CANDual, lambda: number): number[] {
  const w = tiltedWeights(problem, lambda);
  const out: number[] = [];
  for (let x = 0; x < problem.prompts; x++) {
    let tilted = 0;
    let ref = 0;
    for (let i = problem.offsets[x]!; i < problem.offsets[x + 1]!; i++) {
      tilted += w[i]! * problem.g[i]!;
      ref += Math.exp(problem.logq[i]!) * problem.g[i]!;
    }
    out.push(tilted - ref);
  }
  return out;
}

/**
 * Draws from the dual's tilt of the samples it was solved on (the empirical π_λ): a prompt uniformly,
 * then one of its samples with its tilted weight w_i = softmax_i(log q_i + (r_i + λg_i)/β)
 * (`tiltedWeights`). `dialogues` are the samples in the problem's order (prompt by prompt, the
 * samples kept). Maximum likelihood on these draws and soft-label DPO on pairs labelled
 * σ(w_a − w_b) have the same minimiser on the samples' support, π_ref·exp((r + λg)/β): MoCAN's NLL
 * term on them (`nllOn: 'tilt'`) pulls toward the policy the dual predicted for, where the NLL on
 * the pairs' preferred responses pulls toward the data set's answers.
 */
export function tiltedSampleRows(problem: CANDual, lambda: number, dialogues: readonly Dialogue[], rng: Rng, perDraw: number): NllRows {
  const where = `${FILE} tiltedSampleRows`;
  const total = problem.offsets[problem.prompts]!;
  if (dialogues.length !== total) throw new Error(`${where}: ${dialogues.length} dialogues for a problem of ${total} samples`);
  if (!(Number.isInteger(perDraw) && perDraw > 0)) throw new Error(`${where}: perDraw = ${perDraw}: must be a positive integer`);
  const w = tiltedWeights(problem, lambda);
  const rows = Array.from({ length: problem.prompts }, (_, x) => w.subarray(problem.offsets[x]!, problem.offsets[x + 1]!));
  return {
    draw: () =>
      Array.from({ length: perDraw }, () => {
        const x = rng.int(problem.prompts);
        return dialogues[problem.offsets[x]! + rng.categorical(rows[x]!)]!;
      }),
  };
}

/** The predicted gain at λ with a percentile bootstrap interval over prompts (λ held fixed). */
export function predictedGainInterval(problem: CANDual, lambda: number, rng: Rng, bootstrap: Partial<BootstrapConfig> = {}): Estimate {
  return bootstrapMean(predictedGainsByPrompt(problem, lambda), rng, bootstrap);
}

/** One prompt of a CAN run: its text, the gain the dual predicted there, the gain realised (null: no sample kept). */
export interface PromptGain {
  prompt: string;
  predicted: number;
  realised: number | null;
}

/**
 * Predicted and realised gains averaged within groups of prompts (e.g. the gold world's prompt
 * kinds: `gainsByGroup(extras.byPrompt, (p) => parsePrompt(p).kind, rng)`), each with a bootstrap
 * interval over the group's prompts; rows in order of first appearance, ready for `gainFigure`.
 */
export function gainsByGroup(
  byPrompt: readonly PromptGain[],
  groupOf: (prompt: string) => string,
  rng: Rng,
  bootstrap: Partial<BootstrapConfig> = {},
): { label: string; n: number; predicted: Estimate; realised: Estimate }[] {
  const groups = new Map<string, PromptGain[]>();
  for (const g of byPrompt) {
    const key = groupOf(g.prompt);
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key)!.push(g);
  }
  return [...groups].map(([label, gs]) => {
    const realised = gs.flatMap((g) => (g.realised === null ? [] : [g.realised]));
    return {
      label,
      n: gs.length,
      predicted: bootstrapMean(gs.map((g) => g.predicted), rng.fork(`${label}:predicted`), bootstrap),
      realised: realised.length ? bootstrapMean(realised, rng.fork(`${label}:realised`), bootstrap) : { value: NaN, lo: NaN, hi: NaN, n: 0 },
    };
  });
}

export interface ClaimCheck {
  /** The predicted gain and its bootstrap interval (over prompts). */
  predicted: Estimate;
  /** The realised gain (mean of the per-prompt realised gains) and its bootstrap interval. */
  realised: Estimate;
  /** The brief's check: the realised gain lies inside the predicted interval. */
  inside: boolean;
  /** The paper's table's check: the predicted gain lies inside the realised interval. */
  predictedInRealised: boolean;
  /** The two intervals overlap. */
  overlap: boolean;
}

/**
 * MoCAN's central claim, checked: does the realised safety gain (per-prompt gains, e.g.
 * Ê_{π_trained} g(x) − Ê_ref g(x)) lie inside the bootstrap interval of the gain the dual predicted?
 * Pure JavaScript; the realised interval is a percentile bootstrap over the samples with `seed`.
 */
export function mocanClaimCheck(
  predicted: Estimate,
  realisedSamples: readonly number[],
  options: { seed?: number; bootstrap?: Partial<BootstrapConfig> } = {},
): ClaimCheck {
  const where = `${FILE} mocanClaimCheck`;
  if (!(Number.isFinite(predicted.lo) && Number.isFinite(predicted.hi) && predicted.lo <= predicted.hi)) {
    throw new Error(`${where}: 'predicted' needs a finite interval lo <= hi, got [${predicted.lo}, ${predicted.hi}]`);
  }
  if (realisedSamples.length === 0) throw new Error(`${where}: 'realisedSamples' is empty`);
  realisedSamples.forEach((v, i) => {
    if (!Number.isFinite(v)) throw new Error(`${where}: 'realisedSamples'[${i}] = ${v}: must be finite`);
  });
  const realised = bootstrapMean(realisedSamples, createRng(options.seed ?? 7).fork('claim'), options.bootstrap ?? {});
  return {
    predicted,
    realised,
    inside: realised.value >= predicted.lo && realised.value <= predicted.hi,
    predictedInRealised: predicted.value >= realised.lo && predicted.value <= realised.hi,
    overlap: realised.lo <= predicted.hi && predicted.lo <= realised.hi,
  };
}

export interface DualSweepRow {
  threshold: number;
  /** b = b̄ − Ê_ref g. */
  margin: number;
  /** λ* (NaN when no tilt of the samples reaches the threshold). */
  lambda: number;
  /** Ê_{π_λ*} g − Ê_ref g. */
  predictedGain: number;
  /** D̂(λ*) (NaN when unattainable). */
  value: number;
  /** The λ grid of `curve` (shared by every row). */
  lambdas: number[];
  /** D̂(λ) at each λ of the grid. */
  curve: number[];
}

/**
 * The dual for several thresholds (the CAN notebook's figure): λ* for each absolute threshold b̄ in
 * `thresholds`, and D̂(λ) on `lambdas` (default: 41 points from 0 to 1.25 × the largest finite λ*).
 */
export function dualSweep(scores: { r: ScoreMatrix; g: ScoreMatrix }, beta: number, thresholds: readonly number[], lambdas?: readonly number[]): DualSweepRow[] {
  const solved = thresholds.map((threshold) => {
    const P = prepareCANDual({ r: scores.r, g: scores.g, beta, threshold });
    let sol: DualSolution | null = null;
    try {
      sol = solveDual(P);
    } catch {
      sol = null; // unattainable threshold
    }
    return { P, sol };
  });
  const top = Math.max(0, ...solved.map((s) => (s.sol ? s.sol.lambda : 0)));
  const grid = lambdas ? [...lambdas] : Array.from({ length: 41 }, (_, i) => (i / 40) * 1.25 * (top > 0 ? top : 1));
  return solved.map(({ P, sol }) => ({
    threshold: P.threshold,
    margin: P.margin,
    lambda: sol ? sol.lambda : NaN,
    predictedGain: sol ? sol.predictedGain : NaN,
    value: sol ? sol.value : NaN,
    lambdas: grid,
    curve: grid.map((l) => dualValue(P, l)),
  }));
}

/**
 * `count` thresholds b̄ for a sweep: evenly from Ê_ref g − 1 to 95% of the way to mean_x max_i g
 * (the largest value any tilt of these samples reaches).
 */
export function thresholdGrid(g: ScoreMatrix, count: number): number[] {
  const probe = prepareCANDual({ r: g, g, beta: 1, margin: 0 });
  const lo = probe.referenceSafety - 1;
  const hi = probe.referenceSafety + 0.95 * (probe.maxSafety - probe.referenceSafety);
  if (count < 2) return [hi];
  return Array.from({ length: count }, (_, i) => lo + ((hi - lo) * i) / (count - 1));
}

// ---------------------------------------------------------------------------------------------
// Reference samples

export interface ReferenceSamples {
  set: SampleSet;
  /** Reward-model scores [M·N] (prompt-major); absent without a reward model. */
  r?: Float32Array;
  /** Safety utility g = −cost-model score [M·N]; absent without a cost model. */
  g?: Float32Array;
  gold: GoldSamples;
  seconds: number;
}

/**
 * Samples π_ref (`data.reference`) N times on the first `prompts` prompts of data.prompts and scores
 * the samples with the reward and cost models when given (CAN's `collect.py`), and by gold.
 */
export async function sampleReference(
  data: AlignmentData,
  options: { prompts: number; samplesPerPrompt: number; seed: number; batchSize?: number; maxNewTokens?: number },
): Promise<ReferenceSamples> {
  const t0 = performance.now();
  const prompts = data.prompts.slice(0, options.prompts);
  if (prompts.length === 0) throw new Error(`${FILE} sampleReference: data.prompts is empty`);
  const bs = options.batchSize ?? 64;
  const set = await samplePolicy(data.reference, data.tokenizer, prompts, createRng(options.seed).fork('reference-samples'), {
    samplesPerPrompt: options.samplesPerPrompt,
    batchSize: bs,
    ...(options.maxNewTokens ? { maxNewTokens: options.maxNewTokens } : {}),
  });
  const pad = data.tokenizer.specials.pad;
  const out: ReferenceSamples = { set, gold: goldSamples(set), seconds: 0 };
  if (data.rewardModel) out.r = await scoreSamples(data.rewardModel, set, pad, bs);
  if (data.costModel) out.g = (await scoreSamples(data.costModel, set, pad, bs)).map((c) => -c);
  out.seconds = (performance.now() - t0) / 1000;
  return out;
}

/**
 * The π_ref samples a method's dual is solved on: `data.referenceSamples` when given (the main job
 * draws them once for MoCAN and PeCAN), after checking they are what `sampleReference(data, options)`
 * would draw (the first `prompts` prompts of data.prompts, N per prompt); otherwise `sampleReference`.
 */
export async function referenceSamplesFor(
  data: AlignmentData,
  options: { prompts: number; samplesPerPrompt: number; seed: number; batchSize?: number; maxNewTokens?: number },
  clock?: Pick<Stopwatch, 'time'>,
): Promise<ReferenceSamples> {
  const given = data.referenceSamples;
  if (!given) return clock ? clock.time('sample', () => sampleReference(data, options)) : sampleReference(data, options);
  const want = data.prompts.slice(0, options.prompts);
  const have = given.set.prompts;
  if (given.set.samplesPerPrompt !== options.samplesPerPrompt || have.length !== want.length || have.some((p, i) => p.text !== want[i]!.text)) {
    throw new Error(
      `${FILE} referenceSamplesFor: data.referenceSamples has ${have.length} prompts × ${given.set.samplesPerPrompt} samples; ` +
        `the method asks for the first ${want.length} prompts of data.prompts × ${options.samplesPerPrompt}`,
    );
  }
  return given;
}

export function goldSummary(gold: GoldSamples): { safeRate: number; helpfulness: number; refusal: number } {
  return { safeRate: arrayMean(gold.safe), helpfulness: arrayMean(gold.helpfulness), refusal: arrayMean(gold.refusal) };
}

/** Per-prompt differences of means: mean_j a(x, j) − mean_i b(x, i). */
export function perPromptGain(trained: ArrayLike<number>, nTrained: number, reference: ArrayLike<number>, nRef: number): number[] {
  const a = promptMeans(trained, nTrained);
  const b = promptMeans(reference, nRef);
  return a.map((v, i) => v - b[i]!);
}
