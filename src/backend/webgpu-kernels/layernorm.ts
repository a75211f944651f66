/**
 * WGSL bodies of LayerNorm over the last axis (Ba et al. 2016), shared by the plain kernel
 * (fused.ts) and the residual-add variant (addnorm.ts), which normalises s = x + y and also writes s:
 *   forward, one invocation per row:  mean, rstd = 1 / sqrt(var + eps) (biased var),
 *                                     y = (x - mean) rstd g + b
 *   backward: xhat = (x - mean) rstd, gy = dy g,
 *             dx = rstd (gy - mean_j(gy) - xhat mean_j(gy xhat))   (+ ds, the residual's own gradient)
 *             dg = sum_rows dy xhat,  db = sum_rows dy     (one invocation per column, same dispatch)
 * Scalars: u.rows, u.n (and u.eps forward). Row loops are serial per invocation.
 */
import { flatMain, WG, type FlatProgramSpec } from './program.js';

/** Whether the kernel is the residual-add variant (addnorm.ts) or plain LayerNorm (fused.ts). */
export interface LayerNormVariant {
  residual: boolean;
}

/**
 * Forward body. Bindings, plain: in0 x, in1 g, in2 b -> out0 y, out1 mean, out2 rstd;
 * residual: in0 x, in1 y, in2 g, in3 b -> out0 s = x + y, out1 h, out2 mean, out3 rstd.
 */
export function layerNormShader({ residual }: LayerNormVariant): string {
  const [g, b] = residual ? ['in2', 'in3'] : ['in1', 'in2'];
  const [y, mean, rstd] = residual ? ['out1', 'out2', 'out3'] : ['out0', 'out1', 'out2'];
  // The row normalised: x itself, or s as the first loop writes it.
  const x = residual ? 'out0[base + j]' : 'in0[base + j]';
  const sumStep = residual ? 'let s = in0[base + j] + in1[base + j]; out0[base + j] = s; sum = sum + s;' : 'sum = sum + in0[base + j];';
  return `${flatMain('r')}
  if (r >= u.rows) { return; }
  let base = r * u.n;
  let invN = 1.0 / f32(u.n);
  var sum = 0.0;
  for (var j = 0; j < u.n; j = j + 1) { ${sumStep} }
  let mean = sum * invN;
  var q = 0.0;
  for (var j = 0; j < u.n; j = j + 1) { let d = ${x} - mean; q = q + d * d; }
  let rs = 1.0 / sqrt(q * invN + u.eps);
  for (var j = 0; j < u.n; j = j + 1) { ${y}[base + j] = (${x} - mean) * rs * ${g}[j] + ${b}[j]; }
  ${mean}[r] = mean;
  ${rstd}[r] = rs;
}`;
}

/**
 * Backward body; outputs out0 dx, out1 dg, out2 db. Inputs, plain: in0 x, in1 g, in2 dy, in3 mean,
 * in4 rstd; residual: in0 s, in1 g, in2 ds, in3 dh, in4 mean, in5 rstd (dx = ds + the LayerNorm term).
 */
export function layerNormGradShader({ residual }: LayerNormVariant): string {
  const [dy, mean, rstd] = residual ? ['in3', 'in4', 'in5'] : ['in2', 'in3', 'in4'];
  const ds = residual ? 'in2[base + j] + ' : '';
  return `${flatMain('t')}
  let invN = 1.0 / f32(u.n);
  if (t < u.rows) {
    let base = t * u.n;
    let m = ${mean}[t];
    let rs = ${rstd}[t];
    var a = 0.0;
    var c = 0.0;
    for (var j = 0; j < u.n; j = j + 1) {
      let xh = (in0[base + j] - m) * rs;
      let gy = ${dy}[base + j] * in1[j];
      a = a + gy;
      c = c + gy * xh;
    }
    a = a * invN;
    c = c * invN;
    for (var j = 0; j < u.n; j = j + 1) {
      let xh = (in0[base + j] - m) * rs;
      let gy = ${dy}[base + j] * in1[j];
      out0[base + j] = ${ds}rs * (gy - a - xh * c);
    }
  }
  if (t < u.n) {
    var dg = 0.0;
    var db = 0.0;
    for (var r = 0; r < u.rows; r = r + 1) {
      let d = ${dy}[r * u.n + t];
      dg = dg + d * ((in0[r * u.n + t] - ${mean}[r]) * ${rstd}[r]);
      db = db + d;
    }
    out1[t] = dg;
    out2[t] = db;
  }
}`;
}

/** The parts of a LayerNorm dispatch that do not depend on the kernel's inputs. */
export type LayerNormLaunch = Pick<FlatProgramSpec, 'body' | 'outputs' | 'scalars' | 'workgroups'>;

/**
 * Forward dispatch over x of `shape` ([..., n], `rows` rows): outputs y (residual: s and h) like x,
 * then mean and rstd of x's shape minus the last axis; one invocation per row.
 */
export function layerNormLaunch(variant: LayerNormVariant, shape: readonly number[], rows: number, n: number, eps: number): LayerNormLaunch {
  const lead = shape.slice(0, -1);
  const rowOutputs = variant.residual ? 2 : 1; // s and h, or y
  return {
    body: layerNormShader(variant),
    outputs: [
      ...Array.from({ length: rowOutputs }, () => ({ shape: [...shape], dtype: 'float32' as const })),
      { shape: lead, dtype: 'float32' },
      { shape: lead, dtype: 'float32' },
    ],
    scalars: [
      { name: 'rows', type: 'i32', value: rows },
      { name: 'n', type: 'i32', value: n },
      { name: 'eps', type: 'f32', value: eps },
    ],
    workgroups: Math.ceil(rows / WG),
  };
}

/** Backward dispatch: outputs dx like x (`shape`), dg and db [n]; max(rows, n) invocations. */
export function layerNormGradLaunch(variant: LayerNormVariant, shape: readonly number[], rows: number, n: number): LayerNormLaunch {
  return {
    body: layerNormGradShader(variant),
    outputs: [
      { shape: [...shape], dtype: 'float32' },
      { shape: [n], dtype: 'float32' },
      { shape: [n], dtype: 'float32' },
    ],
    scalars: [
      { name: 'rows', type: 'i32', value: rows },
      { name: 'n', type: 'i32', value: n },
    ],
    workgroups: Math.ceil(Math.max(rows, n) / WG),
  };
}
