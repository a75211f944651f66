/**
 * The stages every method shares: the world's data, the SFT starting policy, and the reward and
 * cost models of a round. Each is a resumable stage (stage.ts) whose outputs are files in its
 * folder; later stages and notebooks load them from there.
 */
import fs from 'node:fs';
import path from 'node:path';
import { buildCostPairs, buildRewardPairs, type CostPair, type RewardPair } from '../data/pairs.js';
import { writeJsonl } from '../data/jsonl.js';
import { loadPreferenceFile } from '../data/load.js';
import type { PreferenceRow } from '../data/schema.js';
import { gptConfig, type GPTConfig } from '../model/config.js';
import { createGPT, type GPT } from '../model/gpt.js';
import { createScoreModel, type ScoreModel } from '../model/score-model.js';
import { loadGPT, loadScoreModel, saveGPT, saveScoreModel } from '../io/model-io.js';
import { encodeDialogue, loadTokenizer, saveTokenizer, wordTokenizerFromWords, type Tokenizer } from '../tokenizer/index.js';
import { trainSft } from '../train/sft.js';
import { costAccuracy, rewardAccuracy, trainCostModel, trainRewardModel } from '../train/score-training.js';
import type { StepLog } from '../train/trainer.js';
import { writeJsonAtomic } from '../util/atomic.js';
import { progress } from '../util/progress.js';
import { buildSftCorpus, generatePreferenceDataset, worldVocabulary, WORLD_VERSION } from '../world/index.js';
import type { RunPreset } from './presets.js';
import { runStage, stageDir, type RunContext } from './stage.js';

export interface DataOutputs {
  tokenizer: string;
  sft: string;
  /** Round-1 decoupled preferences (PKU-SafeRLHF schema + gold fields). */
  preferences: string;
  /** The same prompts and responses labelled by the single-preference annotator. */
  singlePreferences: string;
  /** Held-out preferences (validation split) for score-model metrics. */
  validation: string;
  counts: Record<string, number>;
}

/** A fresh 31-bit seed from a stage RNG. */
const seedFrom = (rng: { int(n: number): number }): number => rng.int(2 ** 31 - 1);

export function dataStage(ctx: RunContext, preset: RunPreset): Promise<DataOutputs> {
  return runStage(ctx, 'data', { world: WORLD_VERSION, data: preset.data }, async (dir, rng) => {
    const tokenizer = wordTokenizerFromWords(worldVocabulary());
    const files = {
      tokenizer: path.join(dir, 'tokenizer.json'),
      sft: path.join(dir, 'sft.jsonl'),
      preferences: path.join(dir, 'preferences-r1.jsonl'),
      singlePreferences: path.join(dir, 'preferences-r1-single.jsonl'),
      validation: path.join(dir, 'preferences-validation.jsonl'),
    };
    saveTokenizer(files.tokenizer, tokenizer);
    const sft = buildSftCorpus({ size: preset.data.sftExamples, seed: seedFrom(rng) });
    fs.writeFileSync(files.sft + '.tmp', sft.examples.map((e) => JSON.stringify(e)).join('\n') + '\n');
    fs.renameSync(files.sft + '.tmp', files.sft);
    const prefSeed = seedFrom(rng);
    const prefs = generatePreferenceDataset({ seed: prefSeed, total: preset.data.preferencePairs, split: 'train' });
    writeJsonl(files.preferences, prefs.rows);
    const single = generatePreferenceDataset({ seed: prefSeed, total: preset.data.preferencePairs, split: 'train', annotator: 'single' });
    writeJsonl(files.singlePreferences, single.rows);
    const validation = generatePreferenceDataset({ seed: seedFrom(rng), total: Math.max(200, preset.data.preferencePairs >> 3), split: 'validation' });
    writeJsonl(files.validation, validation.rows);
    writeJsonAtomic(path.join(dir, 'manifest.json'), { sft: sft.manifest, preferences: prefs.manifest, validation: validation.manifest });
    return { ...files, counts: { sft: sft.examples.length, preferences: prefs.rows.length, validation: validation.rows.length } };
  });
}

/** Reads a preference file the stages wrote (nothing may be rejected: these files are ours). */
export async function readPreferences(file: string): Promise<PreferenceRow[]> {
  const r = await loadPreferenceFile(file);
  if (r.errors.length > 0) throw new Error(`${file}: ${r.errors.length} rows rejected, e.g. ${r.errors[0]!.message}`);
  return r.rows;
}

export function modelConfig(preset: RunPreset, tokenizer: Tokenizer): GPTConfig {
  return gptConfig(undefined, { ...preset.model, vocabSize: tokenizer.vocabSize });
}

export interface SftOutputs {
  policy: string;
  steps: number;
  finalLoss: number;
  /** Loss every 10 steps, for the notebooks' curves. */
  lossCurve: { step: number; loss: number }[];
}

/** Trains the starting policy on the Alpaca-like SFT corpus. */
export function sftStage(ctx: RunContext, preset: RunPreset, data: DataOutputs): Promise<SftOutputs> {
  return runStage(ctx, 'sft', { model: preset.model, sft: preset.sft, data: data.counts }, async (dir, rng) => {
    const tokenizer = loadTokenizer(data.tokenizer);
    const examples = fs
      .readFileSync(data.sft, 'utf8')
      .split('\n')
      .filter((l) => l.length > 0)
      .map((l) => JSON.parse(l) as { prompt: string; response: string });
    const dialogues = examples.map((e) => {
      const d = encodeDialogue(tokenizer, e.prompt, e.response);
      return { prompt: d.promptIds, response: d.responseIds };
    });
    const model = createGPT(modelConfig(preset, tokenizer), { rng: rng.fork('init') });
    const bar = progress('sft', preset.sft.steps);
    const curve: { step: number; loss: number }[] = [];
    let recent = 0;
    const { history } = await trainSft(
      model,
      dialogues,
      { batchSize: preset.sft.batchSize, padId: tokenizer.specials.pad, rng: rng.fork('batches') },
      { steps: preset.sft.steps, learningRate: preset.sft.learningRate, minLearningRate: preset.sft.learningRate / 10, warmupSteps: Math.min(20, preset.sft.steps >> 3) },
      {
        onStep: (log: StepLog) => {
          recent = recent === 0 ? log.loss : 0.9 * recent + 0.1 * log.loss;
          if (log.step % 10 === 0) curve.push({ step: log.step, loss: log.loss });
          bar.update(log.step + 1, `loss ${recent.toFixed(3)}`);
        },
      },
    );
    const finalLoss = history.at(-1)?.loss ?? NaN;
    bar.done(`loss ${finalLoss.toFixed(3)}`);
    const policy = path.join(dir, 'policy');
    await saveGPT(policy, model, { stage: 'sft', steps: history.length, finalLoss });
    model.dispose();
    return { policy, steps: history.length, finalLoss, lossCurve: curve };
  });
}

export interface ScoreModelOutputs {
  reward: string;
  cost: string;
  metrics: Record<string, number>;
  rewardCurve: { step: number; loss: number; accuracy: number }[];
  costCurve: { step: number; loss: number; accuracy: number; signAccuracy: number }[];
}

/**
 * Trains a reward model and a cost model from the policy `initFrom` (the SFT policy, as safe-rlhf
 * initialises them) on every preference file given, and measures them on held-out pairs.
 */
export function scoreModelStage(
  ctx: RunContext,
  name: string,
  preset: RunPreset,
  data: DataOutputs,
  initFrom: string,
  preferenceFiles: readonly string[],
): Promise<ScoreModelOutputs> {
  const key = { model: preset.model, score: preset.scoreModel, files: preferenceFiles, initFrom };
  return runStage(ctx, name, key, async (dir, rng) => {
    const tokenizer = loadTokenizer(data.tokenizer);
    const rows = (await Promise.all(preferenceFiles.map(readPreferences))).flat();
    const validation = await readPreferences(data.validation);
    const rewardPairs = buildRewardPairs(rows, tokenizer).pairs;
    const costPairs = buildCostPairs(rows, tokenizer).pairs;
    const { model: init } = loadGPT(initFrom, { trainable: false });
    const config = { steps: preset.scoreModel.steps, learningRate: preset.scoreModel.learningRate, minLearningRate: preset.scoreModel.learningRate / 10, warmupSteps: 10 };
    const opts = (label: string) => ({ batchSize: preset.scoreModel.batchSize, padId: tokenizer.specials.pad, rng: rng.fork(label) });
    const cfg = modelConfig(preset, tokenizer);

    const rm = createScoreModel(cfg, { rng: rng.fork('reward-head'), copyOf: init.params });
    const rewardCurve: ScoreModelOutputs['rewardCurve'] = [];
    let bar = progress(`${name} reward`, config.steps);
    await trainRewardModel(rm, rewardPairs, opts('reward'), config, {
      onStep: (l) => {
        if (l.step % 5 === 0) rewardCurve.push({ step: l.step, loss: l.loss, accuracy: l.metrics['reward/accuracy'] ?? NaN });
        bar.update(l.step + 1, `loss ${l.loss.toFixed(3)}`);
      },
    });
    bar.done();
    const cm = createScoreModel(cfg, { rng: rng.fork('cost-head'), copyOf: init.params });
    init.dispose();
    const costCurve: ScoreModelOutputs['costCurve'] = [];
    bar = progress(`${name} cost`, config.steps);
    await trainCostModel(cm, costPairs, opts('cost'), config, {
      onStep: (l) => {
        if (l.step % 5 === 0) {
          costCurve.push({ step: l.step, loss: l.loss, accuracy: l.metrics['cost/accuracy'] ?? NaN, signAccuracy: l.metrics['cost/sign_accuracy'] ?? NaN });
        }
        bar.update(l.step + 1, `loss ${l.loss.toFixed(3)}`);
      },
    });
    bar.done();
    const metrics = {
      'reward/heldout_accuracy': await rewardAccuracy(rm, buildRewardPairs(validation, tokenizer).pairs, tokenizer.specials.pad),
      ...prefixed('cost/heldout_', await costAccuracy(cm, buildCostPairs(validation, tokenizer).pairs, tokenizer.specials.pad)),
      'data/reward_pairs': rewardPairs.length,
      'data/cost_pairs': costPairs.length,
    };
    const out = { reward: path.join(dir, 'reward'), cost: path.join(dir, 'cost') };
    await saveScoreModel(out.reward, rm, { stage: name });
    await saveScoreModel(out.cost, cm, { stage: name });
    rm.dispose();
    cm.dispose();
    return { ...out, metrics, rewardCurve, costCurve };
  });
}

function prefixed(prefix: string, o: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [prefix + k, v]));
}

/** Loaders for stage outputs (frozen unless asked). */
export function loadStagePolicy(file: string, trainable = false): GPT {
  return loadGPT(file, { trainable }).model;
}
export function loadStageScoreModel(file: string): ScoreModel {
  return loadScoreModel(file, { trainable: false }).model;
}
export { stageDir };
export type { RewardPair, CostPair };
