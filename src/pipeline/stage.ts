/**
 * Resumable stages of a run. Each stage owns a folder `runs/<run>/<stage>/`; when it finishes, its
 * JSON result and a hash of everything it depended on (its settings, and the identity of every
 * upstream stage whose files it read: see resolveStageInputs) are written atomically to `stage.json`. Running again skips a stage whose `stage.json`
 * has the same hash, so a run killed at any moment (even kill -9) continues from the last finished
 * stage; a killed stage starts over from scratch. Stages draw randomness only from
 * `createRng(seed).fork(stageName)`, so a resumed run ends exactly as an uninterrupted one.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ensureDir, writeJsonAtomic } from '../util/atomic.js';
import { createRng, type Rng } from '../util/rng.js';

export interface StageRecord<T> {
  stage: string;
  /** sha256 of the stage's key (settings + inputs). */
  keyHash: string;
  result: T;
  seconds: number;
  finishedAt: string;
}

export interface RunContext {
  /** Folder of the whole run, e.g. runs/default. */
  dir: string;
  seed: number;
  /** One line per event; the CLI prints it, notebooks show it. */
  log(message: string): void;
  /** Seconds each stage took in this invocation (skipped stages: their recorded time). */
  readonly timings: { stage: string; seconds: number; skipped: boolean }[];
}

/** Stable JSON: object keys sorted, so equal settings hash equally. */
export function stableStringify(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableStringify(v)}`).join(',')}}`;
}

export function hashKey(key: unknown): string {
  return createHash('sha256').update(stableStringify(key)).digest('hex');
}

export function createRunContext(dir: string, seed: number, log: (m: string) => void = (m) => console.log(m)): RunContext {
  const abs = path.resolve(dir);
  ensureDir(abs);
  return { dir: abs, seed, log, timings: [] };
}

const RUN_PREFIX = '@run/';

/** Paths inside the run folder become '@run/<relative>' in stage.json, so a run folder can be moved or read from another working directory. */
function portable(ctx: RunContext, value: unknown): unknown {
  if (typeof value === 'string') {
    if (!value.includes('/') && !value.includes(path.sep)) return value;
    const rel = path.relative(ctx.dir, path.resolve(value));
    return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel) ? RUN_PREFIX + rel.split(path.sep).join('/') : value;
  }
  if (Array.isArray(value)) return value.map((v) => portable(ctx, v));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, portable(ctx, v)]));
  }
  return value;
}

/** The inverse of `portable`: '@run/<relative>' -> an absolute path in this run folder. */
function located(ctx: RunContext, value: unknown): unknown {
  if (typeof value === 'string') return value.startsWith(RUN_PREFIX) ? path.join(ctx.dir, value.slice(RUN_PREFIX.length)) : value;
  if (Array.isArray(value)) return value.map((v) => located(ctx, v));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, located(ctx, v)]));
  }
  return value;
}

/** Files and folders a finished stage recorded ('@run/' paths in its stage.json) that no longer exist. */
function missingOutputs(ctx: RunContext, record: StageRecord<unknown>): string[] {
  const out: string[] = [];
  const visit = (v: unknown): void => {
    if (typeof v === 'string') {
      if (v.startsWith(RUN_PREFIX) && !fs.existsSync(path.join(ctx.dir, v.slice(RUN_PREFIX.length)))) out.push(v.slice(RUN_PREFIX.length));
    } else if (Array.isArray(v)) v.forEach(visit);
    else if (v !== null && typeof v === 'object') Object.values(v as Record<string, unknown>).forEach(visit);
  };
  visit(record.result);
  return out;
}

/** The RNG of a stage: depends on the run's seed and the stage's name only. */
export function stageRng(ctx: RunContext, stage: string): Rng {
  return createRng(ctx.seed).fork(stage);
}

export function stageDir(ctx: RunContext, stage: string): string {
  return path.join(ctx.dir, stage);
}

/** The finished record of a stage as stored ('@run/' paths), if any (whatever its key). */
function readRecord(ctx: RunContext, stage: string): StageRecord<unknown> | null {
  const file = path.join(stageDir(ctx, stage), 'stage.json');
  if (!fs.existsSync(file)) return null;
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as StageRecord<unknown>;
  } catch (e) {
    throw new Error(`${file}: unreadable stage record (${(e as Error).message}); delete the folder to redo the stage`);
  }
}

/** The finished record of a stage, if any (whatever its key), with its paths in this run folder. */
export function readStage<T>(ctx: RunContext, stage: string): StageRecord<T> | null {
  const record = readRecord(ctx, stage);
  return record ? { ...record, result: located(ctx, record.result) as T } : null;
}

/**
 * Replaces every path into another stage's folder found in `key` by that stage's identity
 * (`<stage>@<keyHash>`), so a stage depends on what an upstream stage computed, not on where it
 * wrote it: redoing an upstream stage with new settings makes every stage that read it stale.
 */
export function resolveStageInputs(ctx: RunContext, key: unknown): unknown {
  if (typeof key === 'string') {
    const rel = path.relative(ctx.dir, path.resolve(key));
    if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) return key;
    const stage = rel.split(path.sep)[0]!;
    const done = readStage(ctx, stage);
    return done ? `${stage}@${done.keyHash}:${rel}` : key;
  }
  if (Array.isArray(key)) return key.map((k) => resolveStageInputs(ctx, k));
  if (key !== null && typeof key === 'object') {
    return Object.fromEntries(Object.entries(key as Record<string, unknown>).map(([k, v]) => [k, resolveStageInputs(ctx, v)]));
  }
  return key;
}

/**
 * Runs `fn` unless the stage already finished with the same key. `fn` gets the stage's folder
 * (created, emptied of a previous unfinished attempt's files only if it wishes) and RNG, and returns
 * a JSON-serialisable result.
 */
export async function runStage<T>(
  ctx: RunContext,
  stage: string,
  key: unknown,
  fn: (dir: string, rng: Rng) => Promise<T>,
): Promise<T> {
  const keyHash = hashKey({ stage, seed: ctx.seed, key: resolveStageInputs(ctx, key) });
  const done = readRecord(ctx, stage);
  const lost = done && done.keyHash === keyHash ? missingOutputs(ctx, done) : [];
  if (done && done.keyHash === keyHash && lost.length === 0) {
    ctx.log(`[${stage}] done earlier (${done.seconds.toFixed(1)} s): skipped`);
    ctx.timings.push({ stage, seconds: done.seconds, skipped: true });
    return located(ctx, done.result) as T;
  }
  if (lost.length) ctx.log(`[${stage}] finished earlier, but ${lost.join(', ')} ${lost.length === 1 ? 'is' : 'are'} gone: redoing it`);
  const dir = ensureDir(stageDir(ctx, stage));
  if (done) fs.rmSync(path.join(dir, 'stage.json'));
  ctx.log(`[${stage}] started`);
  const t0 = performance.now();
  const result = await fn(dir, stageRng(ctx, stage));
  const seconds = (performance.now() - t0) / 1000;
  const record: StageRecord<unknown> = { stage, keyHash, result: portable(ctx, result), seconds, finishedAt: new Date().toISOString() };
  writeJsonAtomic(path.join(dir, 'stage.json'), record);
  ctx.timings.push({ stage, seconds, skipped: false });
  ctx.log(`[${stage}] finished in ${seconds.toFixed(1)} s`);
  return result;
}
