import { describe, it, before, after, mock } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import {
  checkpointExists,
  CheckpointError,
  loadCheckpoint,
  readTensorData,
  saveCheckpoint,
  toTensors,
} from '../src/io/checkpoint.js';
import { SafetensorsError } from '../src/io/safetensors.js';
import { createRng } from '../src/util/rng.js';
import { gptConfig, type GPTConfig } from '../src/model/config.js';

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'safe-align-ckpt-'));
let dirCounter = 0;
const freshDir = (): string => path.join(tmpRoot, `c${++dirCounter}`);

/** A few tensors named like the GPT's params; caller disposes. */
function makeParams(seed: number): Record<string, tf.Tensor> {
  const rng = createRng(seed);
  return {
    'wte': tf.tensor2d(rng.normals(5 * 4, 0.02), [5, 4]),
    'h.0.attn.c_attn.weight': tf.tensor2d(rng.normals(4 * 12), [4, 12]),
    'h.0.ln_1.bias': tf.variable(tf.zeros([4]), true, `ckpt-test-bias-${seed}`),
    'step_ids': tf.tensor1d([3, -7, 2147483647], 'int32'),
    'temperature': tf.scalar(0.7),
  };
}

const expectedShapes = {
  'wte': [5, 4],
  'h.0.attn.c_attn.weight': [4, 12],
  'h.0.ln_1.bias': [4],
  'step_ids': [3],
  'temperature': [],
};

/** Checks that `err` is a `Cls` whose message starts with `where:` and matches `pattern`. */
function errorCheck(Cls: new (...a: never[]) => Error, where: string, pattern: RegExp): (err: unknown) => true {
  return (err: unknown) => {
    assert.ok(err instanceof Cls, `expected ${Cls.name}, got ${String(err)}`);
    assert.ok(err.message.startsWith(`${where}: `), `message names ${where}: ${err.message}`);
    assert.match(err.message, pattern);
    return true;
  };
}

/** Asserts `fn` throws `Cls` whose message starts with `where:` and matches `pattern`. */
function assertError(fn: () => unknown, Cls: new (...a: never[]) => Error, where: string, pattern: RegExp): void {
  assert.throws(fn, errorCheck(Cls, where, pattern));
}

/** Asserts the promise `fn` returns rejects with `Cls` whose message starts with `where:` and matches `pattern`. */
async function assertRejects(fn: () => Promise<unknown>, Cls: new (...a: never[]) => Error, where: string, pattern: RegExp): Promise<void> {
  await assert.rejects(fn, errorCheck(Cls, where, pattern));
}

describe('checkpoints', () => {
  let params: Record<string, tf.Tensor>;
  const config: GPTConfig = gptConfig('nano', { vocabSize: 5, nEmbd: 4, nHead: 2, nLayer: 1 });

  before(async () => {
    await tf.setBackend('cpu');
    params = makeParams(1);
  });
  after(() => {
    tf.dispose(Object.values(params));
    fs.rmSync(tmpRoot, { recursive: true, force: true });
  });

  it('save/load round-trips values exactly, writes both files, leaks no tensors', async () => {
    const dir = freshDir();
    assert.equal(checkpointExists(dir), false);
    const before = tf.memory().numTensors;
    await saveCheckpoint(dir, { kind: 'gpt', config, tensors: params, metadata: { step: 12, seed: 1, note: 'x' } });
    assert.equal(tf.memory().numTensors, before, 'save creates no tensors');
    assert.deepEqual(fs.readdirSync(dir).sort(), ['config.json', 'model.safetensors']);
    assert.equal(checkpointExists(dir), true);

    const stored = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
    assert.deepEqual(stored, {
      format: 'safe-align-checkpoint',
      version: 1,
      kind: 'gpt',
      config,
      metadata: { step: 12, seed: 1, note: 'x' },
    });

    const loaded = loadCheckpoint<GPTConfig>(dir, { kind: 'gpt', shapes: expectedShapes });
    assert.equal(tf.memory().numTensors, before, 'load creates no tensors');
    assert.equal(loaded.kind, 'gpt');
    assert.deepEqual(loaded.config, config);
    assert.deepEqual(gptConfig(undefined, loaded.config), config, 'stored config passes the config factory');
    assert.deepEqual(loaded.metadata, { step: 12, seed: 1, note: 'x' });
    assert.deepEqual(Object.keys(loaded.tensors).sort(), Object.keys(params).sort());
    for (const [name, t] of Object.entries(params)) {
      const got = loaded.tensors[name]!;
      assert.equal(got.dtype, t.dtype, name);
      assert.deepEqual(got.shape, t.shape, name);
      assert.deepEqual(Array.from(got.data), Array.from(t.dataSync()), name);
    }
    assert.ok(loaded.tensors.step_ids!.data instanceof Int32Array);

    // toTensors: caller-owned tensors with the same values.
    const made = toTensors(loaded);
    assert.equal(tf.memory().numTensors, before + Object.keys(params).length);
    for (const [name, t] of Object.entries(params)) {
      assert.equal(made[name]!.dtype, t.dtype);
      assert.deepEqual(made[name]!.shape, t.shape);
      assert.deepEqual(Array.from(made[name]!.dataSync()), Array.from(t.dataSync()), name);
    }
    tf.dispose(Object.values(made));
    assert.equal(tf.memory().numTensors, before);
  });

  it('readTensorData copies: later updates to a variable do not change the data read', async () => {
    const v = tf.variable(tf.tensor1d([1, 2]), true, 'ckpt-test-copy');
    const data = await readTensorData({ v });
    const update = tf.tensor1d([5, 6]);
    v.assign(update);
    assert.deepEqual(Array.from(v.dataSync()), [5, 6]);
    assert.deepEqual(Array.from(data.v!.data), [1, 2]);
    // the values are those at the call: an update before the promise settles does not show
    const pending = readTensorData({ v });
    const again = tf.tensor1d([7, 8]);
    v.assign(again);
    assert.deepEqual(Array.from((await pending).v!.data), [5, 6]);
    await assertRejects(() => readTensorData({ v, bad: 3 as unknown as tf.Tensor }, 'dest'), CheckpointError, 'dest', /tensor 'bad' is not a tf\.Tensor/);
    tf.dispose([update, again, v]);
  });

  it('saves the tensors, config and metadata as they are at the call', async () => {
    const dir = freshDir();
    const v = tf.variable(tf.tensor1d([1, 2]), true, 'ckpt-test-snapshot');
    const meta = { step: 1 };
    const cfg = { a: 1 };
    const pending = saveCheckpoint(dir, { kind: 'policy', config: cfg, tensors: { v }, metadata: meta });
    const update = tf.tensor1d([3, 4]);
    v.assign(update);
    meta.step = 2;
    cfg.a = 2;
    await pending;
    const loaded = loadCheckpoint(dir);
    assert.deepEqual(Array.from(loaded.tensors.v!.data), [1, 2]);
    assert.deepEqual(loaded.metadata, { step: 1 });
    assert.deepEqual(loaded.config, { a: 1 });
    tf.dispose([update, v]);
  });

  it('overwrites an existing checkpoint with the new values', async () => {
    const dir = freshDir();
    await saveCheckpoint(dir, { kind: 'gpt', config, tensors: params });
    const other = makeParams(2);
    await saveCheckpoint(dir, { kind: 'gpt', config, tensors: other, metadata: { step: 2 } });
    const loaded = loadCheckpoint(dir);
    assert.deepEqual(Array.from(loaded.tensors.wte!.data), Array.from(other.wte!.dataSync()));
    assert.deepEqual(loaded.metadata, { step: 2 });
    assert.deepEqual(fs.readdirSync(dir).sort(), ['config.json', 'model.safetensors']);
    tf.dispose(Object.values(other));
  });

  it('names the tensor on a shape mismatch, and lists missing and unexpected tensors', async () => {
    const dir = freshDir();
    await saveCheckpoint(dir, { kind: 'gpt', config, tensors: params });
    const model = path.join(dir, 'model.safetensors');
    assertError(
      () => loadCheckpoint(dir, { shapes: { ...expectedShapes, 'h.0.attn.c_attn.weight': [4, 8] } }),
      CheckpointError,
      model,
      /^[^;]*tensor 'h\.0\.attn\.c_attn\.weight' has shape \[4, 12\] but \[4, 8\] was expected$/,
    );
    const { wte: _wte, ...withoutWte } = expectedShapes;
    assertError(
      () => loadCheckpoint(dir, { shapes: { ...withoutWte, 'lm_head': [4, 5] } }),
      CheckpointError,
      model,
      /tensor 'lm_head' \(shape \[4, 5\]\) is missing; unexpected tensor 'wte' \(shape \[5, 4\]\)/,
    );
    assertError(
      () => loadCheckpoint(dir, { kind: 'score-model' }),
      CheckpointError,
      path.join(dir, 'config.json'),
      /checkpoint kind is 'gpt' but 'score-model' was expected/,
    );
  });

  it('gives clear errors for a missing directory or file', async () => {
    const nowhere = path.join(tmpRoot, 'does-not-exist');
    assertError(() => loadCheckpoint(nowhere), CheckpointError, nowhere, /checkpoint directory does not exist/);

    const dir = freshDir();
    await saveCheckpoint(dir, { kind: 'policy', config: { a: 1 }, tensors: { w: params.wte! } });
    fs.rmSync(path.join(dir, 'config.json'));
    assert.equal(checkpointExists(dir), false);
    assertError(() => loadCheckpoint(dir), CheckpointError, path.join(dir, 'config.json'), /missing: not a complete checkpoint/);

    const dir2 = freshDir();
    await saveCheckpoint(dir2, { kind: 'policy', config: { a: 1 }, tensors: { w: params.wte! } });
    fs.rmSync(path.join(dir2, 'model.safetensors'));
    assert.equal(checkpointExists(dir2), false);
    assertError(() => loadCheckpoint(dir2), CheckpointError, path.join(dir2, 'model.safetensors'), /missing/);

    const file = path.join(tmpRoot, 'a-file');
    fs.writeFileSync(file, '');
    assertError(() => loadCheckpoint(file), CheckpointError, file, /is not a directory/);
  });

  it('refuses a bad config.json and a truncated model.safetensors, naming the file', async () => {
    const dir = freshDir();
    await saveCheckpoint(dir, { kind: 'gpt', config, tensors: params });
    const cfg = path.join(dir, 'config.json');
    const good = fs.readFileSync(cfg, 'utf8');
    const rewrite = (edit: (o: Record<string, unknown>) => void): void => {
      const o = JSON.parse(good);
      edit(o);
      fs.writeFileSync(cfg, JSON.stringify(o));
    };
    fs.writeFileSync(cfg, '{"format": ');
    assertError(() => loadCheckpoint(dir), CheckpointError, cfg, /not valid JSON/);
    rewrite((o) => (o.format = 'other'));
    assertError(() => loadCheckpoint(dir), CheckpointError, cfg, /format must be 'safe-align-checkpoint', got "other"/);
    rewrite((o) => (o.version = 2));
    assertError(() => loadCheckpoint(dir), CheckpointError, cfg, /unsupported version 2/);
    rewrite((o) => delete o.config);
    assertError(() => loadCheckpoint(dir), CheckpointError, cfg, /config must be an object/);
    rewrite((o) => (o.kind = ''));
    assertError(() => loadCheckpoint(dir), CheckpointError, cfg, /kind must be a non-empty string/);
    fs.writeFileSync(cfg, good);

    const model = path.join(dir, 'model.safetensors');
    const bytes = fs.readFileSync(model);
    fs.writeFileSync(model, bytes.subarray(0, bytes.length - 10));
    assertError(() => loadCheckpoint(dir), SafetensorsError, model, /tensor '\w+': needs \d+ bytes .* \(truncated file\?\)/);
  });

  it('a failed save leaves the previous checkpoint intact; an interrupted one leaves no config.json', async () => {
    const dir = freshDir();
    await saveCheckpoint(dir, { kind: 'gpt', config, tensors: params, metadata: { step: 1 } });
    const before = tf.memory().numTensors;
    const cfg = path.join(dir, 'config.json');
    const model = path.join(dir, 'model.safetensors');

    const disposed = tf.tensor1d([1]);
    disposed.dispose();
    await assertRejects(() => saveCheckpoint(dir, { kind: 'gpt', config, tensors: { wte: disposed } }), CheckpointError, model, /tensor 'wte' is disposed/);
    const flag = tf.tensor1d([1, 0], 'bool');
    await assertRejects(() => saveCheckpoint(dir, { kind: 'gpt', config, tensors: { mask: flag } }), CheckpointError, model, /tensor 'mask' has dtype bool/);
    flag.dispose();
    await assertRejects(() => saveCheckpoint(dir, { kind: 'gpt', config: { lr: NaN }, tensors: params }), CheckpointError, cfg, /config\.lr is NaN/);
    await assertRejects(() => saveCheckpoint(dir, { kind: 'gpt', config, tensors: params, metadata: { m: new Map() } }), CheckpointError, cfg, /metadata\.m is a Map/);
    await assertRejects(() => saveCheckpoint(dir, { kind: '', config, tensors: params }), CheckpointError, cfg, /kind must be a non-empty string/);
    assert.deepEqual(loadCheckpoint(dir).metadata, { step: 1 }, 'old checkpoint untouched');

    // The rename of config.json fails (injected): the weights were replaced, so the directory
    // must not look like a complete checkpoint.
    const realRename = fs.renameSync;
    const rename = mock.method(fs, 'renameSync', (from: fs.PathLike, to: fs.PathLike) => {
      if (String(to).endsWith('config.json')) throw Object.assign(new Error('ENOSPC: injected'), { code: 'ENOSPC' });
      realRename(from, to);
    });
    try {
      await assert.rejects(() => saveCheckpoint(dir, { kind: 'gpt', config, tensors: params, metadata: { step: 2 } }), /ENOSPC: injected/);
    } finally {
      rename.mock.restore();
    }
    assert.equal(checkpointExists(dir), false);
    assert.deepEqual(fs.readdirSync(dir), ['model.safetensors'], 'no config.json and no temp files');
    assert.equal(tf.memory().numTensors, before);
  });
});
