/**
 * WebGPU for tfjs in Node: Dawn (the `webgpu` npm package) + '@tensorflow/tfjs-backend-webgpu'.
 *
 * How it is wired:
 *   1. `EGL_PLATFORM=surfaceless` (unless set): Mesa's EGL then needs no X11/Wayland display.
 *   2. `Object.assign(globalThis, globals)` and `navigator.gpu = create(flags)` BEFORE the tfjs
 *      webgpu backend is imported (it registers itself only when `navigator.gpu` exists at import).
 *   3. An adapter is requested ourselves, trying in order
 *        a. `create([])`, featureLevel 'core'        — Vulkan / Metal / D3D12: a real GPU;
 *        b. `create(['backend=opengles'])`, 'compatibility' — Dawn's OpenGL ES backend on EGL;
 *        c. `create(['backend=opengl'])`,   'compatibility' — Dawn's desktop-GL backend on EGL.
 *      On a CPU-only Linux box (b) lands on Mesa llvmpipe. Dawn's GL backends only offer
 *      compatibility-mode adapters, so `requestAdapter()` without `featureLevel:'compatibility'`
 *      returns null there; that is why tfjs's own factory (which asks for a core adapter) fails.
 *   4. The 'webgpu' tfjs backend is (re-)registered with a factory that wraps the device we made.
 *
 * `SAFE_ALIGN_DAWN_FLAGS` replaces the attempt list by one flag set (whitespace-separated Dawn
 * options, e.g. `backend=vulkan adapter=...` or `backend=opengl enable-dawn-features=...`),
 * tried with featureLevel 'core' and then 'compatibility'.
 *
 * Mesa must be installed (Debian/Ubuntu): {@link MESA_PACKAGES}. Dawn dlopens the unversioned
 * `libEGL.so`, which only the -dev package provides; see scripts/setup-webgpu-ci.sh.
 */
import * as tf from '@tensorflow/tfjs';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { registerWebGPUKernels } from './webgpu-kernels/index.js';

const SOURCE = 'src/backend/webgpu-node.ts';

/** Env var holding Dawn flags that replace the default attempts. */
export const DAWN_FLAGS_ENV = 'SAFE_ALIGN_DAWN_FLAGS';

/**
 * Debian/Ubuntu packages Dawn's GL backends need for Mesa llvmpipe:
 * libegl1 (glvnd libEGL.so.1), libegl-dev (the unversioned libEGL.so that Dawn dlopens),
 * libegl-mesa0 (Mesa's EGL vendor library), libgl1-mesa-dri (the llvmpipe driver, swrast_dri.so).
 */
export const MESA_PACKAGES: readonly string[] = Object.freeze([
  'libegl1',
  'libegl-dev',
  'libegl-mesa0',
  'libgl1-mesa-dri',
]);

export type WebGPUFeatureLevel = 'core' | 'compatibility';

/** One way of getting an adapter: Dawn flags for `create()` and the feature level asked for. */
export interface WebGPUAttempt {
  readonly flags: readonly string[];
  readonly featureLevel: WebGPUFeatureLevel;
}

/** What `initWebGPUNode` found. */
export interface WebGPUNodeInfo {
  readonly vendor: string;
  readonly architecture: string;
  readonly device: string;
  readonly description: string;
  /** True for CPU/software adapters (llvmpipe, lavapipe, SwiftShader, WARP). */
  readonly software: boolean;
  readonly dawnFlags: readonly string[];
  readonly featureLevel: WebGPUFeatureLevel;
  /** One-line summary, e.g. "llvmpipe-llvm-15-0-6-256-bits- (OpenGL version OpenGL ES 3.2 Mesa 22.3.6), Dawn backend=opengles, compatibility mode, software adapter". */
  readonly detail: string;
}

export interface WebGPUInitOptions {
  /** Accept only a hardware adapter (what selectBackend's 'auto' mode wants). Default false. */
  requireHardware?: boolean;
}

/** Why webgpu could not be set up: every attempt with its reason, and Mesa files found missing. */
export class WebGPUUnavailableError extends Error {
  constructor(
    message: string,
    readonly attempts: readonly { attempt: WebGPUAttempt; reason: string }[],
    readonly missingPackages: readonly string[],
  ) {
    super(message);
    this.name = 'WebGPUUnavailableError';
  }
}

interface AdapterInfoLike {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  isFallbackAdapter?: boolean;
}

/** Software (CPU) rasterisers and compute implementations, matched against the adapter info. */
const SOFTWARE_ADAPTER = /llvmpipe|lavapipe|softpipe|swiftshader|swrast|software|microsoft basic render/i;

/** True when the adapter is a CPU implementation rather than a GPU. */
export function isSoftwareAdapter(info: AdapterInfoLike, isFallbackAdapter = false): boolean {
  if (isFallbackAdapter || info.isFallbackAdapter === true) return true;
  const text = [info.vendor, info.architecture, info.device, info.description].join(' ');
  return SOFTWARE_ADAPTER.test(text);
}

/** Splits `SAFE_ALIGN_DAWN_FLAGS` on whitespace (Dawn options carry commas themselves). */
export function parseDawnFlags(text: string): string[] {
  return text.split(/\s+/).filter((s) => s.length > 0);
}

function multiarch(): string {
  return process.arch === 'arm64' ? 'aarch64-linux-gnu' : process.arch === 'x64' ? 'x86_64-linux-gnu' : '';
}

function libraryDirs(): string[] {
  const ma = multiarch();
  const dirs = (process.env['LD_LIBRARY_PATH'] ?? '').split(':').filter((d) => d.length > 0);
  if (ma) dirs.push(`/usr/lib/${ma}`, `/lib/${ma}`);
  dirs.push('/usr/lib64', '/lib64', '/usr/lib', '/usr/local/lib');
  return dirs;
}

function findLibrary(name: string): string | undefined {
  for (const dir of libraryDirs()) {
    const p = join(dir, name);
    try {
      if (statSync(p).size > 0) return p; // follows symlinks; a dangling link or empty file does not count
    } catch {
      // not there
    }
  }
  return undefined;
}

/**
 * Linux only: which of the files Dawn's GL path needs are missing, and the Debian packages that
 * provide them. Empty lists elsewhere or when everything is in place.
 */
export function diagnoseMesa(): { missingFiles: string[]; packages: string[] } {
  if (process.platform !== 'linux') return { missingFiles: [], packages: [] };
  const needs: [string, string][] = [
    ['libEGL.so.1', 'libegl1'],
    ['libEGL.so', 'libegl-dev'],
    ['libEGL_mesa.so.0', 'libegl-mesa0'],
    ['dri/swrast_dri.so', 'libgl1-mesa-dri'],
  ];
  const missingFiles: string[] = [];
  const packages: string[] = [];
  for (const [file, pkg] of needs) {
    if (findLibrary(file) === undefined) {
      missingFiles.push(file);
      if (!packages.includes(pkg)) packages.push(pkg);
    }
  }
  return { missingFiles, packages };
}

/** Whether the machine has a GPU device node that a GL driver could drive (Linux). */
function hasGpuDeviceNode(): boolean {
  try {
    if (readdirSync('/dev/dri').some((n) => n.startsWith('renderD'))) return true;
  } catch {
    // no /dev/dri
  }
  return existsSync('/dev/nvidia0');
}

/** The attempts to make, in order, each with a reason when it is skipped up front. */
export function webgpuAttempts(requireHardware: boolean): { attempt: WebGPUAttempt; skip?: string }[] {
  const override = process.env[DAWN_FLAGS_ENV];
  if (override !== undefined && override.trim() !== '') {
    const flags = parseDawnFlags(override);
    return [{ attempt: { flags, featureLevel: 'core' } }, { attempt: { flags, featureLevel: 'compatibility' } }];
  }
  const linux = process.platform === 'linux';
  const out: { attempt: WebGPUAttempt; skip?: string }[] = [];
  const vulkanMissing = linux && findLibrary('libvulkan.so.1') === undefined;
  out.push({
    attempt: { flags: [], featureLevel: 'core' },
    ...(vulkanMissing ? { skip: 'libvulkan.so.1 not found (no Vulkan loader installed)' } : {}),
  });
  if (linux) {
    // Without a GPU device node, Mesa's GL can only be llvmpipe: not worth a try when a
    // hardware adapter is required.
    const glSkip = requireHardware && !hasGpuDeviceNode() ? 'no /dev/dri/renderD* or /dev/nvidia0: GL would be software' : undefined;
    for (const backend of ['opengles', 'opengl']) {
      out.push({
        attempt: { flags: [`backend=${backend}`], featureLevel: 'compatibility' },
        ...(glSkip !== undefined ? { skip: glSkip } : {}),
      });
    }
  }
  return out;
}

/** Limits tfjs-backend-webgpu asks for (its own factory's list) plus the storage-buffer counts. */
const REQUESTED_LIMITS = [
  'maxComputeWorkgroupStorageSize',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeInvocationsPerWorkgroup',
  'maxStorageBuffersPerShaderStage',
] as const;

interface WebGPUState {
  gpu: GPU; // held so that the Dawn instance lives as long as the backend
  device: GPUDevice;
  info: WebGPUNodeInfo;
  createdNavigator: boolean;
}

let state: WebGPUState | null = null;
let pending: Promise<WebGPUNodeInfo> | null = null;

function installNavigatorGpu(gpu: GPU): boolean {
  const g = globalThis as { navigator?: unknown };
  const nav = g.navigator;
  if (nav !== undefined && nav !== null && typeof nav === 'object') {
    // Node 21+ has a navigator object (behind a getter on globalThis): give it a gpu.
    try {
      Object.defineProperty(nav, 'gpu', { value: gpu, configurable: true, writable: true });
      if ((nav as { gpu?: unknown }).gpu === gpu) return false;
    } catch {
      // fall through to replacing navigator
    }
  }
  Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
  return true;
}

function uninstallNavigatorGpu(createdNavigator: boolean): void {
  const g = globalThis as { navigator?: { gpu?: unknown } };
  if (createdNavigator) {
    delete g.navigator;
  } else if (g.navigator !== undefined) {
    delete g.navigator.gpu;
  }
}

function describe(info: AdapterInfoLike, attempt: WebGPUAttempt, software: boolean): string {
  const name = info.device || info.description || info.vendor || 'unknown adapter';
  const flags = attempt.flags.length > 0 ? attempt.flags.join(' ') : 'default';
  const desc = info.description && info.description !== name ? ` (${info.description})` : '';
  return `${name}${desc}, Dawn ${flags}, ${attempt.featureLevel} mode${software ? ', software adapter' : ''}`;
}

async function tryAttempt(
  create: (flags: string[]) => GPU,
  attempt: WebGPUAttempt,
): Promise<{ gpu: GPU; adapter: GPUAdapter; info: AdapterInfoLike; software: boolean } | string> {
  let gpu: GPU;
  try {
    gpu = create([...attempt.flags]);
  } catch (e) {
    return `create() threw: ${(e as Error).message}`;
  }
  let adapter: GPUAdapter | null;
  try {
    adapter = await gpu.requestAdapter({
      powerPreference: 'high-performance',
      featureLevel: attempt.featureLevel,
    } as GPURequestAdapterOptions);
  } catch (e) {
    return `requestAdapter threw: ${(e as Error).message}`;
  }
  if (adapter === null) return 'no adapter';
  const raw = (adapter as { info?: AdapterInfoLike }).info ?? {};
  const info: AdapterInfoLike = {
    vendor: raw.vendor ?? '',
    architecture: raw.architecture ?? '',
    device: raw.device ?? '',
    description: raw.description ?? '',
    isFallbackAdapter: raw.isFallbackAdapter === true,
  };
  const software = isSoftwareAdapter(info, (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter === true);
  return { gpu, adapter, info, software };
}

async function requestDevice(adapter: GPUAdapter): Promise<GPUDevice> {
  const requiredLimits: Record<string, number> = {};
  const limits = adapter.limits as unknown as Record<string, number | undefined>;
  for (const name of REQUESTED_LIMITS) {
    const v = limits[name];
    if (typeof v === 'number') requiredLimits[name] = v;
  }
  const device = await adapter.requestDevice({ requiredLimits });
  let reported = 0;
  device.onuncapturederror = (event: GPUUncapturedErrorEvent) => {
    // Validation errors otherwise pass silently and show up as wrong numbers.
    if (reported++ < 5) console.error(`[safe-align] webgpu error: ${event.error.message}`);
  };
  return device;
}

type WebGPUBackendClass = new (device: GPUDevice, adapterInfo?: unknown) => tf.KernelBackend;

/**
 * tfjs-backend-webgpu reads GPU tensors synchronously (dataSync, arraySync) by drawing them onto
 * an OffscreenCanvas, which Node lacks: the bare failure is "OffscreenCanvas is not defined".
 * This subclass turns it into an error that says what to do instead.
 */
function withNodeReadSync(Base: WebGPUBackendClass): WebGPUBackendClass {
  return class NodeWebGPUBackend extends Base {
    override readSync(dataId: object): tf.backend_util.BackendValues {
      try {
        return super.readSync(dataId);
      } catch (e) {
        if (e instanceof ReferenceError && /OffscreenCanvas/.test(e.message)) {
          throw new Error(
            `${SOURCE}: the webgpu backend cannot read a GPU tensor synchronously in Node ` +
              '(dataSync/arraySync/bufferSync, or a kernel that reads on the CPU): use await tensor.data() / tensor.array()',
          );
        }
        throw e;
      }
    }
  };
}

async function initialise(options: WebGPUInitOptions): Promise<WebGPUNodeInfo> {
  const requireHardware = options.requireHardware ?? false;
  if (process.platform === 'linux' && process.env['EGL_PLATFORM'] === undefined) {
    process.env['EGL_PLATFORM'] = 'surfaceless';
  }
  const tried: { attempt: WebGPUAttempt; reason: string }[] = [];
  let mod: { create: (flags: string[]) => GPU; globals: object };
  try {
    mod = (await import('webgpu')) as unknown as typeof mod;
  } catch (e) {
    throw new WebGPUUnavailableError(
      `${SOURCE}: cannot load the 'webgpu' package (Dawn): ${(e as Error).message}`,
      tried,
      [],
    );
  }
  Object.assign(globalThis, mod.globals);

  let found: Exclude<Awaited<ReturnType<typeof tryAttempt>>, string> | undefined;
  let foundAttempt: WebGPUAttempt | undefined;
  for (const { attempt, skip } of webgpuAttempts(requireHardware)) {
    if (skip !== undefined) {
      tried.push({ attempt, reason: `skipped: ${skip}` });
      continue;
    }
    const r = await tryAttempt(mod.create, attempt);
    if (typeof r === 'string') {
      tried.push({ attempt, reason: r });
      continue;
    }
    if (requireHardware && r.software) {
      tried.push({ attempt, reason: `software adapter ${describe(r.info, attempt, true)}` });
      continue;
    }
    found = r;
    foundAttempt = attempt;
    break;
  }
  if (found === undefined || foundAttempt === undefined) {
    const mesa = diagnoseMesa();
    const lines = tried.map(({ attempt, reason }) => {
      const flags = attempt.flags.length > 0 ? attempt.flags.join(' ') : '(default flags)';
      return `  - create([${flags}]) featureLevel=${attempt.featureLevel}: ${reason}`;
    });
    const hint =
      mesa.packages.length > 0
        ? `Missing Mesa files ${mesa.missingFiles.join(', ')}: install ` +
          `\`apt-get install -y --no-install-recommends ${mesa.packages.join(' ')}\` ` +
          `(or run scripts/setup-webgpu-ci.sh).`
        : requireHardware
          ? 'No hardware GPU adapter (software adapters are not taken automatically; ask for webgpu explicitly).'
          : `Mesa packages needed on CPU-only Linux: ${MESA_PACKAGES.join(' ')} (scripts/setup-webgpu-ci.sh).`;
    throw new WebGPUUnavailableError(
      `${SOURCE}: no ${requireHardware ? 'hardware ' : ''}WebGPU adapter.\n${lines.join('\n')}\n${hint}`,
      tried,
      mesa.packages,
    );
  }

  const device = await requestDevice(found.adapter);
  const createdNavigator = installNavigatorGpu(found.gpu);
  // Import the tfjs backend only now: it checks navigator.gpu when it loads.
  const wg = (await import('@tensorflow/tfjs-backend-webgpu')) as unknown as { WebGPUBackend: WebGPUBackendClass };
  if (tf.findBackendFactory('webgpu') != null) tf.removeBackend('webgpu');
  const adapterInfo = (found.adapter as { info?: unknown }).info;
  const NodeWebGPUBackend = withNodeReadSync(wg.WebGPUBackend);
  tf.registerBackend('webgpu', () => new NodeWebGPUBackend(device, adapterInfo), 3);
  registerWebGPUKernels(); // fused AdamW, gradient norm, GELU, LayerNorm (webgpu-kernels/)

  const info: WebGPUNodeInfo = Object.freeze({
    vendor: found.info.vendor ?? '',
    architecture: found.info.architecture ?? '',
    device: found.info.device ?? '',
    description: found.info.description ?? '',
    software: found.software,
    dawnFlags: Object.freeze([...foundAttempt.flags]),
    featureLevel: foundAttempt.featureLevel,
    detail: describe(found.info, foundAttempt, found.software),
  });
  state = { gpu: found.gpu, device, info, createdNavigator };
  return info;
}

/**
 * Sets up Dawn and registers tfjs's 'webgpu' backend on the adapter found (see the file comment
 * for the order). Idempotent: later calls return the first result (a call with
 * `requireHardware` after a software adapter was set up throws). Does not switch the active
 * backend; `tf.setBackend('webgpu')` (or selectBackend) does. Throws WebGPUUnavailableError.
 */
export async function initWebGPUNode(options: WebGPUInitOptions = {}): Promise<WebGPUNodeInfo> {
  // One set-up at a time; a failed one leaves the way open for the next caller's retry.
  while (pending !== null) {
    try {
      await pending;
    } catch {
      // the caller that started it gets the error
    }
  }
  if (state !== null) {
    if (options.requireHardware && state.info.software) {
      throw new WebGPUUnavailableError(
        `${SOURCE}: the webgpu adapter already set up is software (${state.info.detail})`,
        [],
        [],
      );
    }
    return state.info;
  }
  const p = initialise(options).finally(() => {
    pending = null;
  });
  pending = p;
  return p;
}

/** The adapter set up by initWebGPUNode, or null. */
export function webgpuInfo(): WebGPUNodeInfo | null {
  return state?.info ?? null;
}

/**
 * Undoes initWebGPUNode: removes the tfjs 'webgpu' backend (disposing its buffers), destroys the
 * device and drops navigator.gpu, so the Dawn instance can be collected and the process can exit.
 * Call it at the end of a process (or test file) that used webgpu. No-op when nothing is set up.
 */
export function releaseWebGPU(): void {
  if (state === null) return;
  const { device, createdNavigator } = state;
  state = null;
  if (tf.findBackendFactory('webgpu') != null) tf.removeBackend('webgpu');
  device.destroy();
  uninstallNavigatorGpu(createdNavigator);
}
