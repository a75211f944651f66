/**
 * Backends: run-time selection of the tfjs backend (tensorflow > hardware webgpu > wasm > cpu),
 * the wasm UnsortedSegmentSum kernel (embedding gradients), and WebGPU in Node through Dawn,
 * on a real GPU or on Mesa llvmpipe, with fused WGSL kernels that cut its dispatches per step.
 * See docs/backends.md.
 */
export {
  BACKEND_ENV,
  BACKEND_NAMES,
  BACKEND_REQUESTS,
  DEFAULT_BACKEND_CONFIG,
  DEFAULT_PROBES,
  backendOrder,
  chooseBackend,
  currentBackend,
  ensureBackendRegistered,
  ensureWasmRegistered,
  parseBackendRequest,
  resetBackendSelection,
  resolveBackendRequest,
  selectBackend,
  withBackend,
} from './select.js';
export type { BackendConfig, BackendInfo, BackendName, BackendProbe, BackendProbes, BackendRequest } from './select.js';
export {
  UNSORTED_SEGMENT_SUM,
  registerCpuUnsortedSegmentSum,
  registerWasmUnsortedSegmentSum,
  unsortedSegmentSumCpu,
  unsortedSegmentSumWasm,
} from './wasm-unsorted-segment-sum.js';
export {
  DAWN_FLAGS_ENV,
  MESA_PACKAGES,
  WebGPUUnavailableError,
  diagnoseMesa,
  initWebGPUNode,
  isSoftwareAdapter,
  parseDawnFlags,
  releaseWebGPU,
  webgpuAttempts,
  webgpuInfo,
} from './webgpu-node.js';
export type { WebGPUAttempt, WebGPUFeatureLevel, WebGPUInitOptions, WebGPUNodeInfo } from './webgpu-node.js';
export {
  WEBGPU_FUSED_ENV,
  WEBGPU_KERNELS,
  registerWebGPUKernels,
  webgpuFusedAvailable,
  webgpuFusedEnabled,
} from './webgpu-kernels/index.js';
export {
  BENCH_MLP,
  MLP_PARAM_NAMES,
  makeMlpProblem,
  median,
  mlpLoss,
  mlpSgdStep,
  timeBackend,
} from './benchmark.js';
export type { BackendTiming, MlpBatch, MlpParams, MlpShape } from './benchmark.js';
