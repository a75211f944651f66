/**
 * Fused kernels for tfjs's webgpu backend (issue #9: fewer dispatches per training step and per
 * sampled token): AdamW in one dispatch per variable (or per 2-4 variables where the device
 * allows), the global gradient norm in one dispatch per 6-14 gradients, GELU, LayerNorm and a
 * residual add followed by LayerNorm in one dispatch each way, attention's head split with the KV-cache append in one, attention's scaled
 * masked softmax, the token + position embedding and a sequence's token log-probabilities in one
 * each way, a bias gradient in one, and (forward-only passes) attention's core in one. See
 * docs/backends.md, "Dispatch overhead on webgpu".
 *
 * `registerWebGPUKernels()` (called by initWebGPUNode) registers them for 'webgpu';
 * `webgpuFusedAvailable()` is what callers check: the webgpu backend is active, the kernels are
 * registered and `SAFE_ALIGN_WEBGPU_FUSED` is not '0' (the switch back to plain tfjs ops).
 */
import * as tf from '@tensorflow/tfjs';
import { GELU_GRAD_KERNEL, GELU_KERNEL, LAYER_NORM_GRAD_KERNEL, LAYER_NORM_KERNEL } from '../wasm-kernels/fused.js';
import { ADAMW_KERNEL, adamwKernel } from './adamw.js';
import { geluGradWebGPU, geluWebGPU, layerNormGradWebGPU, layerNormWebGPU } from './fused.js';
import { SPLIT_HEADS_GRAD_KERNEL, SPLIT_HEADS_GRADIENT, SPLIT_HEADS_KERNEL, splitHeadsGradKernel, splitHeadsKernel } from './heads.js';
import { TOKEN_LOG_PROBS_GRAD_KERNEL, TOKEN_LOG_PROBS_KERNEL, tokenLogProbsGradKernel, tokenLogProbsKernel } from './logprobs.js';
import { SUM_SQUARES_KERNEL, sumSquaresKernel } from './norm.js';
import { COLUMN_SUM_KERNEL, columnSumKernel } from './columns.js';
import { ATTENTION_KERNEL, attentionKernel } from './attention.js';
import { ADD_LAYER_NORM_GRAD_KERNEL, ADD_LAYER_NORM_GRADIENT, ADD_LAYER_NORM_KERNEL, addLayerNormGradKernel, addLayerNormKernel } from './addnorm.js';
import { EMBED_GRAD_KERNEL, EMBED_KERNEL, embedGradKernel, embedKernel } from './embed.js';
import { ATTENTION_SOFTMAX_GRAD_KERNEL, ATTENTION_SOFTMAX_KERNEL, attentionSoftmaxGradKernel, attentionSoftmaxKernel } from './softmax.js';
import type { KernelArgs } from './program.js';

export { ADAMW_BUFFERS_PER_VARIABLE, ADAMW_KERNEL, adamwVariablesPerDispatch, fusedAdamWStep, type AdamWSlot, type AdamWStepAttrs } from './adamw.js';
export { SUM_SQUARES_KERNEL, SUM_SQUARES_MAX_PER_DISPATCH, fusedGlobalNorm, sumSquaresPerDispatch } from './norm.js';
export { SPLIT_HEADS_GRAD_KERNEL, SPLIT_HEADS_KERNEL, fusedSplitHeads } from './heads.js';
export { TOKEN_LOG_PROBS_GRAD_KERNEL, TOKEN_LOG_PROBS_KERNEL, fusedTokenLogProbs } from './logprobs.js';
export { ATTENTION_SOFTMAX_GRAD_KERNEL, ATTENTION_SOFTMAX_KERNEL, fusedAttentionSoftmax } from './softmax.js';
export { COLUMN_SUM_KERNEL, fusedColumnSum } from './columns.js';
export { EMBED_GRAD_KERNEL, EMBED_KERNEL, fusedEmbed } from './embed.js';
export { ATTENTION_KERNEL, fusedAttention, noGradientRecording } from './attention.js';
export { ADD_LAYER_NORM_GRAD_KERNEL, ADD_LAYER_NORM_KERNEL, fusedAddLayerNorm } from './addnorm.js';
export { geluGradWebGPU, geluWebGPU, layerNormGradWebGPU, layerNormWebGPU } from './fused.js';

/** Set to '0' to run the plain tfjs ops on webgpu instead of the fused kernels. */
export const WEBGPU_FUSED_ENV = 'SAFE_ALIGN_WEBGPU_FUSED';

/** The webgpu kernels by name. */
export const WEBGPU_KERNELS: Readonly<Record<string, (args: KernelArgs) => tf.TensorInfo | tf.TensorInfo[]>> = Object.freeze({
  [ADAMW_KERNEL]: adamwKernel,
  [SUM_SQUARES_KERNEL]: sumSquaresKernel,
  [GELU_KERNEL]: geluWebGPU,
  [GELU_GRAD_KERNEL]: geluGradWebGPU,
  [LAYER_NORM_KERNEL]: layerNormWebGPU,
  [LAYER_NORM_GRAD_KERNEL]: layerNormGradWebGPU,
  [SPLIT_HEADS_KERNEL]: splitHeadsKernel,
  [SPLIT_HEADS_GRAD_KERNEL]: splitHeadsGradKernel,
  [TOKEN_LOG_PROBS_KERNEL]: tokenLogProbsKernel,
  [TOKEN_LOG_PROBS_GRAD_KERNEL]: tokenLogProbsGradKernel,
  [ATTENTION_SOFTMAX_KERNEL]: attentionSoftmaxKernel,
  [ATTENTION_SOFTMAX_GRAD_KERNEL]: attentionSoftmaxGradKernel,
  [COLUMN_SUM_KERNEL]: columnSumKernel,
  [EMBED_KERNEL]: embedKernel,
  [EMBED_GRAD_KERNEL]: embedGradKernel,
  [ATTENTION_KERNEL]: attentionKernel,
  [ADD_LAYER_NORM_KERNEL]: addLayerNormKernel,
  [ADD_LAYER_NORM_GRAD_KERNEL]: addLayerNormGradKernel,
});

/** Registers the fused kernels for 'webgpu' (idempotent). */
export function registerWebGPUKernels(): void {
  for (const [kernelName, fn] of Object.entries(WEBGPU_KERNELS)) {
    if (tf.getKernel(kernelName, 'webgpu') == null) {
      tf.registerKernel({ kernelName, backendName: 'webgpu', kernelFunc: fn as unknown as tf.KernelFunc });
    }
  }
  if (tf.getGradient(SPLIT_HEADS_KERNEL) == null) tf.registerGradient(SPLIT_HEADS_GRADIENT);
  if (tf.getGradient(ADD_LAYER_NORM_KERNEL) == null) tf.registerGradient(ADD_LAYER_NORM_GRADIENT);
}

/** False when SAFE_ALIGN_WEBGPU_FUSED=0 (read at every call, so tests can switch it). */
export function webgpuFusedEnabled(): boolean {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  return env?.[WEBGPU_FUSED_ENV] !== '0';
}

/** Storage buffers the largest fused kernel binds (LayerNorm's gradient: 5 inputs, 3 outputs). */
export const FUSED_MIN_STORAGE_BUFFERS = 8;

/** Whether the active webgpu device binds enough storage buffers per shader (compatibility-mode devices may offer 4). */
function deviceFits(): boolean {
  const limits = (tf.backend() as unknown as { device?: GPUDevice }).device?.limits;
  return (limits?.maxStorageBuffersPerShaderStage ?? 0) >= FUSED_MIN_STORAGE_BUFFERS;
}

/**
 * True when the active backend is webgpu with the fused kernels registered and enabled, on a
 * device with at least 8 storage buffers per shader (otherwise the plain ops run).
 */
export function webgpuFusedAvailable(): boolean {
  return tf.getBackend() === 'webgpu' && webgpuFusedEnabled() && tf.getKernel(ADAMW_KERNEL, 'webgpu') != null && deviceFits();
}
