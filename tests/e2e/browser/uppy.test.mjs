// The real, unmodified Uppy (Dashboard + @uppy/tus, from Uppy's own bundle) in
// a real Chromium, on the demo page, speaking tus through the deployment the
// Rust driver started (tests/e2e/browser.rs): nginx → FastCGI, nginx →
// fcgiwrap → CGI, or upspool serve. Every upload is compared by SHA-256 with
// the bytes `upspool claim` takes out of the spool.
import { before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  TARGET, ENDPOINT, SPOOL, MIB, sha, launch, startFront, finish, scenario as timedScenario,
  makeFile, upspool, claimed,
} from './harness.mjs';

let browser;
let front;

before(async () => {
  browser = await launch('upspool-uppy-');
  front = await startFront('UPSPOOL_PAGE_PORT');
});

after(async () => {
  await browser?.close();
  await front?.close();
  finish();
});

/** A scenario whose front forwards at full speed and fails nothing. */
function scenario(name, fn, options = {}) {
  timedScenario(name, async () => {
    front.clearSlow();
    front.clearFaults();
    await fn();
  }, options);
}

/** The demo page with Uppy ready; `query` configures it (web/demo.js). */
async function openPage(query = '') {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on('pageerror', (e) => console.log(`page error: ${e.message}`));
  await page.goto(`${front.url}/?${query}`);
  await page.waitForFunction(() => window.upspoolUppy);
  return { page, context };
}

/** Gives `file` to the Dashboard's own file input (its "browse files"). */
async function addToUppy(page, file) {
  await page.setInputFiles('#uppy input.uppy-Dashboard-input[name="files[]"]:not([webkitdirectory])', file);
}

/** Waits for the first Uppy event of `kind` (after `from` events). */
async function event(page, kind, from = 0, timeout = 90_000) {
  const handle = await page.waitForFunction(
    ([k, f]) => window.upspoolEvents.slice(f).find((e) => e.widget === 'uppy' && (e.kind === k || e.kind === 'error')),
    [kind, from],
    { timeout, polling: 100 },
  );
  const e = await handle.jsonValue();
  assert.equal(e.kind, kind, `Uppy reported ${e.kind}: ${e.detail}`);
  return e;
}

/** Polls `probe` until it returns something truthy (or `ms` pass). */
async function until(probe, ms = 30_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const got = await probe();
    if (got) return got;
    if (Date.now() > deadline) return got;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The path of a tus URL or Location (`/upload/<id>`), and its id. */
const pathOf = (url) => new URL(url, front.url).pathname;
const idOf = (url) => pathOf(url).split('/').pop();

/** The tus upload the page created after `from` answers: its path, once known. */
function created(from) {
  const r = front.answers.slice(from).find((a) => a.method === 'POST' && a.status === 201 && a.headers.location);
  return r && pathOf(r.headers.location);
}

/** Every path below the spool whose name holds `id`. */
function inSpool(id) {
  const found = [];
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.name.includes(id)) found.push(path.relative(SPOOL, p));
      if (e.isDirectory()) walk(p);
    }
  };
  walk(SPOOL);
  return found;
}

const isPatch = (r) => r.method === 'PATCH' || (r.method === 'POST' && r.headers['x-http-method-override'] === 'PATCH');

/**
 * Waits until a PATCH answered after `from` answers has stored at least
 * `bytes` (its 204's Upload-Offset); that answer, or nothing after 30 s.
 */
function storedUpTo(from, bytes) {
  return until(() => front.answers.slice(from).find((a) => isPatch(a) && a.status === 204
    && Number(a.headers['upload-offset']) >= bytes));
}

// (a) ------------------------------------------------------------------------

scenario('Uppy: 20 MiB over tus, id from upload-success, claimed byte-identical', async () => {
  const f = makeFile('uppy-20mib.bin', 20 * MIB, 21);
  const { page, context } = await openPage();
  const from = front.answers.length;
  const seenFrom = front.seen.length;
  await addToUppy(page, f.path);
  const e = await event(page, 'success');
  assert.match(e.id, /^[0-9a-f]{32}$/, 'the id is the last segment of uploadURL');
  assert.equal(pathOf(e.detail), `${ENDPOINT}/${e.id}`, 'uploadURL is <endpoint>/<id>');
  assert.equal(created(from), `${ENDPOINT}/${e.id}`, 'the creation answered Location: <endpoint>/<id>');
  const sent = front.seen.slice(seenFrom);
  const req = sent.find((r) => r.method === 'POST' && r.headers['tus-resumable']);
  assert.equal(req.headers['upload-length'], String(f.size));
  assert.equal(sent.filter(isPatch).length, 1, 'Uppy\'s default: the whole file in one PATCH');
  // The page shows the id the way the other widgets' rows do.
  const shown = await page.textContent('#uppy-files li .id');
  assert.ok(shown.includes(`id: ${e.id}`), `the row shows the id: ${shown}`);
  const link = await page.getAttribute('#uppy-files li .id a', 'href');
  const restore = await fetch(new URL(link, front.url));
  assert.equal(restore.status, 200, 'the row\'s restore link serves the upload');
  assert.equal(sha(Buffer.from(await restore.arrayBuffer())), f.sha);
  assert.equal(claimed(e.id), f.sha);
  await context.close();
});

// (b) ------------------------------------------------------------------------

scenario('Uppy: reload mid-upload, add the same file again, it resumes from the server offset', async () => {
  const f = makeFile('uppy-resume.bin', 20 * MIB, 22);
  const chunk = MIB;
  const { page, context } = await openPage(`tuschunk=${chunk}`);
  front.slow(isPatch, 250);
  const from = front.answers.length;
  await addToUppy(page, f.path);
  // Wait until the server holds at least 4 MiB, then reload while the next
  // chunk is still held by the slow link.
  const held = await storedUpTo(from, 4 * MIB);
  assert.ok(held, 'four chunks were stored before the reload');
  const url = created(from);
  assert.ok(url, 'the upload was created');
  await page.reload();
  await page.waitForFunction(() => window.upspoolUppy);
  const stored = await page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('tus::')));
  assert.equal(stored.length, 1, `Uppy kept the upload's fingerprint across the reload: ${stored}`);
  front.clearSlow();
  const seenFrom = front.seen.length;
  const answersFrom = front.answers.length;
  await addToUppy(page, f.path);
  const e = await event(page, 'success');
  assert.equal(`${ENDPOINT}/${e.id}`, url, 'the same upload, not a new one');
  const after = front.seen.slice(seenFrom);
  assert.equal(after.filter((r) => r.method === 'POST' && !isPatch(r)).length, 0, 'no new creation');
  const head = front.answers.slice(answersFrom).find((a) => a.method === 'HEAD');
  assert.ok(head && pathOf(head.url) === url, 'Uppy asked HEAD for the offset');
  assert.equal(head.status, 200);
  const resumedAt = Number(head.headers['upload-offset']);
  assert.ok(resumedAt >= 4 * MIB, `the server's offset after the reload was ${resumedAt}`);
  const first = after.find(isPatch);
  assert.equal(Number(first.headers['upload-offset']), resumedAt, 'the first PATCH after the reload starts at that offset');
  assert.ok(after.filter(isPatch).every((r) => Number(r.headers['upload-offset']) >= resumedAt), 'nothing below it was sent again');
  assert.equal(claimed(e.id), f.sha);
  await context.close();
});

// (c) ------------------------------------------------------------------------

scenario('Uppy: remove the file mid-upload, DELETE terminates it, nothing stays in the spool', async () => {
  const f = makeFile('uppy-cancel.bin', 20 * MIB, 23);
  const { page, context } = await openPage(`tuschunk=${MIB}`);
  front.slow(isPatch, 250);
  const from = front.answers.length;
  await addToUppy(page, f.path);
  const started = await storedUpTo(from, 2 * MIB);
  assert.ok(started, 'the upload was under way');
  const url = created(from);
  const id = idOf(url);
  assert.ok(inSpool(id).length > 0, 'the incomplete upload is in the spool');
  await page.click('#uppy .uppy-Dashboard-Item-action--remove');
  await event(page, 'removed');
  const deleted = await until(() => front.answers.slice(from).find((a) => a.method === 'DELETE' && pathOf(a.url) === url));
  assert.ok(deleted, 'a DELETE of the upload reached the server');
  assert.equal(deleted.status, 204, 'termination answered 204');
  // A chunk the slow link still held is dropped with its client; wait for
  // anything in flight, then the upload must be gone.
  await new Promise((r) => setTimeout(r, 600));
  assert.deepEqual(inSpool(id), [], 'no file of the upload is left in the spool');
  const info = upspool(['info', id]);
  assert.notEqual(info.status, 0, `upspool info still knows it: ${info.stdout}`);
  const head = await fetch(`${front.url}${url}`, { method: 'HEAD', headers: { 'Tus-Resumable': '1.0.0' } });
  assert.ok([404, 410].includes(head.status), `HEAD after termination: ${head.status}`);
  assert.equal(await page.evaluate(() => document.querySelectorAll('#uppy-files li').length), 0, 'the row is gone');
  await context.close();
});

// Uppy keeps an upload's fingerprint after success (removeFingerprintOnSuccess
// is false): the same file added again first asks HEAD for the old upload.
// Once the application has claimed it, that is a 404 and Uppy makes a new one.
scenario('Uppy: the same file again after its upload was claimed is a new upload', async () => {
  const f = makeFile('uppy-again.bin', 2 * MIB, 26);
  const { page, context } = await openPage();
  await addToUppy(page, f.path);
  const first = await event(page, 'success');
  assert.equal(claimed(first.id), f.sha);
  await page.reload();
  await page.waitForFunction(() => window.upspoolUppy);
  const from = front.answers.length;
  await addToUppy(page, f.path);
  const again = await event(page, 'success');
  const head = front.answers.slice(from).find((a) => a.method === 'HEAD');
  assert.ok(head && pathOf(head.url) === `${ENDPOINT}/${first.id}`, 'Uppy tried its stored upload first');
  assert.equal(head.status, 404, 'a claimed upload is gone');
  assert.notEqual(again.id, first.id, 'a new upload, not the claimed one');
  assert.equal(claimed(again.id), f.sha);
  await context.close();
});

// Cross-origin ----------------------------------------------------------------

scenario('Uppy: cross-origin tus from an allowed origin (Location and Upload-Offset exposed)', async () => {
  const f = makeFile('uppy-cors.bin', 3 * MIB, 24);
  const direct = `http://${TARGET}${ENDPOINT}`;
  const { page, context } = await openPage(`endpoint=${encodeURIComponent(direct)}&tuschunk=${MIB}`);
  await addToUppy(page, f.path);
  const e = await event(page, 'success');
  assert.match(e.id, /^[0-9a-f]{32}$/);
  assert.equal(new URL(e.detail).origin, `http://${TARGET}`, 'uploadURL is resolved against the endpoint');
  assert.equal(claimed(e.id), f.sha);
  await context.close();
});

// Uppy's default: the whole file in one PATCH --------------------------------

// The demo's own configuration (no tuschunk): a reload in the middle of the
// one PATCH cuts its body. upspool keeps what arrived (tus.md TUS-21: durable
// progress, recorded when the body ends early), so the HEAD after the reload
// answers that offset and Uppy goes on from there. Straight to the deployment
// (the test's front buffers bodies), slowed by Chromium's own upload throttle.
scenario('Uppy: a reload mid-way through the one whole-file PATCH keeps the bytes that arrived', async () => {
  const f = makeFile('uppy-partial.bin', 20 * MIB, 25);
  const direct = `http://${TARGET}${ENDPOINT}`;
  const { page, context } = await openPage(`endpoint=${encodeURIComponent(direct)}`);
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  const throttle = (bytesPerSecond) => cdp.send('Network.emulateNetworkConditions',
    { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: bytesPerSecond });
  await throttle(4 * MIB);
  const heads = [];
  const patches = [];
  page.on('response', (r) => {
    if (r.request().method() === 'HEAD') heads.push(Number(r.headers()['upload-offset']));
  });
  page.on('request', (r) => {
    if (r.method() === 'PATCH') patches.push(Number(r.headers()['upload-offset']));
  });
  await addToUppy(page, f.path);
  await page.waitForFunction((min) => window.upspoolEvents.some((e) => e.kind === 'progress' && e.detail >= min),
    6 * MIB, { timeout: 30_000, polling: 50 });
  await page.reload();
  await page.waitForFunction(() => window.upspoolUppy);
  await throttle(-1);
  await addToUppy(page, f.path);
  const e = await event(page, 'success');
  assert.equal(claimed(e.id), f.sha);
  assert.equal(heads.length, 1, 'Uppy found its earlier upload and asked HEAD');
  assert.ok(heads[0] >= 4 * MIB, `the server kept the bytes of the cut PATCH: HEAD said Upload-Offset: ${heads[0]}`);
  assert.deepEqual(patches.slice(-1), [heads[0]], 'the PATCH after the reload starts at that offset');
  await context.close();
});
