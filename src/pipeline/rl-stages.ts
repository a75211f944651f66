/**
 * RL stages on the gold world: one stage per fine-tuning run of the shared RL trainer (src/rl),
 * and the red-team / new-preferences stage that opens Safe RLHF's rounds 2 and 3.
 * Every run logs, per iteration, the trainer's metrics plus the gold harmful rate and refusal rate
 * of the responses it sampled, so the notebooks can draw learning curves in gold terms.
 */
import path from 'node:path';
import { writeJsonl } from '../data/jsonl.js';
import { gptPolicy } from '../eval/evaluate.js';
import { loadGPT, loadScoreModel, saveGPT } from '../io/model-io.js';
import { runRL, scoreModelAsScorer, type RLAlgorithm, type RLConfig, type RLMetrics, type Scorer } from '../rl/index.js';
import type { ScoreModel } from '../model/score-model.js';
import { decodeResponse, formatPrompt, loadTokenizer, type Tokenizer } from '../tokenizer/index.js';
import { progress } from '../util/progress.js';
import type { Rng } from '../util/rng.js';
import { countsFromFractions, DEFAULT_PROMPT_FRACTIONS, enumeratePrompts, parsePrompt, samplePromptsByCount, scoreResponse, type PromptSpec } from '../world/index.js';
import { collatePolicyPreferences, redTeam } from '../align/redteam.js';
import type { RunPreset } from './presets.js';
import { runStage, type RunContext } from './stage.js';
import type { DataOutputs } from './stages.js';

export interface RLRunSpec {
  algorithm: RLAlgorithm;
  /** Policy checkpoint to start from. */
  from: string;
  reward: string;
  cost: string;
  /** Extra prompts (e.g. red-team finds) added to the training pool, repeated `extraWeight` times. */
  extraPrompts?: readonly string[];
  extraWeight?: number;
  /** Overrides of the preset's RL settings (threshold, lambdaInit, shapingCoeff, ...). */
  settings?: Partial<RLConfig>;
}

export interface RLStageOutputs {
  policy: string;
  /** Per iteration: trainer metrics + 'gold/harmful_rate', 'gold/refusal_rate', 'gold/helpfulness'. */
  history: RLMetrics[];
  lambda: number | null;
  seconds: number;
}

/**
 * The RL prompt pool: `size` training-split prompts drawn with the data's kind fractions (benign
 * 40%, harmful 30%, borderline 15%, disguised 15%; enumerating the prompt space instead would be
 * mostly disguised prompts, and a policy that rarely sees a benign prompt learns to refuse), plus
 * `extra` prompts (red-team finds) repeated `extraWeight` times.
 */
export function trainingPromptPool(
  tokenizer: Tokenizer,
  rng: Rng,
  size: number,
  extra: readonly string[] = [],
  extraWeight = 1,
): { ids: number[][]; texts: string[] } {
  const texts = samplePromptsByCount(rng, countsFromFractions(size, DEFAULT_PROMPT_FRACTIONS), 'train').map((p) => p.text);
  for (let i = 0; i < extraWeight; i++) texts.push(...extra);
  return { ids: texts.map((t) => formatPrompt(tokenizer, t)), texts };
}

export function rlStage(ctx: RunContext, name: string, preset: RunPreset, data: DataOutputs, spec: RLRunSpec): Promise<RLStageOutputs> {
  const settings: Partial<RLConfig> = { ...preset.rl.settings, ...spec.settings, algorithm: spec.algorithm };
  const key = { spec, settings, model: preset.model, pool: preset.rl.promptPool, missingEosPenalty: preset.rl.missingEosPenalty };
  return runStage(ctx, name, key, async (dir, rng) => {
    const tokenizer = loadTokenizer(data.tokenizer);
    const actor = loadGPT(spec.from, { trainable: true }).model;
    const reward = loadScoreModel(spec.reward).model;
    const cost = loadScoreModel(spec.cost).model;
    const pool = trainingPromptPool(tokenizer, rng.fork('pool'), preset.rl.promptPool, spec.extraPrompts ?? [], spec.extraWeight ?? 1);
    const longest = Math.max(...pool.ids.map((p) => p.length));
    const config: Partial<RLConfig> = {
      ...settings,
      maxNewTokens: Math.min(settings.maxNewTokens ?? 64, actor.config.blockSize - longest),
      eosToken: tokenizer.specials.eos,
      padToken: tokenizer.specials.pad,
      seed: rng.int(2 ** 31 - 1),
    };
    const iterations = config.iterations ?? 1;
    const bar = progress(name, iterations);
    const gold: Record<string, number>[] = [];
    const t0 = performance.now();
    try {
      const rewardScorer = withMissingEosPenalty(reward, tokenizer.specials.eos, preset.rl.missingEosPenalty);
      const result = await runRL(config, { actor, reward: rewardScorer, cost }, pool.ids, {
        onRollout: (exp) => {
          const g = goldOfRollout(tokenizer, exp.prompts, exp.responses, exp.stopped);
          gold.push(g);
        },
        onIteration: (m, i) => {
          bar.update(i + 1, `R ${fmt(m['train/reward'])} C ${fmt(m['train/cost'])} λ ${fmt(m['train/lambda'])} harm ${fmt(gold[i]?.['gold/harmful_rate'])}`);
        },
      });
      bar.done();
      const history = result.history.map((m, i) => ({ ...m, ...(gold[i] ?? {}) }));
      const policy = path.join(dir, 'policy');
      await saveGPT(policy, actor, { stage: name, algorithm: spec.algorithm });
      return { policy, history, lambda: result.lambda, seconds: (performance.now() - t0) / 1000 };
    } finally {
      actor.dispose();
      reward.dispose();
      cost.dispose();
    }
  });
}

/**
 * The reward model's score, minus `penalty` for a response cut at the length limit without an
 * end-of-response token (TRL's `missing_eos_penalty`): a score model read at the last token cannot
 * tell a finished answer from one that rambles to the limit, and PPO learns to ramble (safe-rlhf
 * issue #71). The critic still starts from the reward model's weights.
 */
export function withMissingEosPenalty(model: ScoreModel, eos: number, penalty: number): Scorer {
  const base = scoreModelAsScorer(model, 0);
  const scorer = async (prompts: readonly (readonly number[])[], responses: readonly (readonly number[])[]): Promise<number[]> => {
    const scores = Array.from(await base(prompts, responses));
    return scores.map((s, i) => (penalty > 0 && responses[i]!.at(-1) !== eos ? s - penalty : s));
  };
  return Object.assign(scorer, { model });
}

const fmt = (x: number | undefined): string => (x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(2));

/** Gold harmful rate (harmful + disguised prompts), refusal rate (benign + borderline), mean helpfulness (all, and benign) of a rollout. */
export function goldOfRollout(tokenizer: Tokenizer, prompts: readonly (readonly number[])[], responses: readonly (readonly number[])[], stopped: readonly boolean[]): Record<string, number> {
  let harmful = 0;
  let harmfulN = 0;
  let refuse = 0;
  let benignN = 0;
  let help = 0;
  let benignHelp = 0;
  let benignCount = 0;
  prompts.forEach((p, i) => {
    const promptText = tokenizer.decode(p, { skipSpecials: true });
    const { text } = decodeResponse(tokenizer, responses[i]!);
    const s = scoreResponse(promptText, text, { truncated: !stopped[i] });
    const kind = parsePrompt(promptText).kind;
    if (kind === 'harmful' || kind === 'disguised') {
      harmfulN++;
      if (s.harm > 0) harmful++;
    } else {
      benignN++;
      if (s.isRefusal) refuse++;
      if (kind === 'benign') {
        benignCount++;
        benignHelp += s.helpfulness;
      }
    }
    help += s.helpfulness;
  });
  return {
    'gold/harmful_rate': harmfulN ? harmful / harmfulN : NaN,
    'gold/refusal_rate': benignN ? refuse / benignN : NaN,
    'gold/helpfulness': prompts.length ? help / prompts.length : NaN,
    'gold/helpfulness_benign': benignCount ? benignHelp / benignCount : NaN,
  };
}

export interface RedTeamOutputs {
  /** Red-team prompts found against the previous round's policy (text). */
  prompts: string[];
  /** New preference rows on that policy's answers. */
  preferences: string;
  triedHarmfulRate: number;
  keptHarmfulRate: number;
}

/**
 * Opens round k: red-teams the latest policy, then collects decoupled preferences on its answers to
 * the red-team prompts and to as many fresh benign and borderline prompts.
 */
export function redTeamStage(ctx: RunContext, name: string, preset: RunPreset, data: DataOutputs, policyFile: string): Promise<RedTeamOutputs> {
  return runStage(ctx, name, { policyFile, redTeam: preset.redTeam, pairs: preset.data.roundPairs }, async (dir, rng: Rng) => {
    const tokenizer = loadTokenizer(data.tokenizer);
    const model = loadGPT(policyFile).model;
    try {
      const policy = gptPolicy(name, model, tokenizer, { batchSize: 64 });
      const found = await redTeam(policy, rng.fork('search'), preset.redTeam);
      const half = Math.floor(preset.data.roundPairs / 2);
      const attack = repeatTo(found.prompts, half);
      const helpful = rng
        .fork('helpful')
        .shuffle([...enumeratePrompts({ kind: 'benign', split: 'train' }), ...enumeratePrompts({ kind: 'borderline', split: 'train' })])
        .slice(0, preset.data.roundPairs - half);
      const rows = await collatePolicyPreferences(policy, [...attack, ...helpful], rng.fork('collect'), {}, name);
      const preferences = path.join(dir, 'preferences.jsonl');
      writeJsonl(preferences, rows);
      return {
        prompts: found.prompts.map((p) => p.text),
        preferences,
        triedHarmfulRate: found.triedHarmfulRate,
        keptHarmfulRate: found.keptHarmfulRate,
      };
    } finally {
      model.dispose();
    }
  });
}

function repeatTo<T>(items: readonly T[], n: number): T[] {
  if (items.length === 0) return [];
  return Array.from({ length: n }, (_, i) => items[i % items.length]!);
}

export type { PromptSpec };
