/**
 * Saving and loading the project's models as checkpoints (safetensors + config.json, see
 * checkpoint.ts). The stored config goes back through `gptConfig`, so a checkpoint with an unknown
 * or invalid field is refused with the field named; the weights are checked against the shapes
 * that config implies, every missing, unexpected or mis-shaped tensor named.
 */
import { gptConfig, type GPTConfig } from '../model/config.js';
import { createGPT, gptParameterShapes, type GPT } from '../model/gpt.js';
import { createScoreModel, SCORE_HEAD_SHAPES, type ScoreModel } from '../model/score-model.js';
import { createRng } from '../util/rng.js';
import { CheckpointError, loadCheckpoint, saveCheckpoint, type LoadedCheckpoint } from './checkpoint.js';

export const GPT_KIND = 'gpt';
export const SCORE_MODEL_KIND = 'score-model';

/** Saves a GPT (see `saveCheckpoint`: asynchronous, the weights are read with `await data()`). */
export async function saveGPT(dir: string, model: GPT, metadata: Record<string, unknown> = {}): Promise<void> {
  await saveCheckpoint(dir, { kind: GPT_KIND, config: model.config, tensors: model.params, metadata });
}

/** Saves a score model (see `saveCheckpoint`: asynchronous, the weights are read with `await data()`). */
export async function saveScoreModel(dir: string, model: ScoreModel, metadata: Record<string, unknown> = {}): Promise<void> {
  await saveCheckpoint(dir, { kind: SCORE_MODEL_KIND, config: model.config, tensors: model.params, metadata });
}

function loadWithConfig(dir: string, kind: string, shapesOf: (c: GPTConfig) => Record<string, number[]>): { config: GPTConfig; loaded: LoadedCheckpoint } {
  const header = loadCheckpoint(dir, { kind });
  let config: GPTConfig;
  try {
    config = gptConfig(undefined, header.config as Partial<GPTConfig>);
  } catch (e) {
    throw new CheckpointError(dir, `config.json does not describe a model: ${(e as Error).message}`);
  }
  // second pass with the shapes the config implies (names every missing/extra/mis-shaped tensor)
  const loaded = loadCheckpoint(dir, { kind, shapes: shapesOf(config) });
  return { config, loaded };
}

/** Loads a GPT saved by saveGPT. `trainable: false` for frozen reference policies. */
export function loadGPT(dir: string, options: { trainable?: boolean } = {}): { model: GPT; metadata: Record<string, unknown> } {
  const { config, loaded } = loadWithConfig(dir, GPT_KIND, gptParameterShapes);
  return { model: createGPT(config, { weights: loaded.tensors }, options), metadata: loaded.metadata };
}

/** Loads a score model saved by saveScoreModel. */
export function loadScoreModel(dir: string, options: { trainable?: boolean } = {}): { model: ScoreModel; metadata: Record<string, unknown> } {
  const { config, loaded } = loadWithConfig(dir, SCORE_MODEL_KIND, (c) => ({ ...gptParameterShapes(c), ...SCORE_HEAD_SHAPES(c) }));
  return { model: createScoreModel(config, { rng: createRng(0), weights: loaded.tensors }, options), metadata: loaded.metadata };
}
