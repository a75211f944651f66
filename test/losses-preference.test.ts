import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import {
  PREFERENCE_LOSS_TYPES,
  logRatios,
  preferenceLoss,
  referenceLogProbSums,
  sequenceLogProbSums,
  type LogProbBatch,
  type PreferenceInputs,
  type PreferenceLossType,
} from '../src/losses/preference.js';
import { BFPO_CELLS, bfpoCell, bfpoCellAccuracy, bfpoLabel, bfpoTarget, bfpoTargets } from '../src/align/bfpo.js';
import { createGPT } from '../src/model/gpt.js';
import { gptConfig } from '../src/model/config.js';
import { train, type LossOutput } from '../src/train/trainer.js';
import { createRng } from '../src/util/rng.js';
import { useTestBackend } from './helpers.js';

before(async () => {
  await useTestBackend();
});

/** softplus(x) = log(1 + e^x); −log σ(x) = softplus(−x). Plain float64 Math. */
const sp = (x: number): number => Math.log1p(Math.exp(x));

function close(actual: number, expected: number, tol: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= tol, `${what}: got ${actual}, expected ${expected} (tol ${tol})`);
}

function read(out: LossOutput): { loss: number; metrics: Record<string, number> } {
  const loss = out.loss.dataSync()[0]!;
  const metrics: Record<string, number> = {};
  for (const [k, t] of Object.entries(out.metrics ?? {})) metrics[k] = t.dataSync()[0]!;
  tf.dispose([out.loss, ...Object.values(out.metrics ?? {})]);
  return { loss, metrics };
}

// The 2-pair batch used throughout:
//   policy log π(y_w) = [−5, −3], log π(y_l) = [−6, −2]
//   ref    log π(y_w) = [−5.5, −2.5], log π(y_l) = [−5.5, −2.75]
//   chosen ratios  = [0.5, −0.5], rejected ratios = [−0.5, 0.75]
//   h = [1, −1.25]
const base: PreferenceInputs = {
  policyChosen: [-5, -3],
  policyRejected: [-6, -2],
  refChosen: [-5.5, -2.5],
  refRejected: [-5.5, -2.75],
};
const beta = 0.5;

describe('logRatios', () => {
  it('computes the chosen, rejected and margin log-ratios', () => {
    const lr = logRatios(base);
    assert.deepEqual(Array.from(lr.chosen.dataSync()), [0.5, -0.5]);
    assert.deepEqual(Array.from(lr.rejected.dataSync()), [-0.5, 0.75]);
    assert.deepEqual(Array.from(lr.margin.dataSync()), [1, -1.25]);
    tf.dispose([lr.chosen, lr.rejected, lr.margin]);
  });
});

describe('preferenceLoss: hand-computed values on a 2-pair batch (β = τ = 0.5)', () => {
  // Shared metrics: margin = mean h = −0.125; chosen reward = β·mean(0.5, −0.5) = 0;
  // rejected reward = β·mean(−0.5, 0.75) = 0.0625.
  function shared(m: Record<string, number>): void {
    close(m['pref/margin']!, -0.125, 1e-6, 'margin');
    close(m['pref/chosen_reward']!, 0, 1e-6, 'chosen_reward');
    close(m['pref/rejected_reward']!, 0.0625, 1e-6, 'rejected_reward');
  }

  it("'dpo': −log σ(βh)", () => {
    // βh = [0.5, −0.625]: −log σ(0.5) = sp(−0.5) = 0.474077; −log σ(−0.625) = sp(0.625) = 1.053701; mean 0.763889
    const expected = (sp(-0.5) + sp(0.625)) / 2;
    close(expected, 0.7638888, 1e-6, 'hand value');
    const { loss, metrics } = read(preferenceLoss('dpo', base, { beta }));
    close(loss, expected, 1e-6, 'loss');
    assert.equal(metrics['pref/accuracy'], 0.5); // h > 0 on pair 0 only
    shared(metrics);
  });

  it("'dpo_soft': −p log σ(βh) − (1−p) log σ(−βh)", () => {
    // p = [0.8, 0.3]
    // pair 0: 0.8·sp(−0.5) + 0.2·sp(0.5) = 0.8·0.474077 + 0.2·0.974077 = 0.574077
    // pair 1: 0.3·sp(0.625) + 0.7·sp(−0.625) = 0.3·1.053701 + 0.7·0.428701 = 0.616201
    const expected = (0.8 * sp(-0.5) + 0.2 * sp(0.5) + 0.3 * sp(0.625) + 0.7 * sp(-0.625)) / 2;
    close(expected, 0.5951388, 1e-6, 'hand value');
    const { loss, metrics } = read(preferenceLoss('dpo_soft', { ...base, p: [0.8, 0.3] }, { beta }));
    close(loss, expected, 1e-6, 'loss');
    assert.equal(metrics['pref/accuracy'], 1); // sign(h) = sign(p − ½) on both pairs
    shared(metrics);
  });

  it("'dpo_soft' with p = 1 is 'dpo', and a constant p is cDPO label smoothing", () => {
    close(read(preferenceLoss('dpo_soft', { ...base, p: 1 }, { beta })).loss, (sp(-0.5) + sp(0.625)) / 2, 1e-6, 'p = 1');
    const eps = 0.1; // (1−ε)·sp(−βh) + ε·sp(βh) per pair
    const expected = ((1 - eps) * (sp(-0.5) + sp(0.625)) + eps * (sp(0.5) + sp(-0.625))) / 2;
    close(read(preferenceLoss('dpo_soft', { ...base, p: 1 - eps }, { beta })).loss, expected, 1e-6, 'p = 0.9');
  });

  it("'ipo': (h − 1/(2τ))²", () => {
    // 1/(2τ) = 1: (1 − 1)² = 0; (−1.25 − 1)² = 5.0625; mean 2.53125
    const { loss, metrics } = read(preferenceLoss('ipo', base, { beta }));
    close(loss, 2.53125, 1e-6, 'loss');
    assert.equal(metrics['pref/accuracy'], 0.5);
    shared(metrics);
  });

  it("'bfpo': (h − t/τ)², and t = ½ everywhere is exactly 'ipo'", () => {
    // t = [+1, −½] -> t/τ = [2, −1]: (1 − 2)² = 1; (−1.25 + 1)² = 0.0625; mean 0.53125
    const { loss, metrics } = read(preferenceLoss('bfpo', { ...base, target: [1, -0.5] }, { beta }));
    close(loss, 0.53125, 1e-6, 'loss');
    assert.equal(metrics['pref/accuracy'], 1); // sign(h) = sign(t) on both pairs
    shared(metrics);
    const safeSafe = bfpoTarget(true, true);
    const asIpo = read(preferenceLoss('bfpo', { ...base, target: [safeSafe, safeSafe] }, { beta })).loss;
    close(asIpo, read(preferenceLoss('ipo', base, { beta })).loss, 1e-6, 'bfpo safe/safe = ipo');
  });

  it('defaults β to 0.1', () => {
    // βh = [0.1, −0.125]
    close(read(preferenceLoss('dpo', base)).loss, (sp(-0.1) + sp(0.125)) / 2, 1e-6, 'β = 0.1');
  });
});

describe('preferenceLoss: gradients against central differences', () => {
  const extras: Record<PreferenceLossType, Partial<PreferenceInputs>> = {
    dpo: {},
    dpo_soft: { p: [0.8, 0.3, 0.5] },
    ipo: {},
    bfpo: { target: [1, -0.5, 0.5] },
  };
  for (const type of PREFERENCE_LOSS_TYPES) {
    it(`'${type}' w.r.t. the policy log-prob sums`, () => {
      const refC = [-5.5, -2.5, -4];
      const refR = [-5.5, -2.75, -3.5];
      const f = (c: tf.Tensor1D, r: tf.Tensor1D): tf.Scalar =>
        preferenceLoss(type, { policyChosen: c, policyRejected: r, refChosen: refC, refRejected: refR, ...extras[type] }, { beta }).loss;
      const x0 = [[-5, -3, -4.2], [-6, -2, -3.1]];
      const analytic = tf.tidy(() => tf.grads((c: tf.Tensor, r: tf.Tensor) => f(c as tf.Tensor1D, r as tf.Tensor1D))(x0.map((x) => tf.tensor1d(x))).map((g) => Array.from(g.dataSync())));
      const value = (xs: number[][]): number => tf.tidy(() => f(tf.tensor1d(xs[0]!), tf.tensor1d(xs[1]!)).dataSync()[0]!);
      const eps = 1e-2;
      for (let k = 0; k < 2; k++) {
        for (let i = 0; i < 3; i++) {
          const plus = x0.map((v) => v.slice());
          const minus = x0.map((v) => v.slice());
          plus[k]![i]! += eps;
          minus[k]![i]! -= eps;
          const numeric = (value(plus) - value(minus)) / (2 * eps);
          const a = analytic[k]![i]!;
          assert.ok(Math.abs(a - numeric) <= 1e-2 * Math.abs(numeric) + 2e-4, `${type}: d/dx${k}[${i}] analytic ${a} vs numeric ${numeric}`);
        }
      }
      // and the chosen/rejected gradients are equal and opposite (the loss depends on h only)
      for (let i = 0; i < 3; i++) close(analytic[0]![i]!, -analytic[1]![i]!, 1e-6, `${type} antisymmetry`);
    });
  }
});

describe('preferenceLoss: errors and memory', () => {
  it('an unknown loss type fails at runtime, listing the valid ones', () => {
    assert.throws(
      () => preferenceLoss('kto' as PreferenceLossType, base),
      /preference\.ts preferenceLoss: unknown loss type 'kto' \(valid: dpo, dpo_soft, ipo, bfpo\)/,
    );
  });

  it('names missing or bad fields', () => {
    assert.throws(() => preferenceLoss('dpo_soft', base), /'p' \(soft labels in \[0, 1\]\) is required/);
    assert.throws(() => preferenceLoss('dpo_soft', { ...base, p: [0.5, 1.5] }), /'p'\[1\] = 1.5: must be in \[0, 1\]/);
    assert.throws(() => preferenceLoss('bfpo', base), /'target' .* is required/);
    assert.throws(() => preferenceLoss('dpo', { ...base, refRejected: [1] }), /'refRejected' has length 1, expected 2/);
    assert.throws(() => preferenceLoss('dpo', base, { beta: 0 }), /PreferenceLossConfig\.beta = 0: must be a finite number > 0/);
  });

  it('leaves no tensors behind', () => {
    read(preferenceLoss('dpo', base)); // warm-up
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      for (const type of PREFERENCE_LOSS_TYPES) preferenceLoss(type, { ...base, p: [0.8, 0.3], target: [1, -0.5] });
    });
    for (const type of PREFERENCE_LOSS_TYPES) read(preferenceLoss(type, { ...base, p: 0.7, target: [1, -0.5] }));
    assert.equal(tf.memory().numTensors, before);
  });
});

describe('BFPO labelling', () => {
  it('gives the four targets of the design note (units of 1/τ)', () => {
    assert.equal(bfpoTarget(true, false), 1); // safe/unsafe
    assert.equal(bfpoTarget(true, true), 0.5); // safe/safe = IPO's ½
    assert.equal(bfpoTarget(false, false), -0.5); // unsafe/unsafe
    assert.equal(bfpoTarget(false, true), -1); // unsafe/safe
  });

  it('equals ½(u(y_hw) − u(y_hl)) with u = (2·I_safe − 1)(p_help + ½)', () => {
    const u = (safe: boolean, pHelp: number): number => (2 * (safe ? 1 : 0) - 1) * (pHelp + 0.5);
    for (const w of [true, false]) for (const l of [true, false]) assert.equal(bfpoTarget(w, l), 0.5 * (u(w, 1) - u(l, 0)));
  });

  it('follows the code form b1·b3·I_w − b3·I_l − α for other constants', () => {
    // b1 = 5 -> b3 = ¼; α = 0: safe/unsafe = 5/4, unsafe/safe = −¼
    assert.equal(bfpoTarget(true, false, { b1: 5, alpha: 0 }), 1.25);
    assert.equal(bfpoTarget(false, true, { b1: 5, alpha: 0 }), -0.25);
    assert.throws(() => bfpoTarget(true, true, { b1: 1 }), /BfpoConfig\.b1 = 1: must be a finite number > 1/);
  });

  it('labels rows by better_response_id, names cells and counts per-cell accuracy', () => {
    const lab = bfpoLabel({ better_response_id: 1, is_response_0_safe: true, is_response_1_safe: false });
    assert.deepEqual(lab, { chosen: 1, rejected: 0, chosenSafe: false, rejectedSafe: true, target: -1, cell: 'unsafe/safe' });
    assert.deepEqual(BFPO_CELLS.map((c) => c), ['safe/unsafe', 'safe/safe', 'unsafe/unsafe', 'unsafe/safe']);
    assert.equal(bfpoCell(true, false), 'safe/unsafe');
    assert.deepEqual(Array.from(bfpoTargets([1, true, 0, false], [0, 1, false, true])), [1, 0.5, -0.5, -1]);
    assert.throws(() => bfpoTargets([2], [0]), /'chosenSafe'\[0\] = 2/);
    const acc = bfpoCellAccuracy([0.3, -0.1, -2, 0.5, -1], ['safe/unsafe', 'safe/safe', 'unsafe/unsafe', 'unsafe/safe', 'unsafe/safe']);
    assert.deepEqual(acc, {
      'safe/unsafe': { correct: 1, total: 1 },
      'safe/safe': { correct: 0, total: 1 },
      'unsafe/unsafe': { correct: 1, total: 1 },
      'unsafe/safe': { correct: 1, total: 2 },
    });
  });
});

describe('sequence log-prob sums and a tiny pairwise run', () => {
  const tiny = gptConfig(undefined, { vocabSize: 7, blockSize: 6, nLayer: 1, nHead: 2, nEmbd: 8, initStd: 0.4 });
  // prompt [1, 2] then a response; right-padded with 0; response mask 1 on response tokens
  const chosen: LogProbBatch = {
    tokens: Int32Array.from([1, 2, 3, 4, 6, 0, 1, 5, 3, 6, 0, 0]),
    attentionMask: Float32Array.from([1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 0, 0]),
    responseMask: Float32Array.from([0, 0, 1, 1, 1, 0, 0, 0, 1, 1, 0, 0]),
    shape: [2, 6],
  };
  const rejected: LogProbBatch = {
    tokens: Int32Array.from([1, 2, 5, 5, 6, 0, 1, 5, 4, 4, 6, 0]),
    attentionMask: Float32Array.from([1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 0]),
    responseMask: Float32Array.from([0, 0, 1, 1, 1, 0, 0, 0, 1, 1, 1, 0]),
    shape: [2, 6],
  };

  it('sums the masked per-token log-probs; reference sums are plain constants', async () => {
    const model = createGPT(tiny, { rng: createRng(5) });
    const before = tf.memory().numTensors;
    const sums = sequenceLogProbSums(model, chosen);
    const manual = tf.tidy(() => {
      const lp = model.sequenceLogProbs(tf.tensor2d(chosen.tokens as Int32Array, [2, 6], 'int32'), tf.tensor2d(chosen.responseMask as Float32Array, [2, 6]), tf.tensor2d(chosen.attentionMask as Float32Array, [2, 6]));
      return Array.from(lp.arraySync() as number[][], (row) => row.reduce((a, b) => a + b, 0));
    });
    const got = Array.from(sums.dataSync());
    got.forEach((v, i) => close(v, manual[i]!, 1e-5, `row ${i}`));
    assert.ok(got.every((v) => v < 0));
    const ref = await referenceLogProbSums(model, chosen);
    assert.ok(ref instanceof Float32Array);
    Array.from(ref).forEach((v, i) => close(v, got[i]!, 1e-6, `ref row ${i}`));
    sums.dispose();
    assert.equal(tf.memory().numTensors, before);
    assert.throws(() => sequenceLogProbSums(model, { ...chosen, shape: undefined }), /'shape' is required when 'tokens' is a typed array/);
    model.dispose();
  });

  for (const type of PREFERENCE_LOSS_TYPES) {
    it(`'${type}' training on a tiny GPT lowers the loss and moves h toward the label`, async () => {
      const policy = createGPT(tiny, { rng: createRng(11) });
      const reference = createGPT(tiny, { rng: createRng(11) }, { trainable: false });
      const refChosen = await referenceLogProbSums(reference, chosen);
      const refRejected = await referenceLogProbSums(reference, rejected);
      const labels = { p: [0.9, 0.2], target: [0.5, -1] }; // dpo_soft: pair 1 prefers y_l; bfpo: safe/safe, unsafe/safe
      const beta = 0.5;
      const { history } = await train({
        params: policy.params,
        batch: () => null,
        loss: () =>
          preferenceLoss(
            type,
            { policyChosen: sequenceLogProbSums(policy, chosen), policyRejected: sequenceLogProbSums(policy, rejected), refChosen, refRejected, ...labels },
            { beta },
          ),
        config: { steps: 25, learningRate: 3e-2, minLearningRate: 3e-2, warmupSteps: 0, decaySteps: 0, weightDecay: 0, gradClipNorm: 0 },
      });
      const first = history[0]!;
      const last = history[history.length - 1]!;
      // policy = reference at step 0, so h = 0: DPO forms start at log 2, IPO at (1/(2τ))² = 1
      if (type === 'dpo' || type === 'dpo_soft') close(first.loss, Math.log(2), 1e-5, 'initial loss');
      if (type === 'ipo') close(first.loss, 1, 1e-5, 'initial loss');
      close(first.metrics['pref/margin']!, 0, 1e-5, 'initial margin');
      if (type === 'dpo_soft') {
        // the soft-label loss is bounded below by the labels' mean entropy, reached at βh = logit(p)
        const H = (p: number): number => -p * Math.log(p) - (1 - p) * Math.log(1 - p);
        const floor = (H(0.9) + H(0.2)) / 2; // (0.325083 + 0.500402)/2 = 0.412743
        assert.ok(last.loss >= floor - 1e-5 && last.loss < floor + 0.01, `dpo_soft: loss ${first.loss} -> ${last.loss}, floor ${floor}`);
      } else {
        assert.ok(last.loss < 0.5 * first.loss, `${type}: loss ${first.loss} -> ${last.loss}`);
      }
      assert.equal(last.metrics['pref/accuracy'], 1, `${type}: final accuracy`);
      policy.dispose();
      reference.dispose();
    });
  }
});
