// Dispatch overhead of one training step and of KV-cached sampling (issue #9), on one backend.
//
//   node --import tsx bench/dispatches.ts --backend webgpu [--preset nano] [--batch 8] [--reps 3] [--top 12]
//   node --import tsx bench/dispatches.ts --backend webgpu --ab 5
//   node --import tsx bench/dispatches.ts --backend webgpu --tf-flag WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE=64 [--train-only]
//
// Prints one JSON line per measurement on stdout:
//   train_step: ms per step (median of --reps after 2 warm-up steps), kernels per step (tf.profile,
//               scope records left out), GPU dispatches per step (webgpu: compute passes recorded by
//               the backend, i.e. kernels that ran a shader; reshapes and CPU-forwarded ops do not
//               count), and the kernels by count (--top).
//   sample_kv:  KV-cached sampling of SAMPLE_NEW tokens after a SAMPLE_PROMPT-token prompt per row
//               (bench/cases.ts's sizes): ms per call, tokens/s, kernels and dispatches per token.
//   --ab N:     instead, an A/B in one process on one model: N rounds, each timing 3 training steps
//               and one sampling call with SAFE_ALIGN_WEBGPU_FUSED=0 (plain ops) and 3 + 1 with the
//               fused kernels, alternating which goes first; prints the medians of each (a shared,
//               noisy machine disturbs both sides alike).
// The webgpu backend must be named (llvmpipe is never chosen automatically). Settings are the
// library's defaults (WEBGPU_CPU_FORWARD on, as in `npm run bench`).
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend/select.js';
import { createRng } from '../src/util/rng.js';
import { gptConfig, type GPTPresetName } from '../src/model/config.js';
import { createGPT } from '../src/model/gpt.js';
import { generate } from '../src/model/generate.js';
import { WEBGPU_FUSED_ENV } from '../src/backend/webgpu-kernels/index.js';
import { dispatchCount, isScopeRecord, lmTrainStep, median, SAMPLE_NEW, SAMPLE_PROMPT, timeIt } from './cases.js';

const SOURCE = 'bench/dispatches.ts';

interface Options {
  backend: string;
  preset: GPTPresetName;
  batch: number;
  reps: number;
  top: number;
  ab: number;
  /** tfjs flags set after the backend starts (`--tf-flag NAME=VALUE`, repeatable; numbers and booleans parsed). */
  flags: Record<string, number | boolean | string>;
  /** `--train-only`: skip the sampling case (e.g. to profile the training step alone). */
  trainOnly: boolean;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { backend: 'wasm', preset: 'nano', batch: 8, reps: 3, top: 12, ab: 0, flags: {}, trainOnly: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const val = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${SOURCE}: ${a} needs a value`);
      return v;
    };
    if (a === '--backend') o.backend = val();
    else if (a === '--preset') o.preset = val() as GPTPresetName;
    else if (a === '--batch') o.batch = Number(val());
    else if (a === '--reps') o.reps = Number(val());
    else if (a === '--top') o.top = Number(val());
    else if (a === '--ab') o.ab = Number(val());
    else if (a === '--train-only') o.trainOnly = true;
    else if (a === '--tf-flag') {
      const [name, value] = val().split('=');
      if (!name || value === undefined) throw new Error(`${SOURCE}: --tf-flag wants NAME=VALUE`);
      o.flags[name] = value === 'true' ? true : value === 'false' ? false : Number.isFinite(Number(value)) ? Number(value) : value;
    }
    else throw new Error(`${SOURCE}: unknown option '${a}' (see the header of the file)`);
  }
  return o;
}

/** tf.profile of one call: kernel count (scope records left out) and counts by kernel name. */
async function kernelsOf(fn: () => Promise<unknown>, top: number): Promise<{ kernels: number; top: [string, number][] }> {
  const info = await tf.profile(async () => {
    await fn();
  });
  const names = info.kernels.map((k) => k.name).filter((n) => !isScopeRecord(n));
  const byName = new Map<string, number>();
  for (const n of names) byName.set(n, (byName.get(n) ?? 0) + 1);
  const sorted = [...byName.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  return { kernels: names.length, top: sorted.slice(0, top) };
}

/** The --ab mode: plain ops and fused kernels alternating in one process (see the header). */
async function abRounds(
  o: Options,
  common: Record<string, unknown>,
  trainOnce: () => Promise<unknown>,
  model: ReturnType<typeof createGPT>,
  cfg: ReturnType<typeof gptConfig>,
): Promise<void> {
  const newTokens = Math.min(SAMPLE_NEW, cfg.blockSize - SAMPLE_PROMPT);
  const srng = createRng(3);
  const prompts = Array.from({ length: o.batch }, () => Array.from({ length: SAMPLE_PROMPT }, () => srng.int(cfg.vocabSize)));
  const sample = () => generate(model, prompts, srng, { maxNewTokens: newTokens, kvCache: true });
  const saved = process.env[WEBGPU_FUSED_ENV];
  const times = { plain: { train: [] as number[], sample: [] as number[] }, fused: { train: [] as number[], sample: [] as number[] } };
  const setFused = (on: boolean): void => {
    process.env[WEBGPU_FUSED_ENV] = on ? '1' : '0';
  };
  try {
    for (const on of [false, true]) {
      setFused(on);
      await timeIt(trainOnce, 0, 2); // warm-up (pipelines) for both
      await sample();
    }
    for (let r = 0; r < o.ab; r++) {
      for (const on of r % 2 ? [true, false] : [false, true]) {
        setFused(on);
        const side = on ? times.fused : times.plain;
        side.train.push(...(await timeIt(trainOnce, 3, 0)));
        side.sample.push(...(await timeIt(sample, 1, 0)));
      }
    }
  } finally {
    if (saved === undefined) delete process.env[WEBGPU_FUSED_ENV];
    else process.env[WEBGPU_FUSED_ENV] = saved;
  }
  for (const [side, t] of Object.entries(times)) {
    const ms = median(t.sample);
    console.log(
      JSON.stringify({
        bench: 'ab',
        side,
        ...common,
        train_ms_median: median(t.train),
        train_ms_min: Math.min(...t.train),
        train_n: t.train.length,
        sample_ms_median: ms,
        sample_n: t.sample.length,
        tokens_per_s: (o.batch * newTokens) / (ms / 1000),
      }),
    );
  }
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const info = await selectBackend({ backend: o.backend as 'wasm', quiet: true });
  for (const [name, value] of Object.entries(o.flags)) tf.env().set(name, value);
  const common = { backend: info.name, backend_detail: info.detail, preset: o.preset, batch: o.batch, ...(Object.keys(o.flags).length ? { flags: o.flags } : {}) };

  // ---- training step ----
  const { cfg, model, opt, once } = lmTrainStep(o.preset, o.batch);
  const t = cfg.blockSize;
  if (o.ab > 0) {
    await abRounds(o, common, once, model, cfg);
    opt.dispose();
    model.dispose();
    if (info.name === 'webgpu') (await import('../src/backend/webgpu-node.js')).releaseWebGPU();
    return;
  }
  const times = await timeIt(once, o.reps, 2);
  const tensorsBefore = tf.memory().numTensors;
  const dispatches = await dispatchCount(once);
  const tensorsAfter = tf.memory().numTensors;
  const prof = await kernelsOf(once, o.top);
  console.log(
    JSON.stringify({
      bench: 'train_step',
      ...common,
      seq: t,
      ms_median: median(times),
      ms_min: Math.min(...times),
      n: times.length,
      kernels_per_step: prof.kernels,
      dispatches_per_step: dispatches,
      tensor_delta_per_step: tensorsAfter - tensorsBefore,
      top: prof.top,
    }),
  );
  opt.dispose();
  if (o.trainOnly) {
    model.dispose();
    if (info.name === 'webgpu') (await import('../src/backend/webgpu-node.js')).releaseWebGPU();
    return;
  }

  // ---- KV-cached sampling ----
  const newTokens = Math.min(SAMPLE_NEW, cfg.blockSize - SAMPLE_PROMPT);
  const srng = createRng(3);
  const prompts = Array.from({ length: o.batch }, () => Array.from({ length: SAMPLE_PROMPT }, () => srng.int(cfg.vocabSize)));
  const run = () => generate(model, prompts, srng, { maxNewTokens: newTokens, kvCache: true });
  const sTimes = await timeIt(run, Math.max(1, Math.ceil(o.reps / 2)), 1);
  const sDispatches = await dispatchCount(run);
  const sProf = await kernelsOf(run, o.top);
  const ms = median(sTimes);
  console.log(
    JSON.stringify({
      bench: 'sample_kv',
      ...common,
      prompt_tokens: SAMPLE_PROMPT,
      new_tokens: newTokens,
      ms_median: ms,
      n: sTimes.length,
      tokens_per_s: (o.batch * newTokens) / (ms / 1000),
      kernels_per_token: sProf.kernels / newTokens,
      dispatches_per_token: sDispatches === null ? null : sDispatches / newTokens,
      top: sProf.top.map(([n, c]) => [n, Math.round((c / newTokens) * 10) / 10]),
    }),
  );
  model.dispose();
  if (info.name === 'webgpu') (await import('../src/backend/webgpu-node.js')).releaseWebGPU();
}

await main();
