import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRunContext, hashKey, runStage, stableStringify } from '../src/pipeline/stage.js';

describe('resumable stages', () => {
  it('skips a finished stage with the same key and reruns it when the key changes', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'safe-align-stage-'));
    try {
      const ctx = createRunContext(dir, 1, () => {});
      let calls = 0;
      const work = async (d: string) => {
        calls++;
        fs.writeFileSync(path.join(d, 'out.txt'), String(calls));
        return { file: path.join(d, 'out.txt'), calls };
      };
      const a1 = await runStage(ctx, 'a', { lr: 1 }, work);
      const a2 = await runStage(ctx, 'a', { lr: 1 }, work);
      assert.deepEqual(a2, a1);
      assert.equal(calls, 1);
      await runStage(ctx, 'a', { lr: 2 }, work);
      assert.equal(calls, 2);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('redoes a finished stage whose recorded outputs were deleted, and says so', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'safe-align-stage-'));
    try {
      const logs: string[] = [];
      const ctx = createRunContext(dir, 1, (m) => logs.push(m));
      let calls = 0;
      const work = async (d: string) => {
        calls++;
        fs.mkdirSync(path.join(d, 'policy'), { recursive: true });
        fs.writeFileSync(path.join(d, 'policy', 'w.bin'), 'x');
        return { policy: path.join(d, 'policy'), note: 'a/b is not a path' };
      };
      await runStage(ctx, 'a', { lr: 1 }, work);
      await runStage(ctx, 'a', { lr: 1 }, work);
      assert.equal(calls, 1, 'strings that are not run paths are not checked');
      fs.rmSync(path.join(dir, 'a', 'policy'), { recursive: true });
      const again = await runStage(ctx, 'a', { lr: 1 }, work);
      assert.equal(calls, 2);
      assert.ok(fs.existsSync(again.policy));
      assert.ok(logs.some((l) => l === '[a] finished earlier, but a/policy is gone: redoing it'), logs.join('\n'));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reruns a downstream stage when an upstream stage it read was redone', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'safe-align-stage-'));
    try {
      const ctx = createRunContext(dir, 1, () => {});
      const upstream = (lr: number) =>
        runStage(ctx, 'up', { lr }, async (d) => {
          fs.writeFileSync(path.join(d, 'model.txt'), `lr=${lr}`);
          return path.join(d, 'model.txt');
        });
      let downstreamRuns = 0;
      const downstream = (file: string) =>
        runStage(ctx, 'down', { file }, async () => {
          downstreamRuns++;
          return fs.readFileSync(file, 'utf8');
        });
      const f1 = await upstream(1);
      assert.equal(await downstream(f1), 'lr=1');
      assert.equal(await downstream(f1), 'lr=1');
      assert.equal(downstreamRuns, 1);
      const f2 = await upstream(2); // same path, new content
      assert.equal(f2, f1);
      assert.equal(await downstream(f2), 'lr=2');
      assert.equal(downstreamRuns, 2);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('hashes settings independently of key order', () => {
    assert.equal(stableStringify({ b: 1, a: [1, { d: 2, c: 3 }] }), '{"a":[1,{"c":3,"d":2}],"b":1}');
    assert.equal(hashKey({ x: 1, y: 2 }), hashKey({ y: 2, x: 1 }));
    assert.notEqual(hashKey({ x: 1 }), hashKey({ x: 2 }));
  });
});
