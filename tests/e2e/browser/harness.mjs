// What the browser scenario files (widgets.test.mjs, uppy.test.mjs) share:
// the deployment tests/e2e/browser.rs describes in the environment, the
// headless Chromium, the page's front, test files, `upspool claim`, and the
// scenarios' timings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { chromium } from 'playwright-core';
import { startProxy } from './proxy.mjs';

export const env = process.env;
export const MODE = env.UPSPOOL_MODE || 'serve';
export const TARGET = env.UPSPOOL_TARGET;
export const ENDPOINT = env.UPSPOOL_ENDPOINT || '/upload';
export const SPOOL = env.UPSPOOL_SPOOL;
export const MIB = 1024 * 1024;

let tmp;
const timings = [];

export const sha = (buf) => crypto.createHash('sha256').update(buf).digest('hex');

/**
 * For `before`: a temporary directory named from `prefix` (for test files
 * and claims), then Chromium, headless.
 */
export function launch(prefix) {
  assert.ok(TARGET, 'UPSPOOL_TARGET names the deployment (run through cargo test)');
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  return chromium.launch({
    executablePath: env.UPSPOOL_CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** A front (proxy.mjs) to the deployment, on the port the variable `portVariable` names. */
export function startFront(portVariable) {
  return startProxy({ port: Number(env[portVariable]), target: TARGET, endpoint: ENDPOINT });
}

/** For `after`: removes the temporary directory and writes the timings (to UPSPOOL_TIMINGS). */
export function finish() {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  if (env.UPSPOOL_TIMINGS) fs.writeFileSync(env.UPSPOOL_TIMINGS, JSON.stringify(timings, null, 1));
}

/** A test named for the mode, its time kept for the timings. */
export function scenario(name, fn, options = {}) {
  test(`${MODE}: ${name}`, { timeout: 120_000, ...options }, async () => {
    const started = Date.now();
    await fn();
    timings.push({ mode: MODE, scenario: name, ms: Date.now() - started });
  });
}

/** A file of `size` deterministic pseudo-random bytes, with its SHA-256. */
export function makeFile(name, size, seed) {
  const data = Buffer.alloc(size);
  let x = seed * 2654435761 >>> 0;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    data[i] = x >>> 24;
  }
  const dir = fs.mkdtempSync(path.join(tmp, 'f-'));
  const file = path.join(dir, name);
  fs.writeFileSync(file, data);
  return { path: file, name, size, sha: sha(data) };
}

/** Runs the upspool binary with `args` on the deployment's spool. */
export function upspool(args) {
  return spawnSync(env.UPSPOOL_BIN, args, { env: { ...process.env, UPSPOOL_DIR: SPOOL } });
}

/** SHA-256 of the file `upspool claim` takes out of the spool. */
export function claimed(id) {
  const dest = path.join(tmp, `claimed-${id}`);
  const out = upspool(['claim', id, dest]);
  assert.equal(out.status, 0, `claim: ${out.stderr}`);
  const got = sha(fs.readFileSync(dest));
  fs.rmSync(dest);
  return got;
}
