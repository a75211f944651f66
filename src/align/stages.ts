/**
 * The DPO family and CAN as resumable pipeline stages (src/pipeline/stage.ts): one call per
 * method reads the shared stage outputs (data, SFT policy, round-1 reward and cost models), runs the
 * method, saves the trained policy as a checkpoint in the stage folder and records its numbers.
 * The main job and notebooks 06/07 call the same stage with the same settings, so whichever runs
 * first trains and the others read the result back.
 *
 *   const out = await preferenceMethodStage(ctx, 'mocan', inputs, 'mocan', preferenceMethodSettings('default', 'mocan'));
 *   methods.push({ name: 'mocan', policy: out.policy, meta: { family: 'dualized', label: 'MoCAN' }, trainSeconds: out.seconds });
 */
import fs from 'node:fs';
import path from 'node:path';
import { buildPromptSet } from '../data/pairs.js';
import { buildEvalPromptSets, evaluateMethods, formatEstimate, gptPolicy, type MethodsEvaluation } from '../eval/index.js';
import { loadGPT, saveGPT } from '../io/model-io.js';
import type { GPT } from '../model/gpt.js';
import { loadStagePolicy, loadStageScoreModel, readPreferences } from '../pipeline/stages.js';
import { readStage, runStage, type RunContext } from '../pipeline/stage.js';
import { loadTokenizer } from '../tokenizer/index.js';
import { findRepoRoot } from './fixtures.js';
import { sampleReference, type ReferenceSamples } from './can.js';
import { dialogueLogProbSums, helpfulnessPairs, ReferenceLogProbs } from './pairwise.js';
import { goldSamples, scorePairs, type PairScores, type SampleSet } from './sampling.js';
import { writeJsonAtomic } from '../util/atomic.js';
import type { Rng } from '../util/rng.js';
import { bfpoRunConfig, runBFPO, type BfpoExtras, type BfpoRunConfig } from './bfpo-method.js';
import { cdpoRunConfig, runCDPO, type CdpoExtras, type CdpoRunConfig } from './cdpo-method.js';
import { mocanConfig, runMoCAN, type MocanExtras, type MocanRunConfig } from './mocan.js';
import { pecanConfig, runPeCAN, type PecanConfig, type PecanExtras } from './pecan.js';
import {
  dpoConfig,
  ipoConfig,
  runDPO,
  runIPO,
  type AlignmentData,
  type DpoConfig,
  type MethodCallbacks,
  type MethodResult,
  type PairRunExtras,
  type PreferenceTrainingConfig,
  type TrainedPolicy,
} from './methods.js';

const FILE = 'src/align/stages.ts';

/** Files of the shared stages a preference method reads (DataOutputs, SftOutputs, ScoreModelOutputs fields). */
export interface PreferenceStageInputs {
  /** data.tokenizer */
  tokenizer: string;
  /** data.preferences: the round-1 decoupled preference rows. */
  preferences: string;
  /** sft.policy: π_ref. */
  sftPolicy: string;
  /** round1.reward / round1.cost (C-DPO and MoCAN need both; PeCAN uses the cost model for a second gain). */
  reward?: string;
  cost?: string;
  /** PeCAN: the DPO stage's policy checkpoint, reused as π_r (see AlignmentData.helpfulPolicy). */
  helpfulPolicy?: string;
  /** C-DPO, MoCAN: `pairScoresStage`'s file (AlignmentData.pairScores). */
  pairScores?: string;
  /** MoCAN, PeCAN: `referenceSamplesStage`'s file (AlignmentData.referenceSamples). */
  referenceSamples?: string;
  /** Every method: `referenceLogProbsStage`'s file (fills AlignmentData.referenceLogProbs). */
  referenceLogProbs?: string;
}

/**
 * A stage file path as recorded: absolute, or relative to the working directory of the process that
 * ran the stage (`npm start` runs at the repository root, notebooks in notebooks/). A relative path
 * missing from the cwd is looked up from the repository root.
 */
export function resolveStagePath(p: string): string {
  if (path.isAbsolute(p) || fs.existsSync(p)) return p;
  const fromRoot = path.join(findRepoRoot(), p);
  return fs.existsSync(fromRoot) ? fromRoot : p;
}

/** Loads the inputs of a method from stage files: π_ref frozen, score models frozen. Call `dispose` when done. */
export async function loadAlignmentData(inputs: PreferenceStageInputs): Promise<{ data: AlignmentData; dispose(): void }> {
  const tokenizer = loadTokenizer(resolveStagePath(inputs.tokenizer));
  const rows = await readPreferences(resolveStagePath(inputs.preferences));
  const reference = loadStagePolicy(resolveStagePath(inputs.sftPolicy));
  const rewardModel = inputs.reward ? loadStageScoreModel(resolveStagePath(inputs.reward)) : undefined;
  const costModel = inputs.cost ? loadStageScoreModel(resolveStagePath(inputs.cost)) : undefined;
  const helpfulPolicy = inputs.helpfulPolicy ? loadTrainedPolicy(resolveStagePath(inputs.helpfulPolicy)) : undefined;
  const data: AlignmentData = {
    reference,
    tokenizer,
    rows,
    prompts: buildPromptSet(rows, tokenizer),
    ...(rewardModel ? { rewardModel } : {}),
    ...(costModel ? { costModel } : {}),
    ...(helpfulPolicy ? { helpfulPolicy } : {}),
    ...(inputs.pairScores ? { pairScores: readPairScores(resolveStagePath(inputs.pairScores)) } : {}),
    ...(inputs.referenceSamples ? { referenceSamples: readReferenceSamples(resolveStagePath(inputs.referenceSamples)) } : {}),
    // π_ref's log-prob sums, remembered for every run in this process (and read back from the stage file)
    referenceLogProbs: new ReferenceLogProbs(reference, { padId: tokenizer.specials.pad, batchSize: 64 }),
  };
  if (inputs.referenceLogProbs) readReferenceLogProbs(resolveStagePath(inputs.referenceLogProbs), data);
  return {
    data,
    dispose: () => {
      reference.dispose();
      rewardModel?.dispose();
      costModel?.dispose();
      helpfulPolicy?.policy.dispose();
    },
  };
}

/** A method stage's policy checkpoint with the method and settings recorded beside it (frozen). */
export function loadTrainedPolicy(dir: string): TrainedPolicy {
  const { model, metadata } = loadGPT(dir, { trainable: false });
  const config = (metadata['config'] ?? {}) as Record<string, unknown>;
  const method = metadata['method'];
  if (typeof method !== 'string' || typeof config['beta'] !== 'number' || typeof config['sftWeight'] !== 'number') {
    model.dispose();
    throw new Error(`${FILE} loadTrainedPolicy: ${dir} records no method/config.beta/config.sftWeight (a checkpoint from an older preference stage? delete that stage's folder to redo it)`);
  }
  return { policy: model, method, beta: config['beta'], sftWeight: config['sftWeight'] };
}

/** Each method's config and extras. */
export interface PreferenceMethods {
  dpo: { config: DpoConfig; extras: PairRunExtras };
  ipo: { config: DpoConfig; extras: PairRunExtras };
  bfpo: { config: BfpoRunConfig; extras: BfpoExtras };
  cdpo: { config: CdpoRunConfig; extras: CdpoExtras };
  mocan: { config: MocanRunConfig; extras: MocanExtras };
  pecan: { config: PecanConfig; extras: PecanExtras };
}
export type PreferenceMethod = keyof PreferenceMethods;
export const PREFERENCE_METHODS: readonly PreferenceMethod[] = Object.freeze(['dpo', 'ipo', 'bfpo', 'cdpo', 'mocan', 'pecan']);

/** Display names for tables and plots. */
export const PREFERENCE_METHOD_LABELS: Readonly<Record<PreferenceMethod, string>> = Object.freeze({
  dpo: 'DPO',
  ipo: 'IPO',
  bfpo: 'BFPO',
  cdpo: 'C-DPO',
  mocan: 'MoCAN',
  pecan: 'PeCAN',
});

/** What each method is: its settings resolver (defaults filled in, bad fields named) and its runner. */
type MethodEntry<M extends PreferenceMethod> = {
  config: (c: Partial<PreferenceMethods[M]['config']>) => PreferenceMethods[M]['config'];
  run: (data: AlignmentData, c: Partial<PreferenceMethods[M]['config']>, callbacks: MethodCallbacks) => Promise<MethodResult<PreferenceMethods[M]['extras']>>;
};
const METHOD_ENTRIES: { readonly [M in PreferenceMethod]: MethodEntry<M> } = Object.freeze({
  dpo: { config: dpoConfig, run: runDPO },
  ipo: { config: ipoConfig, run: runIPO },
  bfpo: { config: bfpoRunConfig, run: runBFPO },
  cdpo: { config: cdpoRunConfig, run: runCDPO },
  mocan: { config: mocanConfig, run: (data, c, callbacks) => runMoCAN(data, c, callbacks) },
  pecan: { config: pecanConfig, run: runPeCAN },
});

function methodEntry<M extends PreferenceMethod>(method: M, where: string): MethodEntry<M> {
  if (!PREFERENCE_METHODS.includes(method)) throw new Error(`${FILE} ${where}: unknown method '${String(method)}' (valid: ${PREFERENCE_METHODS.join(', ')})`);
  return METHOD_ENTRIES[method] as MethodEntry<M>;
}

/** Run one method on loaded data. The policy in the result belongs to the caller. */
export function runPreferenceMethod<M extends PreferenceMethod>(
  method: M,
  data: AlignmentData,
  config: Partial<PreferenceMethods[M]['config']> = {},
  callbacks: MethodCallbacks = {},
): Promise<MethodResult<PreferenceMethods[M]['extras']>> {
  return methodEntry(method, 'runPreferenceMethod').run(data, config, callbacks);
}

/** A method's settings with its defaults filled in: what the run will use (a stage's key, so a changed default redoes the stage). */
export function resolvedMethodConfig<M extends PreferenceMethod>(method: M, config: Partial<PreferenceMethods[M]['config']> = {}): PreferenceMethods[M]['config'] {
  return methodEntry(method, 'resolvedMethodConfig').config(config);
}

type Sizes = { [M in PreferenceMethod]?: Partial<PreferenceMethods[M]['config']> } & { common: Partial<PreferenceTrainingConfig> };

/**
 * Method settings per run preset (src/pipeline/presets.ts names). `common` applies to every
 * method; the rest is per method. Sampled responses are capped like the RL stages' (40 / 48 tokens).
 * C-DPO's cost limit is Safe RLHF's round-1 threshold of the same preset (E C ≤ threshold: 0 for
 * tiny/quick, −2.5 for default; our cost model puts safe answers near −3 and harmful ones near +3.5,
 * so the paper's C_limit = 0 would allow about half the answers to be harmful). MoCAN on the
 * default preset uses the same constraint, E g ≥ 2.5 (g = −C); at the quick size, where the cost
 * model calls nearly every fragment safe, it takes half the reachable margin instead. MoCAN's DPO run
 * is 450 steps on the default preset (measurements at `DEFAULT_MOCAN_RUN`).
 */
export const PREFERENCE_METHOD_PRESETS: Readonly<Record<'tiny' | 'quick' | 'default', Sizes>> = Object.freeze({
  tiny: {
    common: { steps: 4, batchSize: 8, evalPairs: 32, maxNewTokens: 16 },
    cdpo: { rounds: 2, steps: 3, prompts: 8, samplesPerPrompt: 1, costLimit: 0 },
    // a few SFT steps: the policy never finishes within 16 tokens, so cut-off samples are kept
    mocan: { prompts: 8, samplesPerPrompt: 4, realisedSamplesPerPrompt: 4, bootstrapSamples: 200, cutOffSamples: 'keep' },
    pecan: { prompts: 8, samplesPerPrompt: 4, realisedSamplesPerPrompt: 4, bootstrapSamples: 200 },
  },
  quick: {
    common: { steps: 60, batchSize: 16, evalPairs: 256, maxNewTokens: 40 },
    cdpo: { rounds: 3, steps: 20, prompts: 32, samplesPerPrompt: 2, costLimit: 0 },
    mocan: { prompts: 32, samplesPerPrompt: 8, realisedSamplesPerPrompt: 8, bootstrapSamples: 500 },
    pecan: { prompts: 32, samplesPerPrompt: 8, realisedSamplesPerPrompt: 8, bootstrapSamples: 500 },
  },
  default: {
    common: { steps: 300, batchSize: 16, evalPairs: 512, maxNewTokens: 48 },
    cdpo: { rounds: 4, steps: 100, prompts: 128, samplesPerPrompt: 4, costLimit: -2.5 },
    mocan: { prompts: 256, samplesPerPrompt: 16, realisedSamplesPerPrompt: 16, constraint: { threshold: 2.5 }, steps: 450 },
    pecan: { prompts: 256, samplesPerPrompt: 16, realisedSamplesPerPrompt: 16 },
  },
});

/** The settings of `method` for a run preset: common sizes, then the method's own. */
export function preferenceMethodSettings<M extends PreferenceMethod>(preset: string, method: M): Partial<PreferenceMethods[M]['config']> {
  if (!(preset in PREFERENCE_METHOD_PRESETS)) {
    throw new Error(`${FILE} preferenceMethodSettings: unknown preset '${preset}' (known: ${Object.keys(PREFERENCE_METHOD_PRESETS).join(', ')})`);
  }
  const sizes = PREFERENCE_METHOD_PRESETS[preset as keyof typeof PREFERENCE_METHOD_PRESETS];
  return { ...sizes.common, ...(sizes[method] ?? {}) } as Partial<PreferenceMethods[M]['config']>;
}

/** A training-curve point recorded by the stage (every step: the runs are a few hundred steps). */
export interface CurvePoint {
  stage: string;
  step: number;
  loss: number;
  metrics: Record<string, number>;
}

export interface PreferenceStageOutputs<E = unknown> {
  method: PreferenceMethod;
  /** Checkpoint folder of the trained policy (loadGPT / loadStagePolicy). */
  policy: string;
  /** Training wall seconds of the method (all its phases: sampling, dual, relabelling, DPO runs). */
  seconds: number;
  timings: Record<string, number>;
  metrics: Record<string, number>;
  extras: E;
  curve: CurvePoint[];
  /** The settings given (overrides, with the stage's seed). */
  settings: Record<string, unknown>;
  /** The resolved settings the method ran with (defaults filled in). */
  config: Record<string, unknown>;
}

/**
 * Version of what a method stage records (`PreferenceStageOutputs`, the extras): part of the stage
 * key, so a run folder made by older code redoes the stage instead of handing back a record that
 * lacks a field (2: MoCAN's `byPrompt` and `samples`). The key also holds the settings with the
 * library's defaults filled in (`resolvedMethodConfig`), so a changed default redoes the stage.
 */
export const PREFERENCE_STAGE_FORMAT = 2;

/**
 * Runs `method` as the stage `name` (skipped when it already finished with the same inputs and
 * settings) and saves the policy under runs/<run>/<name>/policy. `config.seed` defaults to a seed
 * drawn from the stage's RNG, so results follow the run's seed.
 */
export function preferenceMethodStage<M extends PreferenceMethod>(
  ctx: RunContext,
  name: string,
  inputs: PreferenceStageInputs,
  method: M,
  config: Partial<PreferenceMethods[M]['config']> = {},
  callbacks: MethodCallbacks = {},
): Promise<PreferenceStageOutputs<PreferenceMethods[M]['extras']>> {
  // the settings with the library's defaults filled in (the seed aside: drawn from the stage's RNG unless given)
  const { seed: _seed, ...resolved } = methodEntry(method, 'preferenceMethodStage').config(config) as PreferenceTrainingConfig;
  const key = { method, config, resolved, inputs, format: PREFERENCE_STAGE_FORMAT };
  return runStage(ctx, name, key, async (dir, rng) => {
    const loaded = await loadAlignmentData(inputs);
    try {
      const settings = { seed: rng.int(2 ** 31 - 1), ...config } as Partial<PreferenceMethods[M]['config']>;
      const res = await runPreferenceMethod(method, loaded.data, settings, {
        ...callbacks,
        onEvent: (m) => {
          ctx.log(`[${name}] ${m}`);
          callbacks.onEvent?.(m);
        },
      });
      const policy = path.join(dir, 'policy');
      await saveGPT(policy, res.policy, { stage: name, method, metrics: res.metrics, config: res.config });
      res.policy.dispose();
      return {
        method,
        policy,
        seconds: res.timings['total'] ?? NaN,
        timings: res.timings,
        metrics: res.metrics,
        extras: res.extras,
        curve: res.history.map((h) => ({ stage: h.stage, step: h.step, loss: h.loss, metrics: h.metrics })),
        settings: settings as Record<string, unknown>,
        config: res.config,
      };
    } finally {
      loaded.dispose();
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Inputs shared by several methods, computed once: pair scores and π_ref samples

interface PairScoresFile {
  pairs: number;
  reward: { chosen: number[]; rejected: number[] };
  cost: { chosen: number[]; rejected: number[] };
}

function readPairScores(file: string): PairScores {
  const f = JSON.parse(fs.readFileSync(file, 'utf8')) as PairScoresFile;
  const side = (x: { chosen: number[]; rejected: number[] }) => ({ chosen: Float32Array.from(x.chosen), rejected: Float32Array.from(x.rejected) });
  return { reward: side(f.reward), cost: side(f.cost) };
}

interface ReferenceSamplesFile {
  set: SampleSet;
  r: number[];
  g: number[];
  seconds: number;
}

function readReferenceSamples(file: string): ReferenceSamples {
  const f = JSON.parse(fs.readFileSync(file, 'utf8')) as ReferenceSamplesFile;
  return { set: f.set, r: Float32Array.from(f.r), g: Float32Array.from(f.g), gold: goldSamples(f.set), seconds: f.seconds };
}

interface ReferenceLogProbsFile {
  pairs: number;
  chosen: number[];
  rejected: number[];
}

/** Fills data.referenceLogProbs from the stage file: sums aligned with helpfulnessPairs(data.rows). */
function readReferenceLogProbs(file: string, data: AlignmentData): void {
  const f = JSON.parse(fs.readFileSync(file, 'utf8')) as ReferenceLogProbsFile;
  const pairs = helpfulnessPairs(data.rows, data.tokenizer);
  if (f.pairs !== pairs.length) throw new Error(`${FILE} readReferenceLogProbs: ${file} holds ${f.pairs} pairs; the preference rows give ${pairs.length}`);
  data.referenceLogProbs!.set(pairs.map((p) => ({ prompt: p.prompt, response: p.chosen })), f.chosen);
  data.referenceLogProbs!.set(pairs.map((p) => ({ prompt: p.prompt, response: p.rejected })), f.rejected);
}

/**
 * A stage that loads `inputs`, computes one JSON file from the loaded data and records its path
 * (the shared inputs below; their wall time is the stage record's, `readStage(ctx, name).seconds`).
 */
function sharedFileStage(
  ctx: RunContext,
  name: string,
  key: unknown,
  inputs: PreferenceStageInputs,
  fileName: string,
  compute: (data: AlignmentData, rng: Rng) => Promise<unknown>,
): Promise<{ file: string }> {
  return runStage(ctx, name, key, async (dir, rng) => {
    const loaded = await loadAlignmentData(inputs);
    try {
      const file = path.join(dir, fileName);
      writeJsonAtomic(file, await compute(loaded.data, rng), 0);
      return { file };
    } finally {
      loaded.dispose();
    }
  });
}

/**
 * Σ log π_ref (the SFT policy) of both responses of every preference row, computed once: every
 * method of the family trains on these responses (helpfulness, safety and BFPO pairs, the replay
 * buffer), so no run does the reference's forward pass per batch again.
 */
export function referenceLogProbsStage(ctx: RunContext, name: string, inputs: PreferenceStageInputs, batchSize = 64): Promise<{ file: string }> {
  const own = { tokenizer: inputs.tokenizer, preferences: inputs.preferences, sftPolicy: inputs.sftPolicy };
  return sharedFileStage(ctx, name, { inputs: own, batchSize }, own, 'reference-logprobs.json', async (data): Promise<ReferenceLogProbsFile> => {
    const pairs = helpfulnessPairs(data.rows, data.tokenizer);
    const lp = { padId: data.tokenizer.specials.pad, batchSize };
    const chosen = await dialogueLogProbSums(data.reference, pairs.map((p) => ({ prompt: p.prompt, response: p.chosen })), lp);
    const rejected = await dialogueLogProbSums(data.reference, pairs.map((p) => ({ prompt: p.prompt, response: p.rejected })), lp);
    return { pairs: pairs.length, chosen: Array.from(chosen), rejected: Array.from(rejected) };
  });
}

/**
 * The round-1 reward- and cost-model scores of both sides of every helpfulness pair (C-DPO and
 * MoCAN relabel the same pairs with the same models), scored once. Needs inputs.reward and .cost.
 */
export function pairScoresStage(ctx: RunContext, name: string, inputs: PreferenceStageInputs, batchSize = 64): Promise<{ file: string }> {
  return sharedFileStage(ctx, name, { inputs, batchSize }, inputs, 'pair-scores.json', async (data): Promise<PairScoresFile> => {
    if (!data.rewardModel || !data.costModel) throw new Error(`${FILE} pairScoresStage: inputs.reward and inputs.cost are required`);
    const pairs = helpfulnessPairs(data.rows, data.tokenizer);
    const scores = await scorePairs(data.rewardModel, data.costModel, pairs, data.tokenizer.specials.pad, batchSize);
    const side = (x: { chosen: Float32Array; rejected: Float32Array }) => ({ chosen: Array.from(x.chosen), rejected: Array.from(x.rejected) });
    return { pairs: pairs.length, reward: side(scores.reward), cost: side(scores.cost) };
  });
}

/**
 * N samples of π_ref on the first M prompts, scored by the round-1 reward and cost models and by
 * gold (CAN's collect.py), drawn once for MoCAN and PeCAN: both duals then see the same samples.
 */
export function referenceSamplesStage(
  ctx: RunContext,
  name: string,
  inputs: PreferenceStageInputs,
  options: { prompts: number; samplesPerPrompt: number; batchSize: number; maxNewTokens?: number },
): Promise<{ file: string }> {
  return sharedFileStage(ctx, name, { inputs, options }, inputs, 'reference-samples.json', async (data, rng): Promise<ReferenceSamplesFile> => {
    const ref = await sampleReference(data, { ...options, seed: rng.int(2 ** 31 - 1) });
    if (!ref.r || !ref.g) throw new Error(`${FILE} referenceSamplesStage: inputs.reward and inputs.cost are required`);
    return { set: ref.set, r: Array.from(ref.r), g: Array.from(ref.g), seconds: ref.seconds };
  });
}

export type PreferenceStageResults = { [M in PreferenceMethod]?: PreferenceStageOutputs<PreferenceMethods[M]['extras']> };

/**
 * The DPO family and CAN as the main job runs them, for a run preset: the stages of `methods` (and
 * of what they reuse) in PREFERENCE_METHODS order, each with that preset's settings, on `base`
 * inputs (round-1 data, SFT policy, round-1 reward and cost models). What several methods share is
 * computed once: π_ref's log-prob sums of the preference responses (every method), the pair scores
 * (C-DPO, MoCAN), the π_ref samples (MoCAN, PeCAN; when their sampling settings agree) and DPO's
 * policy as PeCAN's π_r (so asking for PeCAN runs or reads DPO).
 * Notebooks call this too, so they read the main job's stages back instead of training again.
 */
export async function preferenceMethodStages(
  ctx: RunContext,
  preset: string,
  base: PreferenceStageInputs,
  methods: readonly PreferenceMethod[] = PREFERENCE_METHODS,
  callbacks: MethodCallbacks = {},
): Promise<PreferenceStageResults> {
  const wanted = new Set(methods);
  if (wanted.has('pecan')) wanted.add('dpo');
  const settings = <M extends PreferenceMethod>(m: M) => preferenceMethodSettings(preset, m) as Partial<PreferenceMethods[M]['config']> & Partial<PreferenceTrainingConfig>;
  let pairScores: string | undefined;
  if (wanted.has('cdpo') || wanted.has('mocan')) pairScores = (await pairScoresStage(ctx, 'pair-scores', base, settings('mocan').evalBatchSize)).file;
  // MoCAN's sampling settings; PeCAN shares the samples only if its own are the same
  const sampling = (m: 'mocan' | 'pecan') => {
    const c = m === 'mocan' ? mocanConfig(settings('mocan')) : pecanConfig(settings('pecan'));
    return { prompts: c.prompts, samplesPerPrompt: c.samplesPerPrompt, batchSize: c.evalBatchSize, ...(c.maxNewTokens > 0 ? { maxNewTokens: c.maxNewTokens } : {}) };
  };
  let referenceSamples: string | undefined;
  const shared = JSON.stringify(sampling('mocan')) === JSON.stringify(sampling('pecan'));
  if (wanted.has('mocan') || (wanted.has('pecan') && shared)) {
    referenceSamples = (await referenceSamplesStage(ctx, 'reference-samples', base, wanted.has('mocan') ? sampling('mocan') : sampling('pecan'))).file;
  }
  const referenceLogProbs = (await referenceLogProbsStage(ctx, 'reference-logprobs', base, settings('dpo').evalBatchSize)).file;
  const out: PreferenceStageResults = {};
  for (const method of PREFERENCE_METHODS) {
    if (!wanted.has(method)) continue;
    const inputs: PreferenceStageInputs = { ...base, referenceLogProbs };
    if (pairScores && (method === 'cdpo' || method === 'mocan')) inputs.pairScores = pairScores;
    if (referenceSamples && (method === 'mocan' || (method === 'pecan' && shared))) inputs.referenceSamples = referenceSamples;
    if (method === 'pecan') inputs.helpfulPolicy = out.dpo!.policy;
    const result = await preferenceMethodStage(ctx, method, inputs, method, settings(method), callbacks);
    (out as Record<string, unknown>)[method] = result;
  }
  return out;
}

/**
 * Wall seconds a method's result took, counting what it reused that was computed for it: PeCAN's π_r
 * (the DPO run), π_ref's log-prob sums, the shared pair scores and π_ref samples (each counted in
 * full for every method reading it).
 */
export function methodSeconds(ctx: RunContext, results: PreferenceStageResults, method: PreferenceMethod): number {
  const own = results[method]?.seconds ?? NaN;
  const shared = (stage: string) => readStage<{ seconds: number }>(ctx, stage)?.seconds ?? 0;
  let extra = shared('reference-logprobs');
  if (method === 'pecan') extra += results.dpo?.seconds ?? 0;
  if (method === 'cdpo' || method === 'mocan') extra += shared('pair-scores');
  if (method === 'mocan' || method === 'pecan') extra += shared('reference-samples');
  return own + extra;
}

// ---------------------------------------------------------------------------------------------
// Comparing trained policies by gold, and the wall time of Safe RLHF's stages

export interface PolicyCheckpoint {
  name: string;
  /** Checkpoint folder. */
  policy: string;
  /** Training wall seconds (shown beside the metrics). */
  seconds?: number;
}

export interface ComparisonRow {
  method: string;
  'harmful rate': string;
  'over-refusal': string;
  'helpfulness (benign)': string;
  'train seconds': number | string;
  [key: string]: string | number;
}

/**
 * Evaluates policy checkpoints with the one evaluation (src/eval: held-out validation + test
 * prompts, gold scores, common random numbers), the first being the baseline, and returns the
 * evaluation plus one row per policy: gold harmful rate, over-refusal and helpfulness with 95%
 * bootstrap intervals, and the training seconds.
 */
export async function compareCheckpoints(
  tokenizerFile: string,
  checkpoints: readonly PolicyCheckpoint[],
  options: { promptsPerKind: number; samplesPerPrompt: number; seed?: number; maxNewTokens?: number },
): Promise<{ evaluation: MethodsEvaluation; rows: ComparisonRow[] }> {
  const tokenizer = loadTokenizer(resolveStagePath(tokenizerFile));
  const sets = buildEvalPromptSets(undefined, { perKind: options.promptsPerKind, seed: options.seed ?? 20240421, splits: ['validation', 'test'] });
  const models: GPT[] = [];
  try {
    for (const c of checkpoints) models.push(loadStagePolicy(resolveStagePath(c.policy)));
    const generate = options.maxNewTokens ? { maxNewTokens: options.maxNewTokens } : {};
    const evaluation = await evaluateMethods(
      checkpoints.map((c, i) => gptPolicy(c.name, models[i]!, tokenizer, { batchSize: 64, generate })),
      sets,
      { samplesPerPrompt: options.samplesPerPrompt, seed: options.seed ?? 1, eloJudges: [] },
    );
    const rows = checkpoints.map((c) => {
      const m = evaluation.methods[c.name]!;
      return {
        method: c.name,
        'harmful rate': formatEstimate(m.harmfulRate, 'rate'),
        'over-refusal': formatEstimate(m.overRefusalRate, 'rate'),
        'helpfulness (benign)': formatEstimate(m.helpfulness),
        'train seconds': c.seconds === undefined ? '' : Math.round(c.seconds),
      };
    });
    return { evaluation, rows };
  } finally {
    models.forEach((m) => m.dispose());
  }
}

/** Wall seconds of finished stages (null for any not run in this folder yet). */
export function stageSeconds(ctx: RunContext, stages: readonly string[]): Record<string, number | null> {
  return Object.fromEntries(stages.map((s) => [s, readStage(ctx, s)?.seconds ?? null]));
}

/**
 * Safe RLHF's training wall time in this run folder: the three PPO-Lagrangian rounds ('rl'), and
 * with the red-teaming and reward/cost retraining of rounds 2-3 ('total'); null when a stage is missing.
 */
export function safeRlhfSeconds(ctx: RunContext): { rl: number | null; total: number | null; stages: Record<string, number | null> } {
  const rl = ['safe-rlhf-r1', 'safe-rlhf-r2', 'safe-rlhf-r3'];
  const extra = ['redteam-r2', 'reward-cost-r2', 'redteam-r3', 'reward-cost-r3'];
  const stages = stageSeconds(ctx, [...rl, ...extra]);
  const sum = (names: string[]): number | null => (names.every((n) => stages[n] !== null) ? names.reduce((a, n) => a + stages[n]!, 0) : null);
  return { rl: sum(rl), total: sum([...rl, ...extra]), stages };
}
