/**
 * The one pairwise trainer (src/align/pairwise.ts) on a tiny gold world: a 1-layer GPT SFT'd for a
 * few steps on the world's SFT corpus is the frozen reference; every loss type raises its pairwise
 * accuracy on the training pairs; BFPO's targets and per-cell accuracy; the replay buffer; one
 * stacked forward pass per step; tensors flat across steps.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { BFPO_CELLS, type BfpoCell } from '../src/align/bfpo.js';
import { runBFPO } from '../src/align/bfpo-method.js';
import {
  bfpoPairs,
  dialogueLogProbSums,
  ReferenceLogProbs,
  evaluatePairs,
  helpfulnessPairs,
  pairwiseConfig,
  replayPairs,
  safetyPairs,
  trainPreference,
  withSoftLabels,
  type PreferencePair,
} from '../src/align/pairwise.js';
import { registerCpuUnsortedSegmentSum } from '../src/backend/wasm-unsorted-segment-sum.js';
import { buildPromptSet } from '../src/data/pairs.js';
import type { PreferenceLossType } from '../src/losses/preference.js';
import { gptConfig } from '../src/model/config.js';
import { createGPT, type GPT } from '../src/model/gpt.js';
import { encodeDialogue, wordTokenizerFromWords } from '../src/tokenizer/index.js';
import { trainSft } from '../src/train/sft.js';
import { createRng } from '../src/util/rng.js';
import { buildSftCorpus, generatePreferenceDataset, worldVocabulary } from '../src/world/index.js';
import { useTestBackend } from './helpers.js';

let restoreKernel: () => void = () => {};
const tok = wordTokenizerFromWords(worldVocabulary());
const pad = tok.specials.pad;
const cfg = gptConfig(undefined, { vocabSize: tok.vocabSize, blockSize: 64, nLayer: 1, nHead: 2, nEmbd: 16, mlpRatio: 2 });
const rows = generatePreferenceDataset({ seed: 3, total: 100, split: 'train' }).rows;
let reference: GPT;

/** Total tokens of a pair (prompt + both responses): the tests train on the shortest pairs. */
const size = (p: PreferencePair): number => p.prompt.length + Math.max(p.chosen.length, p.rejected.length);
const shortest = (ps: readonly PreferencePair[], n: number): PreferencePair[] => [...ps].sort((a, b) => size(a) - size(b)).slice(0, n);

before(async () => {
  const backend = await useTestBackend();
  // cpu's stock UnsortedSegmentSum (the gradient of every gather) loops over segments: seconds per step
  if (backend === 'cpu') restoreKernel = registerCpuUnsortedSegmentSum();
  const corpus = buildSftCorpus({ size: 200, seed: 5 }).examples.map((e) => {
    const d = encodeDialogue(tok, e.prompt, e.response);
    return { prompt: d.promptIds, response: d.responseIds };
  });
  // a few SFT steps, then a frozen copy is π_ref
  const sft = createGPT(cfg, { rng: createRng(1) });
  await trainSft(sft, corpus, { batchSize: 4, padId: pad, rng: createRng(2) }, { steps: 16, learningRate: 3e-3, warmupSteps: 2 });
  reference = createGPT(cfg, { copyOf: sft.params }, { trainable: false });
  sft.dispose();
});

after(() => {
  reference?.dispose();
  restoreKernel();
});

/** A GPT that counts its sequenceLogProbs calls and the row count of each. */
function counting(model: GPT): { model: GPT; rows: number[] } {
  const rowsSeen: number[] = [];
  const wrapped: GPT = {
    ...model,
    config: model.config,
    params: model.params,
    sequenceLogProbs: (tokens, mask, attn) => {
      rowsSeen.push(tokens.shape[0]);
      return model.sequenceLogProbs(tokens, mask, attn);
    },
  };
  return { model: wrapped, rows: rowsSeen };
}

describe('pair builders', () => {
  it('BFPO: chosen = the more helpful response, the four targets by cell; replay pairs are safe/safe (½)', () => {
    const expected: Record<BfpoCell, number> = { 'safe/unsafe': 1, 'safe/safe': 0.5, 'unsafe/unsafe': -0.5, 'unsafe/safe': -1 };
    const pairs = bfpoPairs(rows, tok);
    const helpful = helpfulnessPairs(rows, tok);
    assert.equal(pairs.length, helpful.length);
    for (const [i, p] of pairs.entries()) {
      const row = rows[p.index!]!;
      assert.deepEqual(p.chosen, helpful[i]!.chosen, 'y_hw is the helpfulness-chosen side');
      const cell = `${[row.is_response_0_safe, row.is_response_1_safe][row.better_response_id] ? 'safe' : 'unsafe'}/${[row.is_response_0_safe, row.is_response_1_safe][1 - row.better_response_id] ? 'safe' : 'unsafe'}`;
      assert.equal(p.cell, cell);
      assert.equal(p.target, expected[p.cell!]);
    }
    for (const cell of BFPO_CELLS) assert.ok(pairs.some((p) => p.cell === cell), `the data have a '${cell}' pair`);
    const replay = replayPairs(rows.slice(0, 5), tok);
    assert.ok(replay.every((p) => p.target === 0.5 && p.cell === 'safe/safe'));
    // safety pairs put the safer response first
    const safe = safetyPairs(rows, tok);
    assert.ok(safe.length > 0 && safe.length <= rows.length);
  });
});

describe('trainPreference', () => {
  const helpful = shortest(helpfulnessPairs(rows, tok), 4);
  const bfpo = BFPO_CELLS.flatMap((cell) => shortest(bfpoPairs(rows, tok).filter((p) => p.cell === cell), 1));
  const soft = withSoftLabels(helpful, helpful.map((_, i) => (i % 2 === 0 ? 0.9 : 0.2)));
  const cases: [PreferenceLossType, PreferencePair[], number][] = [
    ['dpo', helpful, 0.5],
    ['dpo_soft', soft, 0.5],
    ['ipo', helpful, 0.5],
    ['bfpo', bfpo, 0.5],
  ];

  for (const [type, pairs, beta] of cases) {
    it(`'${type}' raises pairwise accuracy on its training pairs; one [2B, T] forward per step; tensors flat`, async () => {
      const policy = createGPT(cfg, { copyOf: reference.params });
      const pol = counting(policy);
      const ref = counting(reference);
      const opts = { padId: pad, batchSize: 16 };
      const before = await evaluatePairs(policy, reference, pairs, type, opts);
      const counts: number[] = [];
      const steps = 10;
      const { history } = await trainPreference(
        pol.model,
        ref.model,
        pairs,
        { lossType: type, beta, batchSize: pairs.length, padId: pad, rng: createRng(7) },
        { steps, learningRate: 1e-2, minLearningRate: 1e-2, warmupSteps: 0, weightDecay: 0 },
        { onStep: () => void counts.push(tf.memory().numTensors) },
      );
      const after = await evaluatePairs(policy, reference, pairs, type, opts);
      // policy = reference at step 0: h = 0 exactly
      assert.ok(Math.abs(history[0]!.metrics['pref/margin']!) < 1e-4, 'initial margin 0');
      assert.ok(after.accuracy > before.accuracy, `${type}: accuracy ${before.accuracy} -> ${after.accuracy}`);
      assert.ok(after.accuracy >= 0.75, `${type}: final accuracy ${after.accuracy}`);
      assert.ok(history[history.length - 1]!.loss < history[0]!.loss, `${type}: loss ${history[0]!.loss} -> ${history[history.length - 1]!.loss}`);
      // chosen and rejected (and the reference's) in one stacked pass per step
      assert.deepEqual(pol.rows, Array(steps).fill(2 * pairs.length));
      assert.deepEqual(ref.rows, Array(steps).fill(2 * pairs.length));
      // AdamW allocates its moments at step 0; from then on the count stays flat
      assert.ok(counts.slice(1).every((c) => c === counts[0]), `tensor counts per step: ${counts.join(' ')}`);
      if (type === 'bfpo') {
        assert.ok(after.byCell, 'per-cell accuracy reported');
        for (const cell of BFPO_CELLS) {
          assert.equal(after.byCell[cell].total, 1);
          assert.ok(after.byCell[cell].accuracy >= 0 && after.byCell[cell].accuracy <= 1);
        }
        // margins move toward the targets' signs: positive cells above negative cells
        assert.ok(after.byCell['safe/unsafe'].meanMargin > after.byCell['unsafe/safe'].meanMargin);
      }
      policy.dispose();
    });
  }

  it("remembers π_ref's sums (ReferenceLogProbs): the same training, no reference pass once they are known", async () => {
    const train = async (cache?: ReferenceLogProbs) => {
      const policy = createGPT(cfg, { copyOf: reference.params });
      const { history } = await trainPreference(
        policy,
        cache ? (cache.model as GPT) : reference,
        soft,
        { lossType: 'dpo_soft', beta: 0.5, batchSize: 2, padId: pad, rng: createRng(5), ...(cache ? { referenceLogProbs: cache } : {}) },
        { steps: 4, learningRate: 1e-2, warmupSteps: 0 },
      );
      policy.dispose();
      return history.map((h) => h.loss);
    };
    const plain = await train();
    const ref = counting(reference);
    const cache = new ReferenceLogProbs(ref.model, { padId: pad, batchSize: 3 });
    const cached = await train(cache);
    cached.forEach((l, i) => assert.ok(Math.abs(l - plain[i]!) < 1e-5, `step ${i}: ${l} vs ${plain[i]}`));
    // 4 pairs, 2 per step, 4 steps: each of the 8 responses is scored once (in the first two steps' batches)
    assert.equal(cache.size, 8);
    assert.equal(ref.rows.reduce((a, b) => a + b, 0), 8, 'each response through the reference once');
    const again = await train(cache);
    assert.deepEqual(again, cached);
    assert.equal(ref.rows.reduce((a, b) => a + b, 0), 8, 'nothing computed again');
    // lookups equal a direct computation; a cache of another model is refused
    const d = soft.map((p) => ({ prompt: p.prompt, response: p.chosen }));
    const direct = await dialogueLogProbSums(reference, d, { padId: pad });
    Array.from(await cache.of(d)).forEach((v, i) => assert.ok(Math.abs(v - direct[i]!) < 1e-5));
    assert.throws(() => cache.set(d, [1]), /1 sums for 4 dialogues/);
    const policy = createGPT(cfg, { copyOf: reference.params });
    assert.throws(
      () => trainPreference(policy, reference, soft, { lossType: 'dpo_soft', padId: pad, rng: createRng(1), referenceLogProbs: cache }),
      /another model's log-probs/,
    );
    policy.dispose();
  });

  it('adds the replay buffer to the loss with its weight, in the same stacked pass', async () => {
    const policy = createGPT(cfg, { copyOf: reference.params });
    const pol = counting(policy);
    const main = bfpo.slice(0, 3);
    const replay = replayPairs(rows, tok);
    const buffer = shortest(replay, 2);
    const { history } = await trainPreference(
      pol.model,
      reference,
      main,
      { lossType: 'bfpo', beta: 0.5, batchSize: 3, padId: pad, rng: createRng(8), replay: { pairs: buffer, weight: 0.5, batchSize: 2 } },
      { steps: 2, learningRate: 1e-2, warmupSteps: 0 },
    );
    assert.deepEqual(pol.rows, [10, 10], '2·3 main + 2·2 replay rows');
    for (const h of history) {
      const m = h.metrics;
      assert.ok(Math.abs(h.loss - (m['pref/main_loss']! + 0.5 * m['pref/replay_loss']!)) < 1e-4, `loss ${h.loss} = main + 0.5·replay`);
      assert.ok(m['pref/replay_accuracy']! >= 0 && m['pref/replay_accuracy']! <= 1);
    }
    // at h = 0 the replay pairs' loss is (0 − ½/τ)² = 1
    assert.ok(Math.abs(history[0]!.metrics['pref/replay_loss']! - 1) < 1e-4);
    policy.dispose();
  });

  it('adds α·NLL of the preferred responses (per token) when sftWeight > 0', async () => {
    const policy = createGPT(cfg, { copyOf: reference.params });
    const soft2 = soft.slice(0, 2); // p = 0.9 and 0.2
    const { history } = await trainPreference(
      policy,
      reference,
      soft2,
      { lossType: 'dpo_soft', beta: 0.5, batchSize: 2, sftWeight: 0.5, padId: pad, rng: createRng(9) },
      { steps: 1, learningRate: 1e-3, warmupSteps: 0 },
    );
    // at step 0 the policy is the reference: h = 0, the soft DPO loss is log 2
    const chosen = await dialogueLogProbSums(reference, soft2.map((p) => ({ prompt: p.prompt, response: p.chosen })), { padId: pad });
    const rejected = await dialogueLogProbSums(reference, soft2.map((p) => ({ prompt: p.prompt, response: p.rejected })), { padId: pad });
    const w = [0.9, 0.2];
    let num = 0;
    let den = 0;
    soft2.forEach((p, i) => {
      num -= w[i]! * chosen[i]! + (1 - w[i]!) * rejected[i]!;
      den += w[i]! * p.chosen.length + (1 - w[i]!) * p.rejected.length;
    });
    const nll = history[0]!.metrics['pref/nll']!;
    assert.ok(Math.abs(nll - num / den) < 1e-4, `per-token NLL ${nll} vs ${num / den}`);
    assert.ok(Math.abs(history[0]!.loss - (Math.log(2) + 0.5 * nll)) < 1e-4);
    policy.dispose();
  });

  it('takes the NLL term on nllRows instead of the pairs when given (stacked after the pair rows)', async () => {
    const policy = createGPT(cfg, { copyOf: reference.params });
    const pol = counting(policy);
    const soft2 = soft.slice(0, 2);
    // two fixed rows: the rejected responses of pair 0 and the chosen one of pair 1
    const extra = [
      { prompt: soft2[0]!.prompt, response: soft2[0]!.rejected },
      { prompt: soft2[1]!.prompt, response: soft2[1]!.chosen },
    ];
    let draws = 0;
    const { history } = await trainPreference(
      pol.model,
      reference,
      soft2,
      { lossType: 'dpo_soft', beta: 0.5, batchSize: 2, sftWeight: 0.5, padId: pad, rng: createRng(9), nllRows: { draw: () => (draws++, extra) } },
      { steps: 1, learningRate: 1e-3, warmupSteps: 0 },
    );
    assert.equal(draws, 1);
    assert.deepEqual(pol.rows, [6], '2·2 pair rows + 2 NLL rows in one pass');
    const sums = await dialogueLogProbSums(reference, extra, { padId: pad });
    const want = -(sums[0]! + sums[1]!) / (extra[0]!.response.length + extra[1]!.response.length);
    const nll = history[0]!.metrics['pref/nll']!;
    assert.ok(Math.abs(nll - want) < 1e-4, `per-token NLL ${nll} vs ${want}`);
    assert.ok(Math.abs(history[0]!.loss - (Math.log(2) + 0.5 * nll)) < 1e-4);
    policy.dispose();
  });

  it('names missing labels, bad settings and unknown loss types', async () => {
    const policy = createGPT(cfg, { copyOf: reference.params });
    const base = { padId: pad, rng: createRng(1) };
    await assert.rejects(() => Promise.resolve().then(() => trainPreference(policy, reference, helpful, { ...base, lossType: 'dpo_soft' })), /pairs\[0\]\.p = undefined: lossType 'dpo_soft' needs a soft label/);
    await assert.rejects(() => Promise.resolve().then(() => trainPreference(policy, reference, helpful, { ...base, lossType: 'bfpo' })), /pairs\[0\]\.target = undefined/);
    await assert.rejects(() => Promise.resolve().then(() => trainPreference(policy, reference, [], { ...base })), /'pairs' is empty/);
    assert.throws(() => pairwiseConfig({ lossType: 'kto' as PreferenceLossType }), /PairwiseConfig\.lossType = "kto": must be one of "dpo", "dpo_soft", "ipo", "bfpo"/);
    assert.throws(() => pairwiseConfig({ beta: 0 }), /PairwiseConfig\.beta = 0/);
    policy.dispose();
  });
});

describe('runBFPO', () => {
  it('reports the target and accuracy of each of the four label cells, with the replay buffer on', async () => {
    const before = tf.memory().numTensors;
    const data = { reference, tokenizer: tok, rows: rows.slice(0, 40), prompts: buildPromptSet(rows.slice(0, 40), tok), replayRows: rows.slice(40, 50) };
    const res = await runBFPO(data, { steps: 2, batchSize: 4, replayBatchSize: 2, evalPairs: 16, learningRate: 1e-2, warmupSteps: 0 });
    const targets = BFPO_CELLS.map((c) => res.extras.cells[c].target);
    assert.deepEqual(targets, [1, 0.5, -0.5, -1]);
    for (const cell of BFPO_CELLS) {
      const r = res.extras.cells[cell];
      assert.equal(res.metrics[`bfpo/pairs/${cell}`], r.pairs);
      // accuracy over the cell's pairs among the 16 evaluated (NaN when none was evaluated)
      assert.ok(Number.isNaN(r.accuracy) || (r.accuracy >= 0 && r.accuracy <= 1), `${cell}: ${r.accuracy}`);
    }
    assert.equal(BFPO_CELLS.reduce((s, c) => s + res.extras.cells[c].pairs, 0), res.extras.pairs);
    assert.ok(res.extras.replayPairs > 0);
    assert.ok('final/pref/replay_loss' in res.metrics);
    assert.ok(res.timings['total']! >= res.timings['train']!);
    assert.equal(res.history.length, 2);
    res.policy.dispose();
    assert.equal(tf.memory().numTensors, before);
  });
});
