/**
 * The whole road on the gold world, as resumable stages under runs/<run>/:
 * data -> SFT -> reward & cost models -> (methods) -> evaluation -> summary.json + report.html.
 */
import fs from 'node:fs';
import path from 'node:path';
import { selectBackend, type BackendRequest } from '../backend/select.js';
import { writeJsonAtomic } from '../util/atomic.js';
import { runPreset, type RunPresetName } from './presets.js';
import { createRunContext, type RunContext } from './stage.js';
import { dataStage, scoreModelStage, sftStage } from './stages.js';
import { evaluateStage, type MethodCheckpoint } from './evaluate-stage.js';
import { redTeamStage, rlStage } from './rl-stages.js';
import { methodSeconds, PREFERENCE_METHOD_LABELS, PREFERENCE_METHODS, preferenceMethodStages } from '../align/stages.js';

export interface PipelineOptions {
  preset: RunPresetName;
  run: string;
  dir: string;
  seed: number;
  backend?: BackendRequest;
  fresh?: boolean;
  log?: (message: string) => void;
}

export interface PipelineResult {
  ctx: RunContext;
  outputs: Record<string, unknown>;
}

export async function runPipeline(o: PipelineOptions): Promise<PipelineResult> {
  const backend = await selectBackend({ backend: o.backend });
  const runDir = path.join(o.dir, o.run);
  if (o.fresh) fs.rmSync(runDir, { recursive: true, force: true });
  const ctx = createRunContext(runDir, o.seed, o.log);
  const preset = runPreset(o.preset);
  writeJsonAtomic(path.join(runDir, 'run.json'), { preset: o.preset, seed: o.seed, backend: backend.name, backendDetail: backend.detail, preset_settings: preset });
  const data = await dataStage(ctx, preset);
  const sft = await sftStage(ctx, preset, data);
  const round1 = await scoreModelStage(ctx, 'reward-cost-r1', preset, data, sft.policy, [data.preferences]);
  const methods: MethodCheckpoint[] = [{ name: 'sft', policy: sft.policy, meta: { family: 'sft', label: 'SFT (Alpaca-like)' } }];
  const r1Models = { reward: round1.reward, cost: round1.cost };

  // Plain PPO on the reward model, and reward shaping r - nu c at fixed nu.
  const ppo = await rlStage(ctx, 'ppo', preset, data, { algorithm: 'ppo', from: sft.policy, ...r1Models });
  methods.push({ name: 'ppo', policy: ppo.policy, meta: { family: 'ppo', label: 'PPO (reward only)' }, trainSeconds: ppo.seconds });
  for (const nu of preset.rl.shapingNus) {
    const shaped = await rlStage(ctx, `shaping-nu${nu}`, preset, data, { algorithm: 'reward_shaping', from: sft.policy, ...r1Models, settings: { shapingCoeff: nu } });
    methods.push({ name: `shaping-nu${nu}`, policy: shaped.policy, meta: { family: 'reward-shaping', nu, label: `shaping ν=${nu}` }, trainSeconds: shaped.seconds });
  }

  // Safe RLHF: three rounds of PPO-Lagrangian; rounds 2 and 3 red-team the latest policy first.
  let policy = sft.policy;
  let models = r1Models;
  const preferenceFiles = [data.preferences];
  let safeSeconds = 0;
  for (let round = 1; round <= preset.rl.rounds.length; round++) {
    const r = preset.rl.rounds[round - 1]!;
    let extraPrompts: string[] = [];
    if (round > 1) {
      const found = await redTeamStage(ctx, `redteam-r${round}`, preset, data, policy);
      preferenceFiles.push(found.preferences);
      models = await scoreModelStage(ctx, `reward-cost-r${round}`, preset, data, sft.policy, preferenceFiles);
      extraPrompts = found.prompts;
    }
    const out = await rlStage(ctx, `safe-rlhf-r${round}`, preset, data, {
      algorithm: 'ppo_lagrangian',
      from: policy,
      reward: models.reward,
      cost: models.cost,
      extraPrompts,
      extraWeight: 3,
      settings: { threshold: r.threshold, lambdaInit: r.lambdaInit, lambdaLr: r.lambdaLr },
    });
    safeSeconds += out.seconds;
    policy = out.policy;
    methods.push({ name: `safe-rlhf-r${round}`, policy, meta: { family: 'safe-rlhf', round, label: `Safe RLHF round ${round}` }, trainSeconds: safeSeconds });
  }
  // The one-shot alternatives from the SFT policy on the round-1 data: DPO, IPO, BFPO, C-DPO, MoCAN, PeCAN.
  const pairwiseInputs = { tokenizer: data.tokenizer, preferences: data.preferences, sftPolicy: sft.policy, reward: round1.reward, cost: round1.cost };
  const results = await preferenceMethodStages(ctx, o.preset, pairwiseInputs);
  for (const method of PREFERENCE_METHODS) {
    const family = method === 'mocan' || method === 'pecan' ? 'dualized' : 'dpo';
    // training seconds include what the method reused (PeCAN's π_r = the DPO run; shared scores and samples)
    methods.push({ name: method, policy: results[method]!.policy, meta: { family, label: PREFERENCE_METHOD_LABELS[method] }, trainSeconds: methodSeconds(ctx, results, method) });
  }

  const evaluation = await evaluateStage(
    ctx,
    preset,
    { run: o.run, preset: o.preset, backend: backend.name },
    data.tokenizer,
    methods,
    { reward: models.reward, cost: models.cost },
  );
  return { ctx, outputs: { data, sft, round1, evaluation } };
}
