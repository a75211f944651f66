/**
 * BFPO as a runnable method (Zhang, Torr, Elhoseiny, Bibi, "Bi-Factorial Preference Optimization",
 * ICLR 2025; wx-zhang/bfpo; shared/design/dualized-and-dpo.md section 3) on the one pairwise trainer:
 * pairs with y_w = the more helpful response and the target t/τ of its label cell (`bfpoPairs`,
 * src/align/bfpo.ts), the squared loss (h − t/τ)², and each step a replay batch of helpfulness-only
 * pairs marked safe/safe (target ½, i.e. IPO) added with weight 1 (the code's UltraFeedback buffer).
 * `beta` is τ; default 0.2 (±5 / ±2.5-nat targets) instead of the 7B recipe's 0.01 (±100 nats).
 */
import type { PreferenceRow } from '../data/schema.js';
import { nonNegative, positiveInt, resolveConfig, type FieldCheck } from '../util/config.js';
import { BFPO_CELLS, bfpoTarget, type BfpoCell } from './bfpo.js';
import {
  copyPolicy,
  DEFAULT_PREFERENCE_TRAINING,
  evaluateTraining,
  lastMetrics,
  pairMetrics,
  PREFERENCE_TRAINING_CHECKS,
  Stopwatch,
  trainStage,
  type AlignmentData,
  type MethodCallbacks,
  type MethodResult,
  type PreferenceTrainingConfig,
  type StageStepLog,
} from './methods.js';
import { bfpoPairs, replayPairs } from './pairwise.js';

const FILE = 'src/align/bfpo-method.ts';
export interface BfpoRunConfig extends PreferenceTrainingConfig {
  /** BFPO's b1 (code 3) and α (code ½): targets +1, +½, −½, −1 (src/align/bfpo.ts). */
  b1: number;
  alpha: number;
  /** Weight of the replay loss (code: 1); 0 turns the buffer off. */
  replayWeight: number;
  /** Replay pairs per step (code: one buffer batch per step, the same size). */
  replayBatchSize: number;
}

/** τ = 0.2 (±5 / ±2.5-nat targets) instead of the 7B recipe's 0.01 (±100 nats); see the module comment. */
export const DEFAULT_BFPO_RUN: Readonly<BfpoRunConfig> = Object.freeze({
  ...DEFAULT_PREFERENCE_TRAINING,
  beta: 0.2,
  b1: 3,
  alpha: 0.5,
  replayWeight: 1,
  replayBatchSize: 8,
});

export function bfpoRunConfig(overrides?: Partial<BfpoRunConfig>): BfpoRunConfig {
  return resolveConfig('BfpoRunConfig', DEFAULT_BFPO_RUN, overrides, {
    ...PREFERENCE_TRAINING_CHECKS,
    b1: (v: number) => (Number.isFinite(v) && v > 1 ? undefined : 'must be a finite number > 1'),
    alpha: (v: number) => (Number.isFinite(v) ? undefined : 'must be finite'),
    replayWeight: nonNegative,
    replayBatchSize: positiveInt,
  } as FieldCheck<BfpoRunConfig>);
}

export interface BfpoCellReport {
  /** t in units of 1/τ; the trained margin h should approach t/τ. */
  target: number;
  pairs: number;
  /** Fraction of the cell's pairs whose h has the target's sign. */
  accuracy: number;
  meanMargin: number;
}

export interface BfpoExtras {
  pairs: number;
  replayPairs: number;
  /** Per label cell (safe/unsafe, safe/safe, unsafe/unsafe, unsafe/safe). */
  cells: Record<BfpoCell, BfpoCellReport>;
  evaluation: { accuracy: number; meanMargin: number } | null;
}

/** The default replay rows: benign prompts whose two responses are both labelled safe. */
export function defaultReplayRows(rows: readonly PreferenceRow[]): PreferenceRow[] {
  return rows.filter((r) => r.prompt_kind === 'benign' && r.is_response_0_safe && r.is_response_1_safe);
}

/** BFPO with its replay buffer (see the module comment); `beta` is τ. */
export async function runBFPO(data: AlignmentData, config: Partial<BfpoRunConfig> = {}, callbacks: MethodCallbacks = {}): Promise<MethodResult<BfpoExtras>> {
  const c = bfpoRunConfig(config);
  const clock = new Stopwatch();
  const bfpo = { b1: c.b1, alpha: c.alpha };
  const pairs = bfpoPairs(data.rows, data.tokenizer, bfpo);
  if (pairs.length === 0) throw new Error(`${FILE} runBFPO: no pairs in data.rows`);
  const replay = c.replayWeight > 0 ? replayPairs(data.replayRows ?? defaultReplayRows(data.rows), data.tokenizer, bfpo) : [];
  const policy = copyPolicy(data.reference);
  const history: StageStepLog[] = [];
  const metrics: Record<string, number> = { 'pref/pairs': pairs.length, 'bfpo/replay_pairs': replay.length };
  const cells = {} as Record<BfpoCell, BfpoCellReport>;
  let evaluation: BfpoExtras['evaluation'] = null;
  try {
    await clock.time('train', () =>
      trainStage('bfpo', policy, data, pairs, 'bfpo', c, history, callbacks, replay.length ? { replay: { pairs: replay, weight: c.replayWeight, batchSize: c.replayBatchSize } } : {}),
    );
    const e = await clock.time('eval', () => evaluateTraining(policy, data, pairs, 'bfpo', c));
    for (const cell of BFPO_CELLS) {
      const [w, l] = cell.split('/');
      const n = pairs.filter((p) => p.cell === cell).length;
      const byCell = e?.byCell?.[cell];
      cells[cell] = { target: bfpoTarget(w === 'safe', l === 'safe', bfpo), pairs: n, accuracy: byCell?.accuracy ?? NaN, meanMargin: byCell?.meanMargin ?? NaN };
      metrics[`bfpo/accuracy/${cell}`] = cells[cell].accuracy;
      metrics[`bfpo/margin/${cell}`] = cells[cell].meanMargin;
      metrics[`bfpo/pairs/${cell}`] = n;
    }
    evaluation = pairMetrics('pref', e, metrics);
  } catch (err) {
    policy.dispose();
    throw err;
  }
  lastMetrics(history, metrics);
  return { method: 'bfpo', config: { ...c }, policy, history, metrics, timings: clock.finish(), extras: { pairs: pairs.length, replayPairs: replay.length, cells, evaluation } };
}
