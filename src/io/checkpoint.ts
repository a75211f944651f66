/**
 * Checkpoints: a directory holding
 *   model.safetensors   the tensors (F32 / I32; see ./safetensors.ts)
 *   config.json         { "format": "safe-align-checkpoint", "version": 1, "kind": "gpt",
 *                         "config": { ...model config... }, "metadata": { ... } }
 *
 * Both files are written atomically (temp file + fsync + rename). `saveCheckpoint` first removes
 * an old config.json, then writes model.safetensors, then config.json, so a directory with
 * config.json is complete and consistent: a crash mid-save leaves a directory that
 * `checkpointExists` reports as absent (and `loadCheckpoint` refuses), never a new config paired
 * with old weights or the reverse.
 *
 * The API is generic over name -> tensor maps (e.g. a model's `params: Record<string, tf.Variable>`
 * with names like 'wte', 'h.0.attn.c_attn.weight'). Loading returns plain typed arrays; the
 * caller creates its own variables (or uses `toTensors`).
 */

import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { ensureDir, writeFileAtomic, writeJsonAtomic } from '../util/atomic.js';
import { encodeSafetensors, readSafetensorsFile, type TensorData } from './safetensors.js';

export const CHECKPOINT_FORMAT = 'safe-align-checkpoint';
export const CHECKPOINT_VERSION = 1;
export const CHECKPOINT_MODEL_FILE = 'model.safetensors';
export const CHECKPOINT_CONFIG_FILE = 'config.json';

export class CheckpointError extends Error {
  /** The directory or file the problem is in. */
  readonly path: string;
  constructor(where: string, problem: string, options?: { cause?: unknown }) {
    super(`${where}: ${problem}`, options);
    this.name = 'CheckpointError';
    this.path = where;
  }
}

export interface CheckpointInput {
  /** What the weights belong to, e.g. 'gpt', 'score-model', 'policy'. */
  kind: string;
  /** The model's config; must be JSON data (plain objects, arrays, strings, finite numbers, booleans, null). */
  config: object;
  /** Tensors by name (tf.Variable is a tf.Tensor); float32 or int32. Not disposed or modified. */
  tensors: Record<string, tf.Tensor>;
  /** Free-form JSON data (step, seed, metrics, ...); defaults to {}. */
  metadata?: Record<string, unknown>;
}

export interface LoadedCheckpoint<C extends object = Record<string, unknown>> {
  kind: string;
  /** As stored; not validated against any schema here (run it through the component's config factory). */
  config: C;
  metadata: Record<string, unknown>;
  /** Plain data, fresh copies owned by the caller. */
  tensors: Record<string, TensorData>;
}

export interface CheckpointExpectation {
  /** Refuse a checkpoint of another kind. */
  kind?: string;
  /** Exact set of tensor names with their shapes: missing, unexpected or mis-shaped tensors are errors. */
  shapes?: Record<string, readonly number[]>;
}

interface ConfigFile {
  format: string;
  version: number;
  kind: string;
  config: object;
  metadata: Record<string, unknown>;
}

/** Paths of a checkpoint's two files. */
export function checkpointPaths(dir: string): { model: string; config: string } {
  return { model: path.join(dir, CHECKPOINT_MODEL_FILE), config: path.join(dir, CHECKPOINT_CONFIG_FILE) };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * Throws unless `value` survives JSON unchanged: NaN/Infinity (JSON.stringify would write null),
 * bigint, functions, class instances (Map, typed arrays, Date) and cycles are rejected.
 * Object properties that are `undefined` are allowed (they are dropped, as in JSON).
 */
function assertJsonData(value: unknown, where: string, at: string, seen: Set<object> = new Set()): void {
  const bad = (what: string): never => {
    throw new CheckpointError(where, `${at} ${what}; it must be JSON data`);
  };
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) bad(`is ${value}, which JSON cannot represent`);
    return;
  }
  if (typeof value !== 'object') return bad(`is a ${typeof value}`);
  if (seen.has(value)) bad('contains a cycle');
  seen.add(value);
  if (Array.isArray(value)) {
    value.forEach((item, i) => {
      if (item === undefined) bad(`[${i}] is undefined`);
      assertJsonData(item, where, `${at}[${i}]`, seen);
    });
  } else if (isPlainObject(value)) {
    for (const [key, item] of Object.entries(value)) {
      if (item !== undefined) assertJsonData(item, where, `${at}.${key}`, seen);
    }
  } else {
    bad(`is a ${value.constructor?.name ?? 'non-plain object'}`);
  }
  seen.delete(value);
}

/**
 * Reads tensors into plain data (`await t.data()`, so it works on backends without synchronous
 * reads, such as webgpu in Node; creates no tensors, disposes nothing). The returned arrays are
 * copies, safe to keep after the tensors are disposed or updated. Every tensor is checked before
 * any is read, and all reads start at once (one snapshot), so a bad entry is reported before
 * anything is read. `where` names the destination in errors.
 */
export async function readTensorData(tensors: Record<string, tf.Tensor>, where = '<tensors>'): Promise<Record<string, TensorData>> {
  return collectTensorData(tensors, where, true);
}

/** Throws unless every entry is a live float32 / int32 tf.Tensor; returns the names in order. */
function checkTensors(tensors: Record<string, tf.Tensor>, where: string): string[] {
  if (!isPlainObject(tensors)) throw new CheckpointError(where, 'tensors must be an object of name -> tf.Tensor');
  const names = Object.keys(tensors);
  for (const name of names) {
    const t = tensors[name];
    if (!(t instanceof tf.Tensor)) throw new CheckpointError(where, `tensor '${name}' is not a tf.Tensor`);
    if (t.isDisposed) throw new CheckpointError(where, `tensor '${name}' is disposed`);
    if (t.dtype !== 'float32' && t.dtype !== 'int32') {
      throw new CheckpointError(where, `tensor '${name}' has dtype ${t.dtype}; checkpoints hold float32 and int32`);
    }
  }
  return names;
}

/**
 * `copy: false` may return the backend's own arrays (read-only use, before any tensor changes).
 * The checks and the start of every read happen synchronously, before the first await: the
 * values are those the tensors hold when this is called.
 */
async function collectTensorData(
  tensors: Record<string, tf.Tensor>,
  where: string,
  copy: boolean,
): Promise<Record<string, TensorData>> {
  const names = checkTensors(tensors, where);
  const reads = names.map((name) => {
    const t = tensors[name]!;
    const values = t.data().catch((err: unknown) => {
      throw new CheckpointError(where, `tensor '${name}' could not be read (${(err as Error)?.message ?? String(err)})`, { cause: err });
    });
    return { name, t, values };
  });
  const settled = (await Promise.all(reads.map((r) => r.values))) as tf.backend_util.TypedArray[];
  const out: Record<string, TensorData> = {};
  reads.forEach(({ name, t }, i) => {
    const values = settled[i]!;
    const Want = t.dtype === 'float32' ? Float32Array : Int32Array;
    const data = !copy && values instanceof Want ? values : Want.from(values as ArrayLike<number>);
    Object.defineProperty(out, name, {
      value: { dtype: t.dtype, shape: t.shape.slice(), data },
      enumerable: true,
      writable: true,
      configurable: true,
    });
  });
  return out;
}

/**
 * Writes a checkpoint to `dir` (created if missing): model.safetensors, then config.json, each
 * atomically, after removing any old config.json (see the module doc). Everything is validated
 * and encoded before the directory is touched, so a bad input leaves an existing checkpoint as
 * it was. Creates no tensors; the caller's tensors are neither disposed nor modified.
 *
 * Asynchronous because the tensors are read with `await t.data()` (webgpu in Node has no
 * synchronous read-back); the values saved are those the tensors hold when this is called (every
 * read starts before the first await). The files are written synchronously after the reads, so
 * the ordering and atomicity above are unchanged. Errors (bad input, failed reads or writes)
 * arrive as a rejected promise.
 */
export async function saveCheckpoint(dir: string, ckpt: CheckpointInput): Promise<void> {
  const files = checkpointPaths(dir);
  if (typeof ckpt?.kind !== 'string' || ckpt.kind === '') {
    throw new CheckpointError(files.config, `kind must be a non-empty string, got ${JSON.stringify(ckpt?.kind)}`);
  }
  if (!isPlainObject(ckpt.config)) throw new CheckpointError(files.config, 'config must be a plain object');
  assertJsonData(ckpt.config, files.config, 'config');
  const metadata = ckpt.metadata ?? {};
  if (!isPlainObject(metadata)) throw new CheckpointError(files.config, 'metadata must be a plain object');
  assertJsonData(metadata, files.config, 'metadata');

  // Config and metadata as they are now (the caller may change its objects while the reads run).
  const configFile: ConfigFile = structuredClone({
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    kind: ckpt.kind,
    config: ckpt.config,
    metadata,
  });
  // No copy: encodeSafetensors copies the bytes straight into the file image.
  const data = await collectTensorData(ckpt.tensors, files.model, false);
  const bytes = encodeSafetensors(data, { format: CHECKPOINT_FORMAT, kind: ckpt.kind }, files.model);

  ensureDir(dir);
  fs.rmSync(files.config, { force: true });
  writeFileAtomic(files.model, bytes);
  writeJsonAtomic(files.config, configFile);
}

function isFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

/** True when `dir` holds both model.safetensors and config.json (a completed save). */
export function checkpointExists(dir: string): boolean {
  const files = checkpointPaths(dir);
  return isFile(files.config) && isFile(files.model);
}

function readConfigFile(file: string): ConfigFile {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new CheckpointError(file, `cannot read (${(err as Error).message})`, { cause: err });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new CheckpointError(file, `not valid JSON (${(err as Error).message})`, { cause: err });
  }
  if (!isPlainObject(raw)) throw new CheckpointError(file, 'must hold a JSON object');
  if (raw.format !== CHECKPOINT_FORMAT) {
    throw new CheckpointError(file, `format must be '${CHECKPOINT_FORMAT}', got ${JSON.stringify(raw.format)}`);
  }
  if (raw.version !== CHECKPOINT_VERSION) {
    throw new CheckpointError(
      file,
      `unsupported version ${JSON.stringify(raw.version)} (this code reads version ${CHECKPOINT_VERSION})`,
    );
  }
  if (typeof raw.kind !== 'string' || raw.kind === '') {
    throw new CheckpointError(file, `kind must be a non-empty string, got ${JSON.stringify(raw.kind)}`);
  }
  if (!isPlainObject(raw.config)) throw new CheckpointError(file, `config must be an object, got ${JSON.stringify(raw.config)}`);
  if (!isPlainObject(raw.metadata)) {
    throw new CheckpointError(file, `metadata must be an object, got ${JSON.stringify(raw.metadata)}`);
  }
  return raw as unknown as ConfigFile;
}

const fmtShape = (shape: readonly number[]): string => `[${shape.join(', ')}]`;

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/**
 * Loads a checkpoint written by `saveCheckpoint`. With `expect.kind` the stored kind must match;
 * with `expect.shapes` the stored tensors must be exactly those names with those shapes (all
 * problems are listed in one error naming model.safetensors and each tensor). Throws
 * `CheckpointError` for a missing directory/file or a bad config.json, and `SafetensorsError`
 * for a malformed or truncated model.safetensors. `C` is the caller's claim about the config's
 * type; it is not checked here.
 */
export function loadCheckpoint<C extends object = Record<string, unknown>>(
  dir: string,
  expect: CheckpointExpectation = {},
): LoadedCheckpoint<C> {
  const files = checkpointPaths(dir);
  let dirStat: fs.Stats;
  try {
    dirStat = fs.statSync(dir);
  } catch {
    throw new CheckpointError(dir, 'checkpoint directory does not exist');
  }
  if (!dirStat.isDirectory()) throw new CheckpointError(dir, 'is not a directory (a checkpoint is a directory)');
  if (!isFile(files.config)) {
    throw new CheckpointError(
      files.config,
      `missing: not a complete checkpoint (config.json is written last; ${isFile(files.model) ? 'the save was interrupted?' : 'no model.safetensors either'})`,
    );
  }
  if (!isFile(files.model)) {
    throw new CheckpointError(files.model, 'missing (config.json is there but the weights are not)');
  }

  const configFile = readConfigFile(files.config);
  if (expect.kind !== undefined && configFile.kind !== expect.kind) {
    throw new CheckpointError(files.config, `checkpoint kind is '${configFile.kind}' but '${expect.kind}' was expected`);
  }
  const { tensors } = readSafetensorsFile(files.model);

  if (expect.shapes !== undefined) {
    const problems: string[] = [];
    for (const [name, shape] of Object.entries(expect.shapes)) {
      const t = Object.hasOwn(tensors, name) ? tensors[name] : undefined;
      if (t === undefined) problems.push(`tensor '${name}' (shape ${fmtShape(shape)}) is missing`);
      else if (!sameShape(t.shape, shape)) {
        problems.push(`tensor '${name}' has shape ${fmtShape(t.shape)} but ${fmtShape(shape)} was expected`);
      }
    }
    for (const name of Object.keys(tensors)) {
      if (!Object.hasOwn(expect.shapes, name)) {
        problems.push(`unexpected tensor '${name}' (shape ${fmtShape(tensors[name]!.shape)})`);
      }
    }
    if (problems.length > 0) {
      const shown = problems.slice(0, 10).join('; ');
      const more = problems.length > 10 ? `; ... and ${problems.length - 10} more` : '';
      throw new CheckpointError(files.model, `${shown}${more}`);
    }
  }

  return {
    kind: configFile.kind,
    config: configFile.config as C,
    metadata: configFile.metadata,
    tensors,
  };
}

/**
 * Creates tf tensors from loaded data (one `tf.tensor` per entry). Ownership: the returned
 * tensors belong to the caller, who must dispose them (e.g. `tf.dispose(Object.values(out))`).
 */
export function toTensors(loaded: { tensors: Record<string, TensorData> }): Record<string, tf.Tensor> {
  const out: Record<string, tf.Tensor> = {};
  try {
    for (const [name, t] of Object.entries(loaded.tensors)) {
      Object.defineProperty(out, name, {
        value: tf.tensor(t.data, t.shape, t.dtype),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
  } catch (err) {
    tf.dispose(Object.values(out)); // nothing leaks when one entry is bad
    throw err;
  }
  return out;
}
