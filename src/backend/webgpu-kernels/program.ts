/**
 * Runs a hand-written WGSL compute shader with several outputs as ONE dispatch on tfjs's webgpu
 * backend. tfjs-webgpu's own programs (`runWebGPUProgram`) write a single output buffer; the
 * fused kernels here (AdamW writes p, m and v; LayerNorm writes y, mean and rstd) need more, so
 * this module builds the pipeline itself and hands the dispatch to the backend's
 * `recordAndSubmit`, which binds [output 0, ...rest, uniforms], tracks buffer ownership, batches
 * submissions and serves tf.profile / tf.time exactly as for tfjs's own kernels.
 *
 * Binding layout of every shader (all tensors flattened to 1-D float32/int32 arrays):
 *   @binding(0 .. nOut-1)          outputs, var<storage, read_write>
 *   @binding(nOut .. nOut+nIn-1)   inputs,  var<storage, read>
 *   @binding(nOut+nIn)             var<uniform> u: Uniforms
 * `recordAndSubmit` fills the uniform buffer with NAN, INFINITY and a (shape, strides) pair per
 * bound tensor before the program's own scalars; with every tensor flattened to rank 1 each pair
 * is two i32, so `uniformStruct` can declare the layout exactly.
 */
import * as tf from '@tensorflow/tfjs';

const SOURCE = 'src/backend/webgpu-kernels/program.ts';

/** The parts of tfjs-webgpu's WebGPUBackend this module uses (4.22; not exported as types). */
export interface WebGPUBackendInternals {
  device: GPUDevice;
  tensorMap: { get(dataId: object): { values: unknown; resource: unknown } | undefined };
  makeTensorInfo(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  disposeData(dataId: object, force?: boolean): boolean;
  uploadToGPU(dataId: object): void;
  recordAndSubmit(program: object, output: tf.TensorInfo, inputs: tf.TensorInfo[], uniforms?: ProgramUniform[]): void;
}

/** What tfjs passes a kernel function. */
export interface KernelArgs {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs?: tf.NamedAttrMap;
}

export interface ProgramUniform {
  type: 'float32' | 'int32' | 'uint32';
  data: number[];
}

/** A scalar the program declares after the bookkeeping fields. */
export interface ScalarUniform {
  name: string;
  type: 'f32' | 'i32';
  value: number;
}

/** One dispatch of a fused kernel. */
export interface FlatProgramSpec {
  /** Pipeline cache key: must identify the WGSL source uniquely. */
  key: string;
  /** Shader body: may use `outN`, `inN`, `u.<scalar>` and must define `@compute fn main`. */
  body: string;
  /** Output shapes and dtypes, in binding order. */
  outputs: { shape: number[]; dtype: 'float32' | 'int32' }[];
  inputs: tf.TensorInfo[];
  scalars: ScalarUniform[];
  /** Workgroups in x (spread over y when above the per-dimension limit; see `flatIndex`). */
  workgroups: number;
  /** Optional WGSL declarations (workgroup arrays, helper functions) placed before `body`. */
  prelude?: string;
}

/** WGSL element type of a tfjs dtype. */
function wgslType(dtype: tf.DataType, where: string): 'f32' | 'i32' {
  if (dtype === 'float32') return 'f32';
  if (dtype === 'int32') return 'i32';
  throw new Error(`${SOURCE}: ${where}: dtype ${dtype} is not supported (float32 or int32)`);
}

/** The Uniforms struct for `tensors` bound tensors followed by the program's scalars. */
export function uniformStruct(tensors: number, scalars: readonly ScalarUniform[]): string {
  const fields = ['nan_ : f32', 'inf_ : f32'];
  for (let i = 0; i < tensors; i++) fields.push(`shape${i}_ : i32`, `stride${i}_ : i32`);
  for (const s of scalars) fields.push(`${s.name} : ${s.type}`);
  return `struct Uniforms {\n  ${fields.join(',\n  ')},\n};`;
}

/**
 * WGSL helper: the flat invocation index of a 1-D launch spread over x and y
 * (`workgroups` > 65535 wraps into y). Use as `let i = flatIndex(gid, nwg, WG);`.
 */
export const FLAT_INDEX_WGSL = `
fn flatIndex(gid : vec3<u32>, nwg : vec3<u32>, wg : u32) -> i32 {
  return i32(gid.x + gid.y * nwg.x * wg);
}`;

/** Workgroup counts [x, y, 1] for `groups` workgroups in a flat launch. */
export function flatDispatch(device: GPUDevice, groups: number): [number, number, number] {
  const limit = device.limits.maxComputeWorkgroupsPerDimension;
  if (groups <= limit) return [Math.max(1, groups), 1, 1];
  const y = Math.ceil(groups / limit);
  return [Math.ceil(groups / y), y, 1];
}

/** Workgroup size of the kernels that run one invocation per row or element. */
export const WG = 64;

/**
 * WGSL opening of a flat 1-D kernel of workgroup size WG: `fn main` with `gid` and `nwg`, and
 * `let <index> = flatIndex(...)`; the caller writes the rest of the function and its closing brace.
 */
export function flatMain(index: string): string {
  return `
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid : vec3<u32>, @builtin(num_workgroups) nwg : vec3<u32>) {
  let ${index} = flatIndex(gid, nwg, ${WG}u);`;
}

/** Input `name` of a kernel call; a missing one throws naming `source` (the kernel's file) and `kernel`. */
export function requiredInput(source: string, args: KernelArgs, name: string, kernel: string): tf.TensorInfo {
  const t = args.inputs[name];
  if (t === undefined) throw new Error(`${source}: ${kernel} needs input '${name}'`);
  return t;
}

/** Float32 input `name` of a kernel call (see `requiredInput`); another dtype throws. */
export function floatInput(source: string, args: KernelArgs, name: string, kernel: string): tf.TensorInfo {
  const t = requiredInput(source, args, name, kernel);
  if (t.dtype !== 'float32') throw new Error(`${source}: ${kernel} input '${name}' must be float32, got ${t.dtype}`);
  return t;
}

/** Attribute `name` of a kernel call, a finite number. */
export function finiteAttr(source: string, args: KernelArgs, name: string, kernel: string): number {
  const value = (args.attrs as Record<string, unknown> | undefined)?.[name];
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new Error(`${source}: ${kernel}: attr ${name} must be a finite number, got ${value}`);
  return value;
}

/** Attribute `name` of a kernel call, a number >= 0 (LayerNorm's eps). */
export function nonNegativeAttr(source: string, args: KernelArgs, name: string, kernel: string): number {
  const value = (args.attrs as Record<string, unknown> | undefined)?.[name];
  if (typeof value !== 'number' || !(value >= 0)) throw new Error(`${source}: ${kernel}: attr ${name} must be >= 0, got ${value}`);
  return value;
}

const pipelines = new WeakMap<GPUDevice, Map<string, GPUComputePipeline>>();

/** The cached pipeline of `key` on `device`; `code` (the WGSL source) is built only on a miss. */
function pipelineFor(device: GPUDevice, key: string, code: () => string): GPUComputePipeline {
  let cache = pipelines.get(device);
  if (!cache) {
    cache = new Map();
    pipelines.set(device, cache);
  }
  let p = cache.get(key);
  if (!p) {
    const module = device.createShaderModule({ code: code(), label: key });
    p = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' }, label: key });
    cache.set(key, p);
  }
  return p;
}

/** The program object `recordAndSubmit` reads (pipeline, dispatch; no tfjs-generated uniforms). */
class FusedWebGPUProgram {
  readonly size = false;
  readonly pixelsOpType = null;
  constructor(
    readonly shaderKey: string,
    readonly pipeline: GPUComputePipeline,
    readonly dispatch: [number, number, number],
  ) {}
}

/** The full WGSL source of a spec. */
export function shaderSource(spec: FlatProgramSpec): string {
  const nOut = spec.outputs.length;
  const lines: string[] = [uniformStruct(nOut + spec.inputs.length, spec.scalars)];
  spec.outputs.forEach((o, i) => lines.push(`@group(0) @binding(${i}) var<storage, read_write> out${i} : array<${wgslType(o.dtype, spec.key)}>;`));
  spec.inputs.forEach((t, i) => lines.push(`@group(0) @binding(${nOut + i}) var<storage, read> in${i} : array<${wgslType(t.dtype, spec.key)}>;`));
  lines.push(`@group(0) @binding(${nOut + spec.inputs.length}) var<uniform> u : Uniforms;`);
  lines.push(FLAT_INDEX_WGSL, spec.prelude ?? '', spec.body);
  return lines.join('\n');
}

/**
 * Records one dispatch of `spec` on the webgpu backend and returns its outputs (new tensors the
 * caller owns, as a kernel's outputs are). Inputs still on the CPU are uploaded first.
 */
export function runFlatProgram(backendArg: unknown, spec: FlatProgramSpec): tf.TensorInfo[] {
  const backend = backendArg as WebGPUBackendInternals;
  if (typeof backend.recordAndSubmit !== 'function' || backend.device === undefined) {
    throw new Error(`${SOURCE}: runFlatProgram(${spec.key}) needs tfjs's webgpu backend (got ${tf.getBackend()})`);
  }
  if (spec.outputs.length === 0) throw new Error(`${SOURCE}: runFlatProgram(${spec.key}): no outputs`);
  const outputs = spec.outputs.map((o) => backend.makeTensorInfo(o.shape, o.dtype));
  const flat = (t: tf.TensorInfo): tf.TensorInfo => ({ dataId: t.dataId, shape: [tf.util.sizeFromShape(t.shape)], dtype: t.dtype });
  const empty = outputs.filter((o) => tf.util.sizeFromShape(o.shape) === 0).length;
  if (empty === outputs.length) {
    // Nothing to compute (tfjs-webgpu's own programs short-circuit the same way).
    for (const o of outputs) backend.tensorMap.get(o.dataId)!.values = tf.util.getTypedArrayFromDType(o.dtype as 'float32', 0);
    return outputs;
  }
  if (empty > 0 || spec.inputs.some((t) => tf.util.sizeFromShape(t.shape) === 0)) {
    for (const o of outputs) backend.disposeData(o.dataId);
    throw new Error(`${SOURCE}: runFlatProgram(${spec.key}): empty and non-empty tensors mixed (a zero-size buffer cannot be bound)`);
  }
  for (const o of outputs) backend.uploadToGPU(o.dataId);
  for (const t of spec.inputs) backend.uploadToGPU(t.dataId);
  const pipeline = pipelineFor(backend.device, spec.key, () => shaderSource(spec));
  const program = new FusedWebGPUProgram(spec.key, pipeline, flatDispatch(backend.device, spec.workgroups));
  const uniforms: ProgramUniform[] = spec.scalars.map((s) => ({ type: s.type === 'f32' ? 'float32' : 'int32', data: [s.value] }));
  const bound = [...outputs.slice(1), ...spec.inputs].map(flat);
  backend.recordAndSubmit(program, flat(outputs[0]!), bound, uniforms);
  return outputs;
}
