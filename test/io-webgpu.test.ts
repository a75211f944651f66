/**
 * Saving on the webgpu backend (Dawn on Mesa llvmpipe on a CPU-only machine). webgpu in Node has no
 * synchronous read-back, so checkpoints, `exportWeights` and `AdamW.exportState` read with
 * `await data()`: after one AdamW step (weights and moments then live on the GPU) a GPT and a score
 * model are saved, loaded back on webgpu and on wasm, and compared exactly with what `await data()`
 * reads. Fails (never skips) when webgpu cannot start; the message names the Mesa packages.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { releaseWebGPU, withBackend } from '../src/backend/index.js';
import { startWebGPUForTest } from './helpers.js';
import { createRng } from '../src/util/rng.js';
import { gptConfig } from '../src/model/config.js';
import { createGPT, exportWeights } from '../src/model/gpt.js';
import { createScoreModel } from '../src/model/score-model.js';
import { loadGPT, loadScoreModel, saveGPT, saveScoreModel } from '../src/io/model-io.js';
import { lmLoss, type TokenBatch } from '../src/train/lm.js';
import { rewardModelLoss } from '../src/losses/score.js';
import { AdamW } from '../src/train/adamw.js';
import { trainStep } from '../src/train/trainer.js';

const cfg = gptConfig('nano', { vocabSize: 24, blockSize: 8, initStd: 0.2 });
const batch: TokenBatch = {
  tokens: Int32Array.from([3, 4, 5, 6, 7, 8, 0, 0, 11, 12, 13, 14, 15, 16, 17, 18]),
  lossMask: Float32Array.from([0, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1]),
  attentionMask: Float32Array.from([1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1]),
  shape: [2, 8],
};

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'safe-align-io-webgpu-'));

after(() => {
  releaseWebGPU();
  fs.rmSync(tmpRoot, { recursive: true, force: true });
});

async function readAll(params: Record<string, tf.Tensor>): Promise<Record<string, Float32Array>> {
  const out: Record<string, Float32Array> = {};
  for (const [n, v] of Object.entries(params)) out[n] = Float32Array.from((await v.data()) as Float32Array);
  return out;
}

function assertSame(got: Record<string, ArrayLike<number>>, want: Record<string, ArrayLike<number>>, what: string): void {
  assert.deepEqual(Object.keys(got).sort(), Object.keys(want).sort(), `${what}: names`);
  for (const [n, w] of Object.entries(want)) {
    const g = got[n]!;
    assert.equal(g.length, w.length, `${what} ${n}: length`);
    for (let i = 0; i < w.length; i++) {
      if (!Object.is(g[i], w[i])) assert.fail(`${what} ${n}[${i}]: ${g[i]} vs ${w[i]}`);
    }
  }
}

/** The optimizer's moment variables (private), to read them directly with `await data()`. */
function moments(opt: AdamW): Record<string, tf.Variable> {
  const inner = opt as unknown as { m: Map<string, tf.Variable>; v: Map<string, tf.Variable> };
  const out: Record<string, tf.Variable> = {};
  for (const [n, m] of inner.m) out[`m.${n}`] = m;
  for (const [n, v] of inner.v) out[`v.${n}`] = v;
  return out;
}

describe('saving on webgpu', () => {
  it('saveGPT / saveScoreModel / exportWeights / AdamW.exportState after a step; loads back exactly on webgpu and wasm', { timeout: 300_000 }, async () => {
    await startWebGPUForTest();
    const gptDir = path.join(tmpRoot, 'gpt');
    const smDir = path.join(tmpRoot, 'score');

    const saved = await withBackend('webgpu', async () => {
      assert.equal(tf.getBackend(), 'webgpu');
      // GPT: one LM step with AdamW
      const model = createGPT(cfg, { rng: createRng(5) });
      const opt = new AdamW();
      await trainStep({ params: model.params, loss: (b: TokenBatch) => lmLoss(model, b) }, batch, 0, 1e-2, opt, 1);
      // the weights are GPU buffers now: a synchronous read is refused (what used to break saving)
      assert.throws(() => model.params['wte']!.dataSync(), /cannot read a GPU tensor synchronously/);
      const gptWeights = await readAll(model.params);

      const exported = await exportWeights(model.params);
      assertSame(Object.fromEntries(Object.entries(exported).map(([n, w]) => [n, w.data])), gptWeights, 'exportWeights');
      for (const [n, w] of Object.entries(exported)) assert.deepEqual(w.shape, model.params[n]!.shape, `exportWeights ${n}: shape`);

      const state = await opt.exportState();
      assert.equal(state.step, 1);
      const mv = moments(opt);
      assert.equal(Object.keys(mv).length, 2 * Object.keys(model.params).length, 'a moment pair per weight');
      assertSame(Object.fromEntries(Object.entries(state.tensors).map(([n, t]) => [n, t.data])), await readAll(mv), 'AdamW.exportState');
      for (const [n, t] of Object.entries(state.tensors)) assert.deepEqual(t.shape, mv[n]!.shape, `exportState ${n}: shape`);
      assert.ok(Object.values(state.tensors).some((t) => t.data.some((x) => x !== 0)), 'moments moved');
      // importState on webgpu gives the same state back
      const opt2 = new AdamW();
      opt2.importState(state);
      const state2 = await opt2.exportState();
      assert.equal(state2.step, 1);
      assertSame(Object.fromEntries(Object.entries(state2.tensors).map(([n, t]) => [n, t.data])), Object.fromEntries(Object.entries(state.tensors).map(([n, t]) => [n, t.data])), 'importState/exportState');
      opt2.dispose();

      await saveGPT(gptDir, model, { step: 1 });
      opt.dispose();
      model.dispose();

      // score model: one reward-model step (chosen = row 0, rejected = row 1)
      const sm = createScoreModel(cfg, { rng: createRng(6) });
      const smOpt = new AdamW();
      const pairLoss = (b: TokenBatch) => {
        const tokens = tf.tensor2d(b.tokens, b.shape, 'int32');
        const mask = tf.tensor2d(b.attentionMask!, b.shape);
        const s = sm.endScores(tokens, mask);
        return rewardModelLoss(s.slice([0], [1]), s.slice([1], [1]));
      };
      await trainStep({ params: sm.params, loss: pairLoss }, batch, 0, 1e-2, smOpt, 1);
      assert.throws(() => sm.params['score.weight']!.dataSync(), /cannot read a GPU tensor synchronously/);
      const smWeights = await readAll(sm.params);
      await saveScoreModel(smDir, sm, { stage: 'test' });
      smOpt.dispose();
      sm.dispose();
      return { gptWeights, smWeights };
    });

    for (const backend of ['webgpu', 'wasm'] as const) {
      await withBackend(backend, async () => {
        const { model, metadata } = loadGPT(gptDir);
        assert.equal(metadata['step'], 1);
        assertSame(await readAll(model.params), saved.gptWeights, `GPT loaded on ${backend}`);
        model.dispose();
        const { model: sm, metadata: smMeta } = loadScoreModel(smDir);
        assert.equal(smMeta['stage'], 'test');
        assertSame(await readAll(sm.params), saved.smWeights, `score model loaded on ${backend}`);
        sm.dispose();
      });
    }
  });
});
