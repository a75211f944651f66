/**
 * Everything the DPO-family and CAN notebooks start from, built by library calls and cached:
 * the world's word tokenizer, an SFT policy (π_ref) trained on the Alpaca-like SFT corpus, a reward
 * model and a cost model trained from the SFT trunk on decoupled preference rows, and the rows and
 * prompts themselves (`AlignmentData`, the input of every run* method).
 *
 * Sizes come from a run preset (src/pipeline/presets.ts: 'quick' for CI and notebooks under
 * SAFE_ALIGN_PRESET=quick, 'default' for the main job's size). Checkpoints are cached under
 * `<repo>/runs/notebook-cache/<preset>-s<seed>-<hash>/` (hash of the preset, seed and world
 * version), so a second notebook, or a rerun, loads them in a second instead of training again.
 */
import fs from 'node:fs';
import path from 'node:path';
import { buildCostPairs, buildPromptSet, buildRewardPairs, type PromptItem } from '../data/pairs.js';
import type { PreferenceRow } from '../data/schema.js';
import { loadGPT, loadScoreModel, saveGPT, saveScoreModel } from '../io/model-io.js';
import { gptConfig } from '../model/config.js';
import { createGPT, exportWeights, type GPT } from '../model/gpt.js';
import { createScoreModel, type ScoreModel } from '../model/score-model.js';
import { hashKey } from '../pipeline/stage.js';
import { RUN_PRESETS, runPreset, type RunPreset } from '../pipeline/presets.js';
import { encodeDialogue } from '../tokenizer/chat.js';
import type { Tokenizer } from '../tokenizer/types.js';
import { wordTokenizerFromWords } from '../tokenizer/word.js';
import { trainCostModel, trainRewardModel } from '../train/score-training.js';
import { trainSft } from '../train/sft.js';
import type { StepLog } from '../train/trainer.js';
import { ensureDir, writeJsonAtomic } from '../util/atomic.js';
import { createRng } from '../util/rng.js';
import { buildSftCorpus, generatePreferenceDataset, WORLD_VERSION, worldVocabulary } from '../world/index.js';
import type { AlignmentData } from './methods.js';

const FILE = 'src/align/fixtures.ts';
/** Bump when what the fixtures contain changes (invalidates caches). */
export const FIXTURES_VERSION = 1;

/** The parts of a run preset the fixtures use. */
export interface FixturePreset {
  model: RunPreset['model'];
  data: Pick<RunPreset['data'], 'sftExamples' | 'preferencePairs'>;
  sft: RunPreset['sft'];
  scoreModel: RunPreset['scoreModel'];
}

export interface FixtureOptions {
  /**
   * Run preset name ('quick' | 'default'; notebooks pass byPreset({quick: 'quick', full: 'default'}))
   * or the sizes themselves (tests use tiny ones; cached under the name 'custom').
   */
  preset: string | FixturePreset;
  seed?: number;
  /** Cache folder (default <repo>/runs/notebook-cache); null: no cache. */
  cacheDir?: string | null;
  /** Progress lines. */
  log?: (message: string) => void;
  /** After every training step of the SFT, reward and cost runs. */
  onStep?: (log: StepLog, stage: 'sft' | 'reward' | 'cost') => void | Promise<void>;
}

export interface WorldFixtures {
  preset: string;
  settings: FixturePreset;
  seed: number;
  tokenizer: Tokenizer;
  /** π_ref (trainable weights; the methods only read it). */
  sft: GPT;
  rewardModel: ScoreModel;
  costModel: ScoreModel;
  /** Decoupled preference rows (train split). */
  rows: PreferenceRow[];
  /** Distinct framed prompts of `rows`. */
  prompts: PromptItem[];
  /** The input of runDPO … runPeCAN. */
  data: AlignmentData;
  /** True when the checkpoints came from the cache. */
  cached: boolean;
  /** Training wall seconds (recorded at build time when cached). */
  seconds: { sft: number; reward: number; cost: number };
  dir: string | null;
  /** Frees the three models. */
  dispose(): void;
}

/** The repository root: the nearest folder upwards with a package.json named 'safe-align' (else the cwd). */
export function findRepoRoot(start = process.cwd()): string {
  let dir = path.resolve(start);
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg)) {
      try {
        if ((JSON.parse(fs.readFileSync(pkg, 'utf8')) as { name?: string }).name === 'safe-align') return dir;
      } catch {
        // unreadable package.json: keep walking
      }
    }
    const up = path.dirname(dir);
    if (up === dir) return path.resolve(start);
    dir = up;
  }
}

interface CacheRecord {
  key: unknown;
  seconds: WorldFixtures['seconds'];
}

/**
 * Builds (or loads from the cache) the tokenizer, SFT policy, reward and cost models, preference
 * rows and prompts for a run preset. Deterministic in (preset, seed).
 */
export async function prepareWorldFixtures(options: FixtureOptions): Promise<WorldFixtures> {
  const full = typeof options.preset === 'string' ? runPreset(options.preset) : options.preset;
  const settings: FixturePreset = {
    model: full.model,
    data: { sftExamples: full.data.sftExamples, preferencePairs: full.data.preferencePairs },
    sft: full.sft,
    scoreModel: full.scoreModel,
  };
  const presetName = typeof options.preset === 'string' ? options.preset : 'custom';
  const seed = options.seed ?? 1;
  const log = options.log ?? (() => {});
  const tokenizer = wordTokenizerFromWords(worldVocabulary());
  const config = gptConfig(undefined, { ...settings.model, vocabSize: tokenizer.vocabSize });
  const pad = tokenizer.specials.pad;
  const root = createRng(seed);
  const rows = generatePreferenceDataset({ seed: root.fork('preference').seed, total: settings.data.preferencePairs, split: 'train' }).rows;
  const prompts = buildPromptSet(rows, tokenizer);
  const key = { v: FIXTURES_VERSION, world: WORLD_VERSION, preset: presetName, settings, seed };
  const cacheRoot = options.cacheDir === null ? null : (options.cacheDir ?? path.join(findRepoRoot(), 'runs', 'notebook-cache'));
  const dir = cacheRoot ? path.join(cacheRoot, `${presetName}-s${seed}-${hashKey(key).slice(0, 10)}`) : null;
  const recordFile = dir ? path.join(dir, 'fixtures.json') : null;

  let sft: GPT;
  let rewardModel: ScoreModel;
  let costModel: ScoreModel;
  let seconds: WorldFixtures['seconds'];
  let cached = false;
  if (recordFile && fs.existsSync(recordFile)) {
    const record = JSON.parse(fs.readFileSync(recordFile, 'utf8')) as CacheRecord;
    sft = loadGPT(path.join(dir!, 'sft')).model;
    rewardModel = loadScoreModel(path.join(dir!, 'reward')).model;
    costModel = loadScoreModel(path.join(dir!, 'cost')).model;
    seconds = record.seconds;
    cached = true;
    log(`fixtures '${presetName}' loaded from ${dir}`);
  } else {
    const timed = async (fn: () => Promise<unknown>): Promise<number> => {
      const t0 = performance.now();
      await fn();
      return (performance.now() - t0) / 1000;
    };
    // SFT policy on the Alpaca-like corpus
    const corpus = buildSftCorpus({ size: settings.data.sftExamples, seed: root.fork('sft-corpus').seed }).examples;
    const dialogues = corpus.map((e) => {
      const d = encodeDialogue(tokenizer, e.prompt, e.response);
      return { prompt: d.promptIds, response: d.responseIds };
    });
    sft = createGPT(config, { rng: root.fork('sft-init') });
    const s = settings.sft;
    const sftSeconds = await timed(() =>
      trainSft(sft, dialogues, { batchSize: s.batchSize, padId: pad, rng: root.fork('sft-batches') }, { steps: s.steps, learningRate: s.learningRate, warmupSteps: Math.min(20, s.steps) }, {
        onStep: (l) => options.onStep?.(l, 'sft'),
      }),
    );
    log(`SFT: ${s.steps} steps in ${sftSeconds.toFixed(1)} s`);
    // reward and cost models from the SFT trunk
    const trunk = await exportWeights(sft.params);
    const m = settings.scoreModel;
    const scoreCfg = { steps: m.steps, learningRate: m.learningRate, warmupSteps: Math.min(10, m.steps) };
    rewardModel = createScoreModel(config, { rng: root.fork('reward-init'), weights: trunk });
    const rewardSeconds = await timed(() =>
      trainRewardModel(rewardModel, buildRewardPairs(rows, tokenizer).pairs, { batchSize: m.batchSize, padId: pad, rng: root.fork('reward-batches') }, scoreCfg, {
        onStep: (l) => options.onStep?.(l, 'reward'),
      }),
    );
    log(`reward model: ${m.steps} steps in ${rewardSeconds.toFixed(1)} s`);
    costModel = createScoreModel(config, { rng: root.fork('cost-init'), weights: trunk });
    const costSeconds = await timed(() =>
      trainCostModel(costModel, buildCostPairs(rows, tokenizer).pairs, { batchSize: m.batchSize, padId: pad, rng: root.fork('cost-batches') }, scoreCfg, {
        onStep: (l) => options.onStep?.(l, 'cost'),
      }),
    );
    log(`cost model: ${m.steps} steps in ${costSeconds.toFixed(1)} s`);
    seconds = { sft: sftSeconds, reward: rewardSeconds, cost: costSeconds };
    if (dir) {
      ensureDir(dir);
      await saveGPT(path.join(dir, 'sft'), sft, { stage: 'sft', preset: presetName, seed });
      await saveScoreModel(path.join(dir, 'reward'), rewardModel, { stage: 'reward', preset: presetName, seed });
      await saveScoreModel(path.join(dir, 'cost'), costModel, { stage: 'cost', preset: presetName, seed });
      writeJsonAtomic(recordFile!, { key, seconds } satisfies CacheRecord);
      log(`fixtures saved to ${dir}`);
    }
  }
  if (sft.config.vocabSize !== tokenizer.vocabSize) {
    throw new Error(`${FILE} prepareWorldFixtures: cached SFT vocabSize ${sft.config.vocabSize} != tokenizer ${tokenizer.vocabSize}; delete ${dir}`);
  }
  const data: AlignmentData = { reference: sft, tokenizer, rows, prompts, rewardModel, costModel };
  return {
    preset: presetName,
    settings,
    seed,
    tokenizer,
    sft,
    rewardModel,
    costModel,
    rows,
    prompts,
    data,
    cached,
    seconds,
    dir,
    dispose: () => {
      sft.dispose();
      rewardModel.dispose();
      costModel.dispose();
    },
  };
}

/** The run presets fixtures accept. */
export const FIXTURE_PRESETS = Object.keys(RUN_PRESETS);
