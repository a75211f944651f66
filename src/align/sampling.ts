/**
 * Sampling a policy on prompts and scoring the samples, for the methods that need on-policy or
 * reference samples: CAN's offline dual (M prompts × N π_ref samples, scored by the reward and cost
 * models; shuoli90/CAN `evaluate/collect.py`), C-DPO's Ê_{π_λ} c, and the realised safety gain.
 *
 * Samples come from `generate` (the project's one generation path) with <eos> as the stop token;
 * each response is limited so that prompt + response fits the block (blockSize − longest prompt
 * tokens), so scores and log-probs see the whole sequence. Results are prompt-major: sample j of
 * prompt x is at x·N + j.
 */
import type { Dialogue } from '../data/batch.js';
import type { PromptItem } from '../data/pairs.js';
import { generate } from '../model/generate.js';
import type { GPT } from '../model/gpt.js';
import type { ScoreModel } from '../model/score-model.js';
import { decodeResponse } from '../tokenizer/chat.js';
import type { Tokenizer } from '../tokenizer/types.js';
import { scoreDialogues } from '../train/score-training.js';
import type { Rng } from '../util/rng.js';
import { scoreResponse } from '../world/gold.js';

const FILE = 'src/align/sampling.ts';

export interface SampleOptions {
  /** Responses per prompt (N). */
  samplesPerPrompt: number;
  /** Sampling temperature (1 = the policy itself, as CAN's collect.py and the dual's π_ref assume). */
  temperature?: number;
  /** Prompts per `generate` call. */
  batchSize?: number;
  /** Cap on new tokens (default: what fits the block). */
  maxNewTokens?: number;
}

/** N samples for each of M prompts, prompt-major. */
export interface SampleSet {
  prompts: PromptItem[];
  samplesPerPrompt: number;
  /** [M·N] response ids (ending with <eos> when stopped). */
  responses: number[][];
  /** [M·N] whether the response reached <eos>. */
  stopped: boolean[];
  /** [M·N] decoded text (up to the first <eos>). */
  texts: string[];
}

/** Samples `samplesPerPrompt` responses per prompt from `policy` (see the module comment). */
export async function samplePolicy(policy: GPT, tokenizer: Tokenizer, prompts: readonly PromptItem[], rng: Rng, options: SampleOptions): Promise<SampleSet> {
  const where = `${FILE} samplePolicy`;
  const N = options.samplesPerPrompt;
  if (!(Number.isInteger(N) && N > 0)) throw new Error(`${where}: 'samplesPerPrompt' = ${N}: must be a positive integer`);
  if (prompts.length === 0) throw new Error(`${where}: no prompts`);
  const batchSize = options.batchSize ?? 64;
  const longest = Math.max(...prompts.map((p) => p.ids.length));
  const fit = policy.config.blockSize - longest;
  if (fit < 1) throw new Error(`${where}: a prompt has ${longest} tokens, no room left in blockSize ${policy.config.blockSize}`);
  const maxNewTokens = Math.min(options.maxNewTokens ?? fit, fit);
  const rows: number[][] = [];
  for (const p of prompts) for (let j = 0; j < N; j++) rows.push(p.ids);
  const responses: number[][] = [];
  const stopped: boolean[] = [];
  for (let start = 0, b = 0; start < rows.length; start += batchSize, b++) {
    const gen = await generate(policy, rows.slice(start, start + batchSize), rng.fork(`batch:${b}`), {
      maxNewTokens,
      temperature: options.temperature ?? 1,
      stopToken: tokenizer.specials.eos,
      padToken: tokenizer.specials.pad,
    });
    responses.push(...gen.responses);
    stopped.push(...gen.stopped);
  }
  const texts = responses.map((r) => decodeResponse(tokenizer, r).text);
  return { prompts: [...prompts], samplesPerPrompt: N, responses, stopped, texts };
}

/** The samples as (prompt ids, response ids) dialogues, prompt-major. */
export function sampleDialogues(set: SampleSet): Dialogue[] {
  const N = set.samplesPerPrompt;
  return set.responses.map((r, k) => ({ prompt: set.prompts[Math.floor(k / N)]!.ids, response: r }));
}

/** End scores of a score model (reward or cost) on every sample: Float32Array [M·N]. */
export function scoreSamples(model: ScoreModel, set: SampleSet, padId: number, batchSize = 64): Promise<Float32Array> {
  return scoreDialogues(model, sampleDialogues(set), padId, batchSize);
}

/** End scores of both sides of preference pairs (prompt + chosen, prompt + rejected): [N] each. */
export async function scoreDialogueSides(
  model: ScoreModel,
  pairs: readonly { prompt: readonly number[]; chosen: readonly number[]; rejected: readonly number[] }[],
  padId: number,
  batchSize = 64,
): Promise<{ chosen: Float32Array; rejected: Float32Array }> {
  return {
    chosen: await scoreDialogues(model, pairs.map((p) => ({ prompt: p.prompt, response: p.chosen })), padId, batchSize),
    rejected: await scoreDialogues(model, pairs.map((p) => ({ prompt: p.prompt, response: p.rejected })), padId, batchSize),
  };
}

/** Reward- and cost-model scores of both sides of each pair (C-DPO's and MoCAN's relabelling inputs). */
export interface PairScores {
  reward: { chosen: Float32Array; rejected: Float32Array };
  /** Cost-model scores (> 0 = unsafe), not g. */
  cost: { chosen: Float32Array; rejected: Float32Array };
}

export async function scorePairs(
  rewardModel: ScoreModel,
  costModel: ScoreModel,
  pairs: readonly { prompt: readonly number[]; chosen: readonly number[]; rejected: readonly number[] }[],
  padId: number,
  batchSize = 64,
): Promise<PairScores> {
  return { reward: await scoreDialogueSides(rewardModel, pairs, padId, batchSize), cost: await scoreDialogueSides(costModel, pairs, padId, batchSize) };
}

/** Throws unless precomputed pair scores cover exactly the pairs at hand. */
export function checkPairScores(where: string, scored: number, pairs: number): void {
  if (scored !== pairs) throw new Error(`${where}: data.pairScores scores ${scored} pairs; data.rows gives ${pairs} helpfulness pairs (scores from other rows?)`);
}

/** Gold values of every sample (the world's exact scorer; truncated responses are charged as such). */
export interface GoldSamples {
  helpfulness: Float64Array;
  harm: Float64Array;
  /** 1 = safe, 0 = harmful. */
  safe: Float64Array;
  refusal: Float64Array;
}

export function goldSamples(set: SampleSet): GoldSamples {
  const n = set.responses.length;
  const out: GoldSamples = { helpfulness: new Float64Array(n), harm: new Float64Array(n), safe: new Float64Array(n), refusal: new Float64Array(n) };
  const N = set.samplesPerPrompt;
  set.texts.forEach((text, k) => {
    const g = scoreResponse(set.prompts[Math.floor(k / N)]!.text, text, { truncated: !set.stopped[k] });
    out.helpfulness[k] = g.helpfulness;
    out.harm[k] = g.harm;
    out.safe[k] = g.isSafe ? 1 : 0;
    out.refusal[k] = g.isRefusal ? 1 : 0;
  });
  return out;
}

/** A flat prompt-major array [M·N] as M rows of N (a `ScoreMatrix` for the dual solvers). */
export function toRows<T>(flat: ArrayLike<T>, samplesPerPrompt: number): T[][] {
  if (flat.length % samplesPerPrompt !== 0) throw new Error(`${FILE} toRows: ${flat.length} values are not a multiple of ${samplesPerPrompt}`);
  const rows: T[][] = [];
  for (let o = 0; o < flat.length; o += samplesPerPrompt) rows.push(Array.from({ length: samplesPerPrompt }, (_, i) => flat[o + i]!));
  return rows;
}

/** Rows per prompt of the values whose `keep` flag is set (prompt-major [M·N] -> M rows, possibly empty). */
export function rowsOfKept<T>(flat: ArrayLike<T>, keep: readonly boolean[], samplesPerPrompt: number): T[][] {
  if (keep.length !== flat.length) throw new Error(`${FILE} rowsOfKept: ${keep.length} flags for ${flat.length} values`);
  return toRows(flat, samplesPerPrompt).map((row, x) => row.filter((_, j) => keep[x * samplesPerPrompt + j]));
}

/** Per-prompt means of a flat prompt-major array [M·N] -> [M]. */
export function promptMeans(flat: ArrayLike<number>, samplesPerPrompt: number): number[] {
  return toRows(flat, samplesPerPrompt).map((r) => r.reduce((a, b) => a + b, 0) / r.length);
}

/** Mean of an array (NaN when empty). */
export function arrayMean(xs: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i]!;
  return xs.length ? s / xs.length : NaN;
}
