/**
 * A decoder-only transformer on the tfjs core API, nanoGPT-sized (Radford et al. 2019, GPT-2;
 * Karpathy's nanoGPT model.py): token and position embeddings, pre-LayerNorm blocks with causal
 * multi-head attention and a GELU MLP, a final LayerNorm and an output head tied to the token
 * embedding.
 *
 * Sequences may be padded. `attentionMask` [B, T] marks real tokens (1) and pads (0); positions
 * count real tokens only, so a left-padded prompt and the same prompt unpadded give the same
 * numbers, and the KV-cached decoder (`decode`) and the full forward agree exactly.
 */
import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../util/rng.js';
import type { GPTConfig } from './config.js';
import {
  fusedAttention,
  fusedAttentionSoftmax,
  fusedEmbed,
  fusedSplitHeads,
  fusedTokenLogProbs,
  noGradientRecording,
  webgpuFusedAvailable,
} from '../backend/webgpu-kernels/index.js';
import { addLayerNorm, gelu, layerNorm, linear, matmul, matmulTransposeB, takeLast } from './ops.js';

/** Weights as plain arrays, e.g. from a checkpoint (safetensors TensorData fits). */
export interface WeightData {
  shape: readonly number[];
  data: Float32Array | Int32Array | ArrayLike<number>;
}

/**
 * How to fill the weights: fresh from a seeded RNG, from saved data, or copied on the device from
 * another model's tensors (no read-back; e.g. a frozen reference policy). Missing names are an error.
 */
export type GPTInit = { rng: Rng } | { weights: Record<string, WeightData> } | { copyOf: Record<string, tf.Tensor> };

/** Per-layer attention keys and values of the tokens seen so far: [B, H, Tk, hs] each. */
export interface KVCache {
  keys: tf.Tensor4D[];
  values: tf.Tensor4D[];
  /** Tk. */
  length: number;
}

export interface DecodeOutput {
  /** Logits at the last input position, [B, V]. Caller disposes. */
  logits: tf.Tensor2D;
  /** Keys and values including this call's tokens. Caller disposes (see disposeCache). */
  cache: KVCache;
}

export interface GPT {
  readonly config: GPTConfig;
  /** Every weight by its GPT-2 name ('wte', 'h.0.attn.c_attn.weight', ...). Owned by the model. */
  readonly params: Record<string, tf.Variable>;
  /** Final hidden states after ln_f: tokens [B, T] int32 -> [B, T, D]. Caller disposes. */
  hidden(tokens: tf.Tensor2D, attentionMask?: tf.Tensor2D): tf.Tensor3D;
  /** Next-token logits: tokens [B, T] -> [B, T, V]. Caller disposes. */
  logits(tokens: tf.Tensor2D, attentionMask?: tf.Tensor2D): tf.Tensor3D;
  /**
   * Per-token log-probabilities of the given tokens: out[b, t] = log p(tokens[b, t] | tokens[b, <t])
   * times mask[b, t]; out[b, 0] = 0. tokens [B, T] int32, mask [B, T] float -> [B, T]. Caller disposes.
   */
  sequenceLogProbs(tokens: tf.Tensor2D, mask: tf.Tensor2D, attentionMask?: tf.Tensor2D): tf.Tensor2D;
  /**
   * One decoding call: runs `tokens` [B, Tq] at `positions` [B, Tq] after the cached keys, with
   * `keyMask` [B, cache.length + Tq] marking real tokens. Used by `generate`.
   */
  decode(tokens: Int32Array, positions: Int32Array, keyMask: Float32Array, batch: number, cache: KVCache | null): DecodeOutput;
  /** Frees every weight. */
  dispose(): void;
}

/** The name and shape of every weight a config implies, in a fixed order. */
export function gptParameterShapes(c: GPTConfig): Record<string, number[]> {
  const d = c.nEmbd;
  const h = Math.round(c.mlpRatio * d);
  const shapes: Record<string, number[]> = { wte: [c.vocabSize, d], wpe: [c.blockSize, d] };
  for (let i = 0; i < c.nLayer; i++) {
    const p = `h.${i}.`;
    shapes[p + 'ln_1.weight'] = [d];
    shapes[p + 'ln_1.bias'] = [d];
    shapes[p + 'attn.c_attn.weight'] = [d, 3 * d];
    shapes[p + 'attn.c_attn.bias'] = [3 * d];
    shapes[p + 'attn.c_proj.weight'] = [d, d];
    shapes[p + 'attn.c_proj.bias'] = [d];
    shapes[p + 'ln_2.weight'] = [d];
    shapes[p + 'ln_2.bias'] = [d];
    shapes[p + 'mlp.c_fc.weight'] = [d, h];
    shapes[p + 'mlp.c_fc.bias'] = [h];
    shapes[p + 'mlp.c_proj.weight'] = [h, d];
    shapes[p + 'mlp.c_proj.bias'] = [d];
  }
  shapes['ln_f.weight'] = [d];
  shapes['ln_f.bias'] = [d];
  return shapes;
}

/** GPT-2 initialisation: N(0, std) weights, residual projections N(0, std/sqrt(2L)), zero biases, unit LN gains. */
function initialValue(name: string, shape: number[], c: GPTConfig, rng: Rng): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  if (name.endsWith('ln_1.weight') || name.endsWith('ln_2.weight') || name === 'ln_f.weight') {
    return new Float32Array(n).fill(1);
  }
  if (name.endsWith('.bias')) return new Float32Array(n);
  const std = name.endsWith('c_proj.weight') ? c.initStd / Math.sqrt(2 * c.nLayer) : c.initStd;
  return rng.fork(name).normals(n, std);
}

/** Creates `tf.Variable`s for `shapes` from an init spec; shared by the GPT and score heads. */
export function makeVariables(
  owner: string,
  shapes: Record<string, number[]>,
  init: GPTInit,
  initFn: (name: string, shape: number[], rng: Rng) => Float32Array,
  trainable = true,
): Record<string, tf.Variable> {
  const params: Record<string, tf.Variable> = {};
  for (const [name, shape] of Object.entries(shapes)) {
    const check = (got: readonly number[]): void => {
      if (got.length !== shape.length || got.some((s, i) => s !== shape[i])) {
        throw new Error(`${owner}: weight '${name}' has shape [${got}], expected [${shape}]`);
      }
    };
    if ('copyOf' in init) {
      const src = init.copyOf[name];
      if (!src) throw new Error(`${owner}: source model has no '${name}' (expected shape [${shape}])`);
      check(src.shape);
      params[name] = tf.tidy(() => tf.variable(src.clone(), trainable));
      continue;
    }
    let values: Float32Array;
    if ('weights' in init) {
      const w = init.weights[name];
      if (!w) throw new Error(`${owner}: weights are missing '${name}' (expected shape [${shape}])`);
      check(w.shape);
      values = Float32Array.from(w.data as ArrayLike<number>);
    } else {
      values = initFn(name, shape, init.rng);
    }
    params[name] = tf.tidy(() => tf.variable(tf.tensor(values, shape, 'float32'), trainable));
  }
  return params;
}

/** [1, 1, Tq, Tk] or [B, 1, Tq, Tk] additive mask: 0 where query i may attend key j, -1e9 elsewhere. */
function attentionBias(batch: number, tq: number, tk: number, keyMask: Float32Array | null): tf.Tensor4D {
  const offset = tk - tq; // absolute index of the first query
  const rows = keyMask ? batch : 1;
  const bias = new Float32Array(rows * tq * tk);
  for (let b = 0; b < rows; b++) {
    for (let i = 0; i < tq; i++) {
      const qAbs = offset + i;
      const base = (b * tq + i) * tk;
      for (let j = 0; j < tk; j++) {
        // causal, and only real keys (a pad query may see itself, so no row is empty)
        const ok = j <= qAbs && (keyMask === null || keyMask[b * tk + j] === 1 || j === qAbs);
        bias[base + j] = ok ? 0 : -1e9;
      }
    }
  }
  return tf.tensor4d(bias, [rows, 1, tq, tk]);
}

export function createGPT(config: GPTConfig, init: GPTInit, options: { trainable?: boolean } = {}): GPT {
  const c = config;
  const d = c.nEmbd;
  const nh = c.nHead;
  const hs = d / nh;
  const params = makeVariables('GPT', gptParameterShapes(c), init, (n, s, r) => initialValue(n, s, c, r), options.trainable ?? true);
  const P = (name: string): tf.Variable => params[name]!;

  /** [B, Tq, D] -> [B, H, Tq, hs] */
  const splitHeads = (x: tf.Tensor, b: number, t: number): tf.Tensor4D =>
    tf.transpose(x.reshape([b, t, nh, hs]), [0, 2, 1, 3]) as tf.Tensor4D;

  /** Token plus position embeddings [B, T, D] (positions 0..T-1 when null); one dispatch each way on webgpu. */
  function embed(tokens: tf.Tensor2D, positions: tf.Tensor2D | null): tf.Tensor {
    if (webgpuFusedAvailable()) return fusedEmbed(P('wte'), P('wpe'), tokens, positions);
    const t = tokens.shape[1];
    const tok = tf.gather(P('wte'), tokens); // [B, T, D]
    const pos = positions === null ? tf.slice(P('wpe'), [0, 0], [t, d]) : tf.gather(P('wpe'), positions); // [T, D] | [B, T, D]
    return tf.add(tok, pos);
  }

  /**
   * q [B, H, T, hs] and k, v [B, H, Tk, hs] from the fused projection qkv [B, T, 3D], the cached
   * keys and values (if any) first. One dispatch on webgpu (webgpu-kernels/heads.ts); elsewhere a
   * split, three transposes and two concats.
   */
  function headsOf(qkv: tf.Tensor, b: number, t: number, cached: { keys: tf.Tensor4D; values: tf.Tensor4D } | null): [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D] {
    if (webgpuFusedAvailable()) return fusedSplitHeads(qkv, nh, cached);
    const [q, k, v] = tf.split(qkv, 3, -1) as [tf.Tensor, tf.Tensor, tf.Tensor]; // [B, T, D] each
    const qh = splitHeads(q, b, t);
    let kh = splitHeads(k, b, t);
    let vh = splitHeads(v, b, t);
    if (cached) {
      kh = tf.concat([cached.keys, kh], 2); // [B, H, Tk, hs]
      vh = tf.concat([cached.values, vh], 2);
    }
    return [qh, kh, vh];
  }

  /**
   * softmax(q k^T scale + bias) v with the heads merged: [B, T, D]. On webgpu one dispatch when no
   * gradient is recorded (decoding, reference and scoring passes), else a fused softmax between
   * two matmuls; elsewhere the plain ops.
   */
  function attend(qh: tf.Tensor4D, kh: tf.Tensor4D, vh: tf.Tensor4D, bias: tf.Tensor4D, scale: number, b: number, t: number): tf.Tensor {
    const fused = webgpuFusedAvailable();
    if (fused && noGradientRecording()) return fusedAttention(qh, kh, vh, bias, scale);
    const scores = matmulTransposeB(qh, kh) as tf.Tensor4D; // [B, H, T, Tk]
    const att = fused ? fusedAttentionSoftmax(scores, bias, scale) : tf.softmax(tf.add(tf.mul(scores, scale), bias));
    return tf.transpose(matmul(att, vh), [0, 2, 1, 3]).reshape([b, t, d]);
  }

  /**
   * The trunk: embeddings, blocks, ln_f. tokens [B, Tq] at positions [B, Tq]; attends to cached
   * keys plus its own. Returns hidden [B, Tq, D] and the keys/values of every layer.
   */
  function trunk(
    tokens: tf.Tensor2D,
    positions: tf.Tensor2D | null,
    bias: tf.Tensor4D,
    past: KVCache | null,
  ): { hidden: tf.Tensor3D; keys: tf.Tensor4D[]; values: tf.Tensor4D[] } {
    const [b, t] = tokens.shape;
    let x: tf.Tensor = embed(tokens, positions); // residual stream [B, T, D]
    const keys: tf.Tensor4D[] = [];
    const values: tf.Tensor4D[] = [];
    const scale = 1 / Math.sqrt(hs);
    const eps = c.layerNormEps;
    const ln = (name: string): [tf.Tensor, tf.Tensor] => [P(name + '.weight'), P(name + '.bias')];
    // Each sublayer's output joins the residual stream together with the next LayerNorm:
    // x <- x + out, h <- ln(x) (addLayerNorm: one dispatch each way on webgpu).
    let h = layerNorm(x, ...ln('h.0.ln_1'), eps);
    for (let i = 0; i < c.nLayer; i++) {
      const p = `h.${i}.`;
      // --- causal self-attention ---
      const qkv = linear(h, P(p + 'attn.c_attn.weight'), P(p + 'attn.c_attn.bias')); // [B, T, 3D]
      const [qh, kh, vh] = headsOf(qkv, b, t, past ? { keys: past.keys[i]!, values: past.values[i]! } : null); // [B, H, T|Tk, hs]
      keys.push(kh);
      values.push(vh);
      const y = attend(qh, kh, vh, bias, scale, b, t); // [B, T, D]
      [x, h] = addLayerNorm(x, linear(y, P(p + 'attn.c_proj.weight'), P(p + 'attn.c_proj.bias')), ...ln(p + 'ln_2'), eps);
      // --- MLP ---
      const m = gelu(linear(h, P(p + 'mlp.c_fc.weight'), P(p + 'mlp.c_fc.bias')));
      const next = i + 1 < c.nLayer ? `h.${i + 1}.ln_1` : 'ln_f';
      [x, h] = addLayerNorm(x, linear(m, P(p + 'mlp.c_proj.weight'), P(p + 'mlp.c_proj.bias')), ...ln(next), eps);
    }
    const hidden = h as tf.Tensor3D; // after ln_f
    return { hidden, keys, values };
  }

  /** Tied output head: hidden [..., D] -> logits [..., V]. */
  const head = (h: tf.Tensor): tf.Tensor => {
    const lead = h.shape.slice(0, -1);
    return matmulTransposeB(h.reshape([-1, d]), P('wte')).reshape([...lead, c.vocabSize]);
  };

  function checkTokens(tokens: tf.Tensor2D, what: string): void {
    if (tokens.rank !== 2) throw new Error(`GPT.${what}: tokens must be [B, T], got shape [${tokens.shape}]`);
    if (tokens.shape[1] > c.blockSize) {
      throw new Error(`GPT.${what}: sequence length ${tokens.shape[1]} exceeds blockSize ${c.blockSize}`);
    }
    if (tokens.dtype !== 'int32') throw new Error(`GPT.${what}: tokens must be int32, got ${tokens.dtype}`);
  }

  function hidden(tokens: tf.Tensor2D, attentionMask?: tf.Tensor2D): tf.Tensor3D {
    checkTokens(tokens, 'hidden');
    const [b, t] = tokens.shape;
    return tf.tidy(() => {
      if (!attentionMask) return trunk(tokens, null, attentionBias(b, t, t, null), null).hidden;
      // On the device (no synchronous read: webgpu in Node has none).
      const mask = tf.cast(attentionMask, 'float32');
      const positions = tf.cast(tf.cumsum(mask, 1, true), 'int32') as tf.Tensor2D; // real tokens before each: [B, T]
      const causal = attentionBias(1, t, t, null); // [1, 1, T, T]: 0 allowed, -1e9 not
      const keyReal = mask.reshape([b, 1, 1, t]);
      const eye = tf.eye(t).reshape([1, 1, t, t]);
      const allowed = tf.maximum(tf.mul(tf.add(tf.div(causal, 1e9), 1), keyReal), eye); // [B, 1, T, T]
      const bias = tf.mul(tf.sub(allowed, 1), 1e9) as tf.Tensor4D;
      return trunk(tokens, positions, bias, null).hidden;
    });
  }

  function logits(tokens: tf.Tensor2D, attentionMask?: tf.Tensor2D): tf.Tensor3D {
    return tf.tidy(() => head(hidden(tokens, attentionMask)) as tf.Tensor3D);
  }

  function sequenceLogProbs(tokens: tf.Tensor2D, mask: tf.Tensor2D, attentionMask?: tf.Tensor2D): tf.Tensor2D {
    const [b, t] = tokens.shape;
    return tf.tidy(() => {
      if (webgpuFusedAvailable()) {
        // one dispatch each way (webgpu-kernels/logprobs.ts): the same numbers as below
        return fusedTokenLogProbs(logits(tokens, attentionMask), tokens, tf.cast(mask, 'float32') as tf.Tensor2D);
      }
      const lg = logits(tokens, attentionMask).slice([0, 0, 0], [b, t - 1, c.vocabSize]); // [B, T-1, V]
      const targets = tokens.slice([0, 1], [b, t - 1]) as tf.Tensor2D; // [B, T-1]
      const lp = takeLast(tf.logSoftmax(lg) as tf.Tensor3D, targets); // [B, T-1]
      const shifted = tf.concat([tf.zeros([b, 1]), lp], 1); // [B, T]
      return tf.mul(shifted, tf.cast(mask, 'float32')) as tf.Tensor2D;
    });
  }

  function decode(
    tokens: Int32Array,
    positions: Int32Array,
    keyMask: Float32Array,
    batch: number,
    cache: KVCache | null,
  ): DecodeOutput {
    const tq = tokens.length / batch;
    const tk = (cache?.length ?? 0) + tq;
    if (tk > c.blockSize) throw new Error(`GPT.decode: ${tk} tokens exceed blockSize ${c.blockSize}`);
    const out = tf.tidy(() => {
      const tok = tf.tensor2d(tokens, [batch, tq], 'int32');
      const pos = tf.tensor2d(positions, [batch, tq], 'int32');
      const { hidden: h, keys, values } = trunk(tok, pos, attentionBias(batch, tq, tk, keyMask), cache);
      const last = h.slice([0, tq - 1, 0], [batch, 1, d]).reshape([batch, d]);
      return { logits: head(last) as tf.Tensor2D, keys, values };
    });
    return { logits: out.logits, cache: { keys: out.keys, values: out.values, length: tk } };
  }

  return {
    config: c,
    params,
    hidden,
    logits,
    sequenceLogProbs,
    decode,
    dispose: () => Object.values(params).forEach((v) => v.dispose()),
  };
}

/** Frees a KV cache. */
export function disposeCache(cache: KVCache | null): void {
  if (!cache) return;
  tf.dispose([...cache.keys, ...cache.values]);
}

/**
 * Reads every weight of a model into plain arrays (for checkpoints and copies), with
 * `await data()` so it works on webgpu in Node (no synchronous reads there). Every read starts
 * before the first await: the values are those the weights hold when this is called.
 */
export async function exportWeights(params: Record<string, tf.Variable>): Promise<Record<string, WeightData>> {
  const entries = Object.entries(params);
  const values = await Promise.all(entries.map(([, v]) => v.data() as Promise<Float32Array>));
  const out: Record<string, WeightData> = {};
  entries.forEach(([name, v], i) => (out[name] = { shape: v.shape, data: Float32Array.from(values[i]!) }));
  return out;
}
