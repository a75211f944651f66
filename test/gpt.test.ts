import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { createRng } from '../src/util/rng.js';
import { gptConfig, type GPTConfig } from '../src/model/config.js';
import { createGPT, gptParameterShapes, type GPT, type WeightData } from '../src/model/gpt.js';
import { generate, packGeneratedTensors, samplingWeights } from '../src/model/generate.js';
import { createScoreModel } from '../src/model/score-model.js';
import { lmLoss, trainLanguageModel, type TokenBatch } from '../src/train/lm.js';
import { useTestBackend } from './helpers.js';

const tiny: GPTConfig = gptConfig(undefined, { vocabSize: 7, blockSize: 6, nLayer: 2, nHead: 2, nEmbd: 8, initStd: 0.4 });

before(async () => {
  await useTestBackend();
});

/** A fixed batch with padding and a partial loss mask, so every code path (positions, key mask) is exercised. */
function fixedBatch(): TokenBatch {
  return {
    tokens: Int32Array.from([1, 2, 3, 4, 5, 6, 0, 0, 3, 1, 2, 5]),
    lossMask: Float32Array.from([0, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1]),
    attentionMask: Float32Array.from([1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1]),
    shape: [2, 6],
  };
}

function lossValue(model: GPT, batch: TokenBatch): number {
  return tf.tidy(() => lmLoss(model, batch).loss.dataSync()[0]!);
}

describe('GPT', () => {
  it('has the parameter shapes of its config', () => {
    const m = createGPT(tiny, { rng: createRng(1) });
    const shapes = gptParameterShapes(tiny);
    assert.deepEqual(Object.keys(m.params).sort(), Object.keys(shapes).sort());
    for (const [n, v] of Object.entries(m.params)) assert.deepEqual(v.shape, shapes[n], n);
    m.dispose();
  });

  it('gradients of the LM loss match central finite differences for every parameter', () => {
    const model = createGPT(tiny, { rng: createRng(7) });
    const batch = fixedBatch();
    const vars = Object.values(model.params);
    const names = Object.keys(model.params);
    const { grads } = tf.variableGrads(() => lmLoss(model, batch).loss, vars);
    const pick = createRng(99);
    const eps = 1e-2;
    let checked = 0;
    for (const name of names) {
      const v = model.params[name]!;
      const g = grads[v.name]!.dataSync();
      const size = v.size;
      // a few entries per tensor, always including the entry with the largest gradient
      let argmax = 0;
      for (let i = 1; i < size; i++) if (Math.abs(g[i]!) > Math.abs(g[argmax]!)) argmax = i;
      const entries = new Set([argmax, pick.int(size), pick.int(size), pick.int(size)]);
      const base = v.dataSync().slice() as Float32Array;
      for (const i of entries) {
        const plus = base.slice();
        plus[i] = base[i]! + eps;
        v.assign(tf.tensor(plus, v.shape));
        const lp = lossValue(model, batch);
        const minus = base.slice();
        minus[i] = base[i]! - eps;
        v.assign(tf.tensor(minus, v.shape));
        const lm = lossValue(model, batch);
        v.assign(tf.tensor(base, v.shape));
        const fd = (lp - lm) / (2 * eps);
        const an = g[i]!;
        const tol = 2e-2 * Math.max(Math.abs(fd), Math.abs(an)) + 3e-4;
        assert.ok(Math.abs(fd - an) <= tol, `${name}[${i}]: analytic ${an} vs finite difference ${fd}`);
        checked++;
      }
    }
    assert.ok(checked >= names.length * 2);
    tf.dispose(Object.values(grads));
    model.dispose();
  });

  it('sequenceLogProbs matches a hand-computed 2-token example', () => {
    // V=3, D=2, one layer with all block weights zero: the blocks add nothing, so
    // h = LN(wte[a] + wpe[0]) and logits = h . wte^T.
    const c = gptConfig(undefined, { vocabSize: 3, blockSize: 2, nLayer: 1, nHead: 1, nEmbd: 2, layerNormEps: 1e-5 });
    const weights: Record<string, WeightData> = {};
    for (const [name, shape] of Object.entries(gptParameterShapes(c))) {
      const n = shape.reduce((a, b) => a * b, 1);
      weights[name] = { shape, data: new Float32Array(n).fill(name.endsWith('ln_1.weight') || name.endsWith('ln_2.weight') || name === 'ln_f.weight' ? 1 : 0) };
    }
    weights['wte'] = { shape: [3, 2], data: Float32Array.from([1, -1, 0, 0.5, 2, 0]) };
    const model = createGPT(c, { weights });
    // x = wte[0] = [1, -1]; LN: mean 0, var 1 -> h = [1, -1] / sqrt(1 + 1e-5)
    // logits = h . wte^T = [2, -0.5, 2] / sqrt(1 + 1e-5); target token 2
    const s = 1 / Math.sqrt(1 + 1e-5);
    const l = [2 * s, -0.5 * s, 2 * s];
    const expected = l[2]! - Math.log(Math.exp(l[0]!) + Math.exp(l[1]!) + Math.exp(l[2]!));
    const out = tf.tidy(() =>
      model.sequenceLogProbs(tf.tensor2d([[0, 2]], [1, 2], 'int32'), tf.tensor2d([[0, 1]])).arraySync(),
    );
    assert.equal(out[0]![0], 0);
    assert.ok(Math.abs(out[0]![1]! - expected) < 1e-5, `${out[0]![1]} vs ${expected}`);
    model.dispose();
  });

  it('left padding changes nothing: a padded row equals the same row alone', () => {
    const model = createGPT(tiny, { rng: createRng(3) });
    const alone = tf.tidy(() => model.logits(tf.tensor2d([[4, 2, 5]], [1, 3], 'int32')).arraySync()[0]!);
    const padded = tf.tidy(
      () => model.logits(tf.tensor2d([[0, 0, 4, 2, 5]], [1, 5], 'int32'), tf.tensor2d([[0, 0, 1, 1, 1]])).arraySync()[0]!,
    );
    for (let t = 0; t < 3; t++) {
      for (let v = 0; v < tiny.vocabSize; v++) assert.ok(Math.abs(alone[t]![v]! - padded[t + 2]![v]!) < 1e-5);
    }
    model.dispose();
  });
});

describe('generate', () => {
  const cfg = gptConfig('nano', { vocabSize: 40, blockSize: 24 });
  let model: GPT;
  before(() => {
    model = createGPT(cfg, { rng: createRng(11) });
  });
  const prompts = [[5, 6, 7], [8], [9, 10, 11, 12, 13], [1, 2]];

  it('KV-cached log-probs equal a full recomputation of the sequence', async () => {
    const out = await generate(model, prompts, createRng(5), { maxNewTokens: 12, stopToken: 3 });
    const packed = packGeneratedTensors(prompts, out.responses);
    const lp = tf.tidy(() => model.sequenceLogProbs(packed.tokens, packed.responseMask, packed.attentionMask).arraySync());
    const promptLen = 5;
    out.responses.forEach((r, b) => {
      r.forEach((_, j) => {
        const a = out.logProbs[b]![j]!;
        const e = lp[b]![promptLen + j]!;
        assert.ok(Math.abs(a - e) < 1e-4, `row ${b} token ${j}: cached ${a} vs full ${e}`);
      });
    });
    tf.dispose(Object.values(packed));
  });

  it('gives the same samples with and without the KV cache', async () => {
    const a = await generate(model, prompts, createRng(21), { maxNewTokens: 10 });
    const b = await generate(model, prompts, createRng(21), { maxNewTokens: 10, kvCache: false });
    assert.deepEqual(a.responses, b.responses);
    a.logProbs.flat().forEach((x, i) => assert.ok(Math.abs(x - b.logProbs.flat()[i]!) < 1e-4));
  });

  it('is deterministic for a seed and differs across seeds', async () => {
    const a = await generate(model, prompts, createRng(42), { maxNewTokens: 10, topK: 20, topP: 0.9, temperature: 0.8 });
    const b = await generate(model, prompts, createRng(42), { maxNewTokens: 10, topK: 20, topP: 0.9, temperature: 0.8 });
    const c = await generate(model, prompts, createRng(43), { maxNewTokens: 10, topK: 20, topP: 0.9, temperature: 0.8 });
    assert.deepEqual(a, b);
    assert.notDeepEqual(a.responses, c.responses);
  });

  it('stops rows at the stop token and reports it', async () => {
    // temperature 0 with a stop token equal to the greedy first token stops every row after one token
    const first = await generate(model, prompts, createRng(1), { maxNewTokens: 1, temperature: 0 });
    const stop = first.responses[0]![0]!;
    const out = await generate(model, [prompts[0]!], createRng(1), { maxNewTokens: 8, temperature: 0, stopToken: stop });
    assert.deepEqual(out.responses[0], [stop]);
    assert.deepEqual(out.stopped, [true]);
  });

  it('rejects bad input with a clear message', async () => {
    await assert.rejects(generate(model, [[1, 99]], createRng(1), {}), /token 1 = 99/);
    await assert.rejects(generate(model, [[1]], createRng(1), { maxNewTokens: 40 }), /exceeds blockSize/);
    await assert.rejects(generate(model, [[1]], createRng(1), { topP: 0 }), /generate.topP/);
  });

  it('top-k and top-p keep the right tokens', () => {
    const logits = Float32Array.from([Math.log(0.5), Math.log(0.3), Math.log(0.15), Math.log(0.05)]);
    const k2 = samplingWeights(logits, 1, 2, 1);
    assert.deepEqual([...k2].map((w) => w > 0), [true, true, false, false]);
    const p = samplingWeights(logits, 1, 0, 0.75); // 0.5 + 0.3 reaches 0.75
    assert.deepEqual([...p].map((w) => w > 0), [true, true, false, false]);
    const p2 = samplingWeights(logits, 1, 0, 0.5); // 0.5 alone reaches 0.5
    assert.deepEqual([...p2].map((w) => w > 0), [true, false, false, false]);
    const g = samplingWeights(logits, 0, 0, 1);
    assert.deepEqual([...g], [1, 0, 0, 0]);
  });

  it('keeps the tensor count flat over 200 sampling calls', async () => {
    await generate(model, prompts, createRng(0), { maxNewTokens: 4 });
    const before = tf.memory().numTensors;
    const rng = createRng(8);
    for (let i = 0; i < 200; i++) await generate(model, prompts, rng, { maxNewTokens: 4, kvCache: i % 2 === 0 });
    assert.equal(tf.memory().numTensors, before);
  });
});

describe('training', () => {
  it('drives the loss on a tiny fixed corpus close to zero, with a flat tensor count over 200 steps', async () => {
    const cfg = gptConfig('nano', { vocabSize: 12, blockSize: 8 });
    const model = createGPT(cfg, { rng: createRng(2) });
    const data: TokenBatch = {
      tokens: Int32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 8, 7, 6, 5, 4, 3, 2, 1, 3, 5, 7, 9, 11, 2, 4, 10, 10, 11, 11, 1, 1, 2, 2]),
      lossMask: Float32Array.from({ length: 32 }, (_, i) => (i % 8 === 0 ? 0 : 1)),
      shape: [4, 8],
    };
    const before = tf.memory().numTensors;
    let afterFirst = -1;
    const { history } = await trainLanguageModel(model, () => data, { steps: 200, learningRate: 1e-2, minLearningRate: 1e-3, weightDecay: 0 }, {
      onStep: (log) => {
        if (log.step === 0) afterFirst = tf.memory().numTensors;
      },
    });
    // the optimizer's moment variables appear at step 0 and nothing else accumulates; the loop frees them at the end
    assert.equal(afterFirst - before, 2 * Object.keys(model.params).length);
    assert.equal(tf.memory().numTensors, before);
    const first = history[0]!.loss;
    const last = history.at(-1)!.loss;
    assert.ok(first > 2, `initial loss ${first} should be near ln(12)`);
    assert.ok(last < 0.05, `final loss ${last} should be near zero`);
    model.dispose();
  });
});

describe('score model', () => {
  it('end score is the per-token score at the last real token', () => {
    const cfg = gptConfig('nano', { vocabSize: 20, blockSize: 8 });
    const sm = createScoreModel(cfg, { rng: createRng(4) });
    const tokens = tf.tensor2d([[3, 4, 5, 0], [6, 7, 8, 9]], [2, 4], 'int32');
    const mask = tf.tensor2d([[1, 1, 1, 0], [1, 1, 1, 1]]);
    const per = tf.tidy(() => sm.scores(tokens, mask).arraySync());
    const end = tf.tidy(() => Array.from(sm.endScores(tokens, mask).dataSync()));
    assert.ok(Math.abs(end[0]! - per[0]![2]!) < 1e-6);
    assert.ok(Math.abs(end[1]! - per[1]![3]!) < 1e-6);
    assert.equal(sm.params['score.bias']!.dataSync()[0], 0);
    tf.dispose([tokens, mask]);
    sm.dispose();
  });
});

describe('checkpoints of models', () => {
  it('a save/load round trip gives identical logits and end scores', async () => {
    const { mkdtempSync, rmSync, writeFileSync, readFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { saveGPT, loadGPT, saveScoreModel, loadScoreModel } = await import('../src/io/model-io.js');
    const dir = mkdtempSync(join(tmpdir(), 'safe-align-ckpt-'));
    try {
      const cfg = gptConfig('nano', { vocabSize: 30, blockSize: 12 });
      const model = createGPT(cfg, { rng: createRng(9) });
      await saveGPT(join(dir, 'gpt'), model, { step: 3 });
      const { model: back, metadata } = loadGPT(join(dir, 'gpt'));
      assert.equal(metadata['step'], 3);
      assert.deepEqual(back.config, model.config);
      const tokens = tf.tensor2d([[1, 2, 3, 4], [5, 6, 7, 8]], [2, 4], 'int32');
      const a = tf.tidy(() => Array.from(model.logits(tokens).dataSync()));
      const b = tf.tidy(() => Array.from(back.logits(tokens).dataSync()));
      assert.deepEqual(a, b);
      const sm = createScoreModel(cfg, { rng: createRng(10) });
      await saveScoreModel(join(dir, 'rm'), sm);
      const { model: smBack } = loadScoreModel(join(dir, 'rm'));
      const ea = tf.tidy(() => Array.from(sm.endScores(tokens).dataSync()));
      const eb = tf.tidy(() => Array.from(smBack.endScores(tokens).dataSync()));
      assert.deepEqual(ea, eb);
      // a GPT checkpoint is not a score model, and a truncated file is refused with its name
      assert.throws(() => loadScoreModel(join(dir, 'gpt')), /kind/);
      const file = join(dir, 'gpt', 'model.safetensors');
      const bytes = readFileSync(file);
      writeFileSync(file, bytes.subarray(0, bytes.length - 100));
      assert.throws(() => loadGPT(join(dir, 'gpt')), /model\.safetensors.*truncated/s);
      tf.dispose(tokens);
      [model, back, sm, smBack].forEach((m) => m.dispose());
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
