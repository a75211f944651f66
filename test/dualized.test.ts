/**
 * The dualized methods end to end on a tiny gold world (src/align/can.ts, src/align/methods.ts):
 * MoCAN's claim check, the dual for several thresholds, C-DPO's λ direction, MoCAN and PeCAN runs.
 * The dual solver itself (exact toy tilt, convexity, λ* vs threshold) is tested in can-dual.test.ts.
 * Nano sizes: the paper's claim (realised gain ≈ predicted) is reported, not asserted.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { canProblem, dualSweep, gainsByGroup, mocanClaimCheck, predictedGainsByPrompt, sampleReference, tiltedSampleRows, type ReferenceSamples } from '../src/align/can.js';
import { dualScoreRows, runMoCAN } from '../src/align/mocan.js';
import { preferenceMethodSettings, resolvedMethodConfig } from '../src/align/stages.js';
import { runPeCAN } from '../src/align/pecan.js';
import { predictedSafetyGain, solveDual } from '../src/align/can-dual.js';
import { prepareWorldFixtures, type FixturePreset, type WorldFixtures } from '../src/align/fixtures.js';
import { runCDPO, type CdpoRunConfig } from '../src/align/cdpo-method.js';
import { rowsOfKept, scorePairs, toRows } from '../src/align/sampling.js';
import { runDPO } from '../src/align/methods.js';
import { helpfulnessPairs } from '../src/align/pairwise.js';
import { registerCpuUnsortedSegmentSum } from '../src/backend/wasm-unsorted-segment-sum.js';
import { useTestBackend } from './helpers.js';
import { createRng } from '../src/util/rng.js';

const TINY: FixturePreset = {
  model: { blockSize: 64, nLayer: 1, nHead: 2, nEmbd: 16, mlpRatio: 2, layerNormEps: 1e-5, initStd: 0.02 },
  data: { sftExamples: 150, preferencePairs: 16 },
  sft: { steps: 10, batchSize: 4, learningRate: 3e-3 },
  scoreModel: { steps: 6, batchSize: 4, learningRate: 3e-3 },
};
/** Small everything: 2-3 steps of 4 pairs, 12-token samples, no pairwise evaluation. */
const SMALL = { batchSize: 4, learningRate: 1e-2, warmupSteps: 0, evalPairs: 0, maxNewTokens: 12 };

let fx: WorldFixtures;
let restoreKernel: () => void = () => {};

before(async () => {
  const backend = await useTestBackend();
  // cpu's stock UnsortedSegmentSum (the gradient of every gather) loops over segments: seconds per step
  if (backend === 'cpu') restoreKernel = registerCpuUnsortedSegmentSum();
  fx = await prepareWorldFixtures({ preset: TINY, seed: 4, cacheDir: null });
});

after(() => {
  fx?.dispose();
  restoreKernel();
});

describe('resolvedMethodConfig (part of a method stage key)', () => {
  it("fills in the library's defaults and names a bad field", () => {
    const c = resolvedMethodConfig('mocan', { steps: 7 });
    assert.equal(c.steps, 7);
    assert.equal(c.nllOn, 'tilt');
    assert.equal(c.sftWeight, 32);
    assert.equal(c.cutOffSamples, 'drop');
    // the default preset's MoCAN runs longer than the other methods (docs/dpo-family.md)
    assert.equal(preferenceMethodSettings('default', 'mocan').steps, 450);
    assert.equal(preferenceMethodSettings('default', 'dpo').steps, 300);
    assert.equal(resolvedMethodConfig('dpo').sftWeight, 1);
    assert.throws(() => resolvedMethodConfig('mocan', { nllOn: 'both' as 'tilt' }), /nllOn.*must be 'pairs' or 'tilt'/);
  });
});

describe('mocanClaimCheck', () => {
  const predicted = { value: 1, lo: 0.6, hi: 1.4, n: 50 };
  it('says whether the realised gain lies inside the predicted interval, and the reverse check', () => {
    const near = mocanClaimCheck(predicted, [0.9, 1.1, 1.0, 1.2, 0.8], { seed: 1 });
    assert.equal(near.realised.value, 1);
    assert.equal(near.realised.n, 5);
    assert.ok(near.realised.lo <= 1 && near.realised.hi >= 1);
    assert.deepEqual([near.inside, near.predictedInRealised, near.overlap], [true, true, true]);
    const far = mocanClaimCheck(predicted, [3, 3.2, 2.8], { seed: 1 });
    assert.deepEqual([far.inside, far.predictedInRealised, far.overlap], [false, false, false]);
    // inside the predicted interval, but too tight to contain the predicted value
    const tight = mocanClaimCheck(predicted, [1.3, 1.3, 1.3], { seed: 1 });
    assert.deepEqual([tight.inside, tight.predictedInRealised, tight.overlap], [true, false, true]);
  });
  it('refuses an empty sample or an interval that is not one', () => {
    assert.throws(() => mocanClaimCheck(predicted, []), /'realisedSamples' is empty/);
    assert.throws(() => mocanClaimCheck({ value: 1, lo: NaN, hi: NaN, n: 0 }, [1]), /needs a finite interval/);
    assert.throws(() => mocanClaimCheck(predicted, [1, Infinity]), /'realisedSamples'\[1\] = Infinity/);
  });
});

describe('the dual over thresholds (toy scores)', () => {
  // 3 prompts × 4 samples; r and g anti-correlated, as helpfulness and safety on harmful prompts
  const r = [
    [2, 1, 0, -1],
    [1.5, 0.5, 0, -0.5],
    [3, 2, 1, 0],
  ];
  const g = [
    [-2, 0, 1, 2],
    [-1, 0, 0.5, 1.5],
    [-3, -1, 0, 1],
  ];
  it('λ* grows with the threshold; unattainable thresholds give NaN; every curve is convex', () => {
    const thresholds = [-1, 0, 0.5, 1, 1.4, 2];
    const lambdas = [0, 0.25, 0.5, 1, 2, 4];
    const rows = dualSweep({ r, g }, 1, thresholds, lambdas);
    const finite = rows.filter((x) => Number.isFinite(x.lambda));
    for (let i = 1; i < finite.length; i++) assert.ok(finite[i]!.lambda >= finite[i - 1]!.lambda, `λ* ${finite[i - 1]!.lambda} -> ${finite[i]!.lambda}`);
    assert.ok(finite[finite.length - 1]!.lambda > 0);
    assert.ok(Number.isNaN(rows[rows.length - 1]!.lambda), 'b̄ = 2 > mean_x max_i g = 1.5: unattainable');
    for (const row of rows) {
      // second differences on the (unevenly spaced) grid: slopes nondecreasing
      const slopes = row.curve.slice(1).map((v, i) => (v - row.curve[i]!) / (lambdas[i + 1]! - lambdas[i]!));
      for (let i = 1; i < slopes.length; i++) assert.ok(slopes[i]! >= slopes[i - 1]! - 1e-9, `convex at b̄ = ${row.threshold}`);
    }
  });
  it('per-prompt predicted gains average to the predicted gain; the fraction form sits between ref and max', () => {
    const P = canProblem(r, g, 1, { fraction: 0.5 });
    assert.ok(Math.abs(P.margin - 0.5 * (P.maxSafety - P.referenceSafety)) < 1e-12);
    const sol = solveDual(P);
    const byPrompt = predictedGainsByPrompt(P, sol.lambda);
    assert.equal(byPrompt.length, 3);
    const avg = byPrompt.reduce((a, b) => a + b, 0) / 3;
    assert.ok(Math.abs(avg - predictedSafetyGain(P, sol.lambda)) < 1e-12);
    assert.ok(Math.abs(avg - P.margin) < 1e-6, 'at λ* > 0 the predicted gain is the margin');
  });
});

describe('C-DPO on the tiny world', () => {
  const base: Partial<CdpoRunConfig> = { ...SMALL, rounds: 1, steps: 2, prompts: 3, samplesPerPrompt: 1, lambda0: 0.5, lambdaLr: 0.01 };
  it('λ moves up when the sampled cost is above the limit, down (clamped at 0) when below', async () => {
    const before = tf.memory().numTensors;
    const up = await runCDPO(fx.data, { ...base, costLimit: -1e3 });
    const [round] = up.extras.rounds;
    assert.ok(round && Number.isFinite(round.sampledCost));
    assert.equal(round.feasible, false);
    assert.ok(Math.abs(round.nextLambda - (0.5 + 0.01 * (round.sampledCost + 1e3))) < 1e-9);
    assert.deepEqual(up.extras.lambdas, [0.5, round.nextLambda]);
    assert.ok(up.extras.lambdas[1]! > up.extras.lambdas[0]!);
    assert.ok(round.chosenShare >= 0 && round.chosenShare <= 1);
    assert.equal(up.history.length, 2);
    assert.ok(up.history.every((h) => h.stage === 'cdpo/round-1'));
    up.policy.dispose();
    const down = await runCDPO(fx.data, { ...base, costLimit: 1e3 });
    assert.deepEqual(down.extras.lambdas, [0.5, 0]);
    assert.equal(down.extras.rounds[0]!.feasible, true);
    assert.equal(down.metrics['cdpo/feasible'], 1);
    down.policy.dispose();
    assert.equal(tf.memory().numTensors, before);
  });
});

describe("MoCAN's dual on finished samples (cutOffSamples)", () => {
  // 3 prompts × 3 samples; prompt 1 has no finished sample
  const set = {
    prompts: [{ text: 'a', ids: [1] }, { text: 'b', ids: [2] }, { text: 'c', ids: [3] }],
    samplesPerPrompt: 3,
    responses: Array.from({ length: 9 }, (_, k) => [k]),
    stopped: [true, false, true, false, false, false, false, true, true],
    texts: Array.from({ length: 9 }, () => ''),
  };
  const ref: ReferenceSamples = {
    set,
    r: Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]),
    g: Float32Array.from([-1, -2, -3, -4, -5, -6, -7, -8, -9]),
    gold: { helpfulness: new Float64Array(9), harm: new Float64Array(9), safe: new Float64Array(9), refusal: new Float64Array(9) },
    seconds: 0,
  };
  it('gainsByGroup averages predicted and realised gains per group (realised: prompts with a kept sample)', () => {
    const rows = gainsByGroup(
      [
        { prompt: 'h1', predicted: 2, realised: 1 },
        { prompt: 'b1', predicted: 0, realised: 0.5 },
        { prompt: 'h2', predicted: 4, realised: null },
        { prompt: 'h3', predicted: 3, realised: 3 },
      ],
      (p) => (p.startsWith('h') ? 'harmful' : 'benign'),
      createRng(1),
      { samples: 200 },
    );
    assert.deepEqual(rows.map((r) => [r.label, r.n, r.predicted.value, r.realised.value]), [
      ['harmful', 3, 3, 2],
      ['benign', 1, 0, 0.5],
    ]);
    assert.ok(rows[0]!.predicted.lo <= 3 && rows[0]!.predicted.hi >= 3);
  });

  it('rowsOfKept keeps the flagged values per prompt, in order', () => {
    assert.deepEqual(rowsOfKept([1, 2, 3, 4, 5, 6], [true, false, true, false, false, true], 3), [[1, 3], [6]]);
    assert.deepEqual(rowsOfKept([1, 2], [false, false], 1), [[], []]);
    assert.throws(() => rowsOfKept([1, 2], [true], 1), /1 flags for 2 values/);
  });
  it("'drop' solves on the finished samples and leaves out prompts with none; 'keep' uses all", () => {
    const dropped = dualScoreRows(ref, 'drop');
    assert.deepEqual(dropped.promptIds, [0, 2]);
    assert.deepEqual(dropped.scores.r, [[1, 3], [8, 9]]);
    assert.deepEqual(dropped.scores.g, [[-1, -3], [-8, -9]]);
    // the samples kept, in the problem's order (response k is [k])
    assert.deepEqual(dropped.dialogues.map((d) => [d.prompt[0], d.response[0]]), [[1, 0], [1, 2], [3, 7], [3, 8]]);
    const kept = dualScoreRows(ref, 'keep');
    assert.deepEqual(kept.promptIds, [0, 1, 2]);
    assert.deepEqual(kept.scores.g, [[-1, -2, -3], [-4, -5, -6], [-7, -8, -9]]);
    assert.equal(kept.dialogues.length, 9);
  });

  it('tiltedSampleRows draws prompts uniformly and samples by their tilted weights', () => {
    const { scores, dialogues } = dualScoreRows(ref, 'drop');
    // β = 1, λ = 0.5: prompt 0 has w ∝ exp(1 − 0.5), exp(3 − 1.5) = e^0.5, e^1.5 -> 0.269, 0.731;
    // prompt 2 has w ∝ exp(8 − 4), exp(9 − 4.5) -> 0.378, 0.622
    const problem = canProblem(scores.r, scores.g, 1, { threshold: -5 });
    const rows = tiltedSampleRows(problem, 0.5, dialogues, createRng(3), 50);
    const count = new Map<number, number>();
    for (let i = 0; i < 400; i++) for (const d of rows.draw()) count.set(d.response[0]!, (count.get(d.response[0]!) ?? 0) + 1);
    const n = 400 * 50;
    const want: Record<number, number> = { 0: 0.5 * 0.2689, 2: 0.5 * 0.7311, 7: 0.5 * 0.3775, 8: 0.5 * 0.6225 };
    assert.deepEqual([...count.keys()].sort((a, b) => a - b), [0, 2, 7, 8], 'only finished samples are drawn');
    for (const [k, p] of Object.entries(want)) {
      const got = count.get(Number(k))! / n;
      const se = Math.sqrt((p * (1 - p)) / n);
      assert.ok(Math.abs(got - p) < 5 * se, `sample ${k}: ${got} vs ${p}`);
    }
    assert.throws(() => tiltedSampleRows(problem, 0.5, dialogues.slice(1), createRng(3), 5), /3 dialogues for a problem of 4 samples/);
  });
});

describe('MoCAN and PeCAN on the tiny world', () => {
  let ref: ReferenceSamples;
  it('MoCAN: λ* ≥ 0, a predicted margin with its interval, a realised gain and the claim check', async () => {
    const before = tf.memory().numTensors;
    ref = await sampleReference(fx.data, { prompts: 4, samplesPerPrompt: 4, seed: 2, maxNewTokens: 12 });
    assert.equal(ref.set.responses.length, 16);
    assert.ok(ref.r && ref.g && ref.r.length === 16);
    const events: string[] = [];
    // 12-token samples of a 10-step SFT policy never finish: keep the cut-off ones (the default drops them)
    const res = await runMoCAN(fx.data, { ...SMALL, steps: 3, realisedSamplesPerPrompt: 4, bootstrapSamples: 200, constraint: { fraction: 0.5 }, cutOffSamples: 'keep' }, { onEvent: (m) => events.push(m) }, ref);
    const { dual, predicted, claim } = res.extras;
    assert.ok(dual.lambda >= 0 && Number.isFinite(dual.lambda));
    assert.ok(dual.margin > 0, 'fraction 0.5 of the reachable margin');
    assert.ok(predicted.lo <= predicted.value && predicted.value <= predicted.hi);
    // the dual meets the margin at λ* (or the reward tilt already does, λ* = 0)
    if (dual.lambda > 0) assert.ok(Math.abs(predicted.value - dual.margin) < 1e-5);
    assert.equal(res.extras.realisedByPrompt.length, 4);
    // per prompt: texts in order, the predicted gains average to the predicted value
    assert.deepEqual(res.extras.byPrompt.map((b) => b.prompt), ref.set.prompts.map((p) => p.text));
    assert.ok(Math.abs(res.extras.byPrompt.reduce((a, b) => a + b.predicted, 0) / 4 - predicted.value) < 1e-9);
    assert.deepEqual(res.extras.byPrompt.map((b) => b.realised), res.extras.realisedByPrompt);
    assert.ok(Number.isFinite(claim.realised.value));
    assert.equal(res.metrics['mocan/claim_inside'], claim.inside ? 1 : 0);
    assert.equal(res.metrics['mocan/realised_gain'], claim.realised.value);
    assert.deepEqual(res.extras.scores.g.map((row) => row.length), [4, 4, 4, 4]);
    assert.deepEqual(res.extras.scores.g, toRows(ref.g!, 4).map((row) => row.map((x) => x)));
    assert.ok(res.extras.gold.reference.safeRate >= 0 && res.extras.gold.policy.safeRate <= 1);
    assert.ok(events.some((e) => e.startsWith('MoCAN: λ* =')));
    assert.equal(res.history.length, 3);
    for (const k of ['dual', 'relabel', 'train', 'realise', 'total']) assert.ok(res.timings[k]! >= 0, `timing '${k}'`);
    res.policy.dispose();
    assert.equal(tf.memory().numTensors, before, 'no tensors left (samples are plain arrays)');
  });

  it('PeCAN: two single-objective DPO runs, the dual on their log-ratios, relabelling with s = β, one DPO run', async () => {
    const before = tf.memory().numTensors;
    const stages = new Set<string>();
    const res = await runPeCAN(fx.data, { ...SMALL, steps: 2, realisedSamplesPerPrompt: 4, bootstrapSamples: 200, beta: 0.1 }, { onStep: (_, s) => void stages.add(s) }, ref);
    assert.deepEqual([...stages], ['pecan/helpful', 'pecan/safe', 'pecan']);
    assert.equal(res.extras.relabelScale, 0.1);
    assert.ok(res.extras.dual.lambda >= 0);
    assert.ok(res.extras.predicted.lo <= res.extras.predicted.hi);
    assert.ok(Number.isFinite(res.extras.claim.realised.value));
    assert.ok(res.extras.costModelGain && Number.isFinite(res.extras.costModelGain.value));
    assert.ok(Math.abs(res.metrics['pecan/margin_implicit']! - 0.1 * res.metrics['pecan/margin_v']!) < 1e-12);
    assert.ok(res.extras.chosenShare >= 0 && res.extras.chosenShare <= 1);
    if (process.env['SHOW_TIMINGS']) console.log(res.timings);
    res.policy.dispose();
    assert.equal(tf.memory().numTensors, before, 'π_r and π_g are disposed');
  });

  it('PeCAN reuses a given DPO policy as π_r (same result as training it) and refuses one trained at another β', async () => {
    const cfg = { ...SMALL, steps: 2, realisedSamplesPerPrompt: 4, bootstrapSamples: 200, beta: 0.1, seed: 5 };
    const dpo = await runDPO(fx.data, { ...SMALL, steps: 2, beta: 0.1, seed: 5 });
    const before = tf.memory().numTensors;
    const helpfulPolicy = { policy: dpo.policy, method: 'dpo', beta: 0.1, sftWeight: dpo.config['sftWeight'] as number };
    const stages = new Set<string>();
    const reused = await runPeCAN({ ...fx.data, helpfulPolicy }, cfg, { onStep: (_, s) => void stages.add(s) }, ref);
    assert.deepEqual([...stages], ['pecan/safe', 'pecan'], 'π_r is not trained again');
    assert.equal(reused.timings['train_helpful'], undefined);
    reused.policy.dispose();
    assert.equal(tf.memory().numTensors, before, 'the given π_r is not disposed, π_g and the rest are');
    assert.ok(dpo.policy.params['wte']!.size > 0, 'π_r still usable');
    await assert.rejects(runPeCAN({ ...fx.data, helpfulPolicy: { ...helpfulPolicy, beta: 0.5 } }, cfg, {}, ref), /trained by 'dpo' with β 0.5.*must be DPO with β 0.1/);
    dpo.policy.dispose();
  });

  it('precomputed pair scores and π_ref samples give the same runs as computing them', async () => {
    const pairs = helpfulnessPairs(fx.data.rows, fx.data.tokenizer);
    const pairScores = await scorePairs(fx.data.rewardModel!, fx.data.costModel!, pairs, fx.data.tokenizer.specials.pad);
    const cfg: Partial<CdpoRunConfig> = { ...SMALL, rounds: 1, steps: 2, prompts: 3, samplesPerPrompt: 1, costLimit: 0, seed: 3 };
    const a = await runCDPO(fx.data, cfg);
    const b = await runCDPO({ ...fx.data, pairScores }, cfg);
    assert.deepEqual(b.extras.lambdas, a.extras.lambdas);
    assert.equal(b.timings['score'], undefined, 'nothing scored again');
    a.policy.dispose();
    b.policy.dispose();
    await assert.rejects(runCDPO({ ...fx.data, pairScores: { reward: { chosen: new Float32Array(1), rejected: new Float32Array(1) }, cost: pairScores.cost } }, cfg), /data.pairScores scores 1 pairs/);
    const mcfg = { ...SMALL, steps: 1, prompts: 4, samplesPerPrompt: 4, realisedSamplesPerPrompt: 2, bootstrapSamples: 50, seed: 2, cutOffSamples: 'keep' as const };
    const m = await runMoCAN({ ...fx.data, pairScores, referenceSamples: ref }, mcfg);
    assert.equal(m.timings['sample'], undefined, 'π_ref not sampled again');
    assert.deepEqual(m.extras.scores.g, toRows(ref.g!, 4));
    m.policy.dispose();
    await assert.rejects(runMoCAN({ ...fx.data, referenceSamples: ref }, { ...mcfg, samplesPerPrompt: 8 }), /has 4 prompts × 4 samples; the method asks for the first 4 prompts of data.prompts × 8/);
  });
});
