/**
 * Benchmark cases. Each case runs on the backend already selected in this process and returns
 * records; `bench/run.ts` adds the backend, the peer's numbers and prints JSON lines.
 * Later issues add their cases to CASES.
 */
import * as tf from '@tensorflow/tfjs';
import { createRng } from '../src/util/rng.js';
import { gptConfig, parameterCount, type GPTConfig, type GPTPresetName } from '../src/model/config.js';
import { createGPT, type GPT } from '../src/model/gpt.js';
import { generate } from '../src/model/generate.js';
import { lmLoss, type TokenBatch } from '../src/train/lm.js';
import { AdamW } from '../src/train/adamw.js';
import { trainStep } from '../src/train/trainer.js';
import { dialogueBatch } from '../src/train/sft.js';
import { trainRewardModel } from '../src/train/score-training.js';
import { createScoreModel } from '../src/model/score-model.js';
import { buildRewardPairs } from '../src/data/pairs.js';
import { encodeDialogue, formatPrompt, wordTokenizerFromWords } from '../src/tokenizer/index.js';
import { buildSftCorpus, enumeratePrompts, generatePreferenceDataset, scoreResponse, worldVocabulary } from '../src/world/index.js';
import { createRLTrainer, promptBatches } from '../src/rl/index.js';
import { runPreset } from '../src/pipeline/presets.js';

export interface BenchRecord {
  bench: string;
  preset: string;
  ms_median: number;
  n: number;
  [extra: string]: unknown;
}

export interface BenchContext {
  preset: GPTPresetName;
  batch: number;
  /** Timed repetitions (after warm-up). */
  reps: number;
  log(msg: string): void;
}

export interface BenchCase {
  name: string;
  run(ctx: BenchContext): Promise<BenchRecord[]>;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Times `fn` `reps` times after `warmup` calls; returns milliseconds. */
export async function timeIt(fn: () => unknown | Promise<unknown>, reps: number, warmup = 1): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await fn();
  const out: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await fn();
    out.push(performance.now() - t0);
  }
  return out;
}

/** tf.profile records that are not kernels: customGrad scopes and op wrappers. */
export function isScopeRecord(name: string): boolean {
  return name === 'unnamed scope' || name.endsWith('__op');
}

/** Number of kernels run in one call of `fn` (tf.profile, scope records left out). */
export async function kernelCount(fn: () => unknown | Promise<unknown>): Promise<number> {
  const info = await tf.profile(async () => {
    await fn();
  });
  return info.kernels.filter((k) => !isScopeRecord(k.name)).length;
}

/**
 * GPU compute dispatches recorded by the webgpu backend during one call of `fn` (kernels that
 * ran a shader; reshapes, CPU-forwarded ops and buffer copies do not count). null on other backends.
 */
export async function dispatchCount(fn: () => unknown | Promise<unknown>): Promise<number | null> {
  const backend = tf.backend() as unknown as { recordAndSubmit?: (...args: unknown[]) => unknown };
  const original = backend.recordAndSubmit;
  if (tf.getBackend() !== 'webgpu' || typeof original !== 'function') return null;
  let n = 0;
  backend.recordAndSubmit = (...args: unknown[]) => {
    n++;
    return original.apply(backend, args);
  };
  try {
    await fn();
  } finally {
    backend.recordAndSubmit = original;
  }
  return n;
}

/**
 * The train_step bench's work: a GPT of `preset` (seed 1), a batch of `batch` random rows of
 * blockSize tokens (seed 2, position 0 masked) and AdamW; each `once()` runs one more LM step.
 */
export function lmTrainStep(preset: GPTPresetName, batch: number): { cfg: GPTConfig; model: GPT; opt: AdamW; once: () => ReturnType<typeof trainStep> } {
  const cfg = gptConfig(preset);
  const model = createGPT(cfg, { rng: createRng(1) });
  const rng = createRng(2);
  const t = cfg.blockSize;
  const tokens: TokenBatch = {
    tokens: Int32Array.from({ length: batch * t }, () => rng.int(cfg.vocabSize)),
    lossMask: Float32Array.from({ length: batch * t }, (_, i) => (i % t === 0 ? 0 : 1)),
    shape: [batch, t],
  };
  const opt = new AdamW();
  const spec = { params: model.params, loss: (b: TokenBatch) => lmLoss(model, b) };
  let step = 0;
  return { cfg, model, opt, once: () => trainStep(spec, tokens, step++, 1e-3, opt, 1) };
}

const trainStepCase: BenchCase = {
  name: 'train_step',
  async run(ctx) {
    const { cfg, model, opt, once } = lmTrainStep(ctx.preset, ctx.batch);
    const t = cfg.blockSize;
    const times = await timeIt(once, ctx.reps, 2);
    const kernels = await kernelCount(once);
    const dispatches = await dispatchCount(once);
    opt.dispose();
    model.dispose();
    return [
      {
        bench: 'train_step',
        preset: ctx.preset,
        batch: ctx.batch,
        seq: t,
        params: parameterCount(cfg),
        ms_median: median(times),
        ms_min: Math.min(...times),
        n: times.length,
        kernels_per_step: kernels,
        dispatches_per_step: dispatches,
      },
    ];
  },
};

/** Prompt/new-token lengths of the sampling bench (the PyTorch peer uses the same). */
export const SAMPLE_PROMPT = 16;
export const SAMPLE_NEW = 48;

const samplingCase: BenchCase = {
  name: 'sample',
  async run(ctx) {
    const cfg = gptConfig(ctx.preset);
    const model = createGPT(cfg, { rng: createRng(1) });
    const rng = createRng(3);
    const newTokens = Math.min(SAMPLE_NEW, cfg.blockSize - SAMPLE_PROMPT);
    const prompts = Array.from({ length: ctx.batch }, () => Array.from({ length: SAMPLE_PROMPT }, () => rng.int(cfg.vocabSize)));
    const out: BenchRecord[] = [];
    for (const kvCache of [true, false]) {
      const run = () => generate(model, prompts, rng, { maxNewTokens: newTokens, kvCache });
      const times = await timeIt(run, Math.max(1, Math.ceil(ctx.reps / 2)), 1);
      const kernels = await kernelCount(run);
      const dispatches = await dispatchCount(run);
      const ms = median(times);
      out.push({
        bench: kvCache ? 'sample_kv' : 'sample_nokv',
        preset: ctx.preset,
        batch: ctx.batch,
        prompt_tokens: SAMPLE_PROMPT,
        new_tokens: newTokens,
        ms_median: ms,
        n: times.length,
        tokens_per_s: (ctx.batch * newTokens) / (ms / 1000),
        kernels_per_token: kernels / newTokens,
        dispatches_per_token: dispatches === null ? null : dispatches / newTokens,
      });
    }
    model.dispose();
    return out;
  },
};

/** The main job's policy on the gold world: one SFT step on real dialogues (default preset's model). */
const worldCase: BenchCase = {
  name: 'world',
  async run(ctx) {
    const preset = runPreset('default');
    const tokenizer = wordTokenizerFromWords(worldVocabulary());
    const cfg = gptConfig(undefined, { ...preset.model, vocabSize: tokenizer.vocabSize });
    const { examples } = buildSftCorpus({ size: 512, seed: 1 });
    const dialogues = examples.map((e) => {
      const d = encodeDialogue(tokenizer, e.prompt, e.response);
      return { prompt: d.promptIds, response: d.responseIds };
    });
    const out: BenchRecord[] = [];
    // SFT step
    const model = createGPT(cfg, { rng: createRng(1) });
    const opt = new AdamW();
    const rng = createRng(2);
    const batchOf = () => dialogueBatch(rng.shuffle(dialogues).slice(0, 32), cfg.blockSize, tokenizer.specials.pad);
    let step = 0;
    const sftTimes = await timeIt(() => trainStep({ params: model.params, loss: (b: TokenBatch) => lmLoss(model, b) }, batchOf(), step++, 1e-3, opt, 1), ctx.reps, 2);
    out.push({ bench: 'sft_step', preset: 'default', batch: 32, ms_median: median(sftTimes), n: sftTimes.length });
    opt.dispose();
    // reward-model step (32 pairs = 64 sequences in one pass)
    const rm = createScoreModel(cfg, { rng: createRng(3) });
    const pairs = buildRewardPairs(generatePreferenceDataset({ seed: 1, total: 256 }).rows, tokenizer).pairs;
    const rmTimes: number[] = [];
    for (let i = 0; i < ctx.reps + 1; i++) {
      const t0 = performance.now();
      await trainRewardModel(rm, pairs, { batchSize: 32, padId: tokenizer.specials.pad, rng: createRng(10 + i) }, { steps: 1 });
      if (i > 0) rmTimes.push(performance.now() - t0);
    }
    out.push({ bench: 'score_model_step', preset: 'default', batch: 32, ms_median: median(rmTimes), n: rmTimes.length });
    // one PPO-Lagrangian iteration: rollout of 32 prompts + 2 PPO epochs of actor and two critics
    const cm = createScoreModel(cfg, { rng: createRng(4) });
    const prompts = enumeratePrompts({ split: 'train' }).slice(0, 256).map((p) => formatPrompt(tokenizer, p.text));
    const longest = Math.max(...prompts.map((p) => p.length));
    const trainer = createRLTrainer(
      { algorithm: 'ppo_lagrangian', promptBatchSize: 32, miniBatchSize: 32, ppoEpochs: 2, iterations: ctx.reps + 2, maxNewTokens: cfg.blockSize - longest, eosToken: tokenizer.specials.eos, padToken: tokenizer.specials.pad },
      { actor: model, reward: rm, cost: cm },
    );
    const draw = promptBatches(prompts, 32, createRng(5));
    const iterTimes: number[] = [];
    const rolloutTimes: number[] = [];
    let tokens = 0;
    for (let i = 0; i < ctx.reps + 1; i++) {
      const batch = draw();
      const t0 = performance.now();
      const rollout = await trainer.rollout(batch);
      const t1 = performance.now();
      await trainer.update(trainer.makeExperience(rollout, 1));
      if (i > 0) {
        rolloutTimes.push(t1 - t0);
        iterTimes.push(performance.now() - t0);
        tokens += rollout.responses.reduce((s, r) => s + r.length, 0);
      }
    }
    trainer.dispose();
    out.push({
      bench: 'rl_rollout',
      preset: 'default',
      batch: 32,
      ms_median: median(rolloutTimes),
      n: rolloutTimes.length,
      tokens_per_s: tokens / (rolloutTimes.reduce((a, b) => a + b, 0) / 1000),
    });
    out.push({ bench: 'ppo_lagrangian_iteration', preset: 'default', batch: 32, ms_median: median(iterTimes), n: iterTimes.length });
    // gold scoring throughput (JavaScript only)
    const items = Array.from({ length: 20000 }, (_, i) => {
      const p = examples[i % examples.length]!;
      return [p.prompt, p.response] as const;
    });
    const scoreTimes = await timeIt(() => items.forEach(([p, r]) => scoreResponse(p, r)), 3, 1);
    out.push({ bench: 'world_scoring', preset: 'default', ms_median: median(scoreTimes), n: scoreTimes.length, responses_per_s: items.length / (median(scoreTimes) / 1000) });
    [model, rm, cm].forEach((m) => m.dispose());
    return out;
  },
};

export const CASES: BenchCase[] = [trainStepCase, samplingCase, worldCase];

// ---- pairwise_step (issue 7): one DPO step of the one pairwise trainer --------------------------
import { trainPreference, type PreferencePair } from '../src/align/pairwise.js';

/** Prompt / response lengths of the pairwise bench: 16 + 24 tokens per row. */
export const PAIRWISE_PROMPT = 16;
export const PAIRWISE_RESPONSE = 24;
export const PAIRWISE_PAIRS = 16;

const pairwiseStepCase: BenchCase = {
  name: 'pairwise_step',
  async run(ctx) {
    const cfg = gptConfig(ctx.preset);
    const reference = createGPT(cfg, { rng: createRng(1) }, { trainable: false });
    const policy = createGPT(cfg, { copyOf: reference.params });
    const rng = createRng(4);
    const ids = (n: number) => Array.from({ length: n }, () => 1 + rng.int(cfg.vocabSize - 1));
    const pairs: PreferencePair[] = Array.from({ length: PAIRWISE_PAIRS }, () => ({ prompt: ids(PAIRWISE_PROMPT), chosen: ids(PAIRWISE_RESPONSE), rejected: ids(PAIRWISE_RESPONSE) }));
    const warmup = 2;
    // every step: collate [2B, T], reference log-prob sums (no gradient), policy forward + backward, AdamW
    const { history } = await trainPreference(
      policy,
      reference,
      pairs,
      { lossType: 'dpo', beta: 0.1, batchSize: PAIRWISE_PAIRS, padId: 0, rng: createRng(5) },
      { steps: warmup + ctx.reps, learningRate: 1e-4, warmupSteps: 0 },
    );
    const times = history.slice(warmup).map((h) => h.ms);
    policy.dispose();
    reference.dispose();
    return [
      {
        bench: 'pairwise_step',
        preset: ctx.preset,
        pairs: PAIRWISE_PAIRS,
        rows: 2 * PAIRWISE_PAIRS,
        seq: PAIRWISE_PROMPT + PAIRWISE_RESPONSE,
        params: parameterCount(cfg),
        ms_median: median(times),
        ms_min: Math.min(...times),
        n: times.length,
      },
    ];
  },
};

CASES.push(pairwiseStepCase);
