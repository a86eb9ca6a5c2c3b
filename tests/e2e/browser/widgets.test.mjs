// The real, unmodified FilePond and Fine Uploader in a real Chromium, on the
// demo page, uploading through the deployment the Rust driver started
// (tests/e2e/browser.rs): upspool serve, nginx → FastCGI, or nginx → fcgiwrap
// → CGI. Every scenario compares the SHA-256 of the bytes the browser sent
// with the bytes upspool stored.
import { before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { formField } from './proxy.mjs';
import {
  env, TARGET, ENDPOINT, MIB, sha, launch, startFront, finish, scenario, makeFile, claimed,
} from './harness.mjs';

let browser;
let front; // the allowed page origin, also the same-origin front
let stranger; // a page origin that CORS does not list

before(async () => {
  browser = await launch('upspool-browser-');
  front = await startFront('UPSPOOL_PAGE_PORT');
  stranger = await startFront('UPSPOOL_OTHER_PORT');
});

after(async () => {
  await browser?.close();
  await front?.close();
  await stranger?.close();
  finish();
});

async function openPage(query = '', origin = front.url) {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on('pageerror', (e) => console.log(`page error: ${e.message}`));
  await page.goto(`${origin}/?${query}`);
  await page.waitForFunction(() => window.upspoolPond && window.upspoolUploader);
  return { page, context };
}

/** Waits for the first widget event of `kind` (after `from` events). */
async function event(page, widget, kind, from = 0, timeout = 60_000) {
  const handle = await page.waitForFunction(
    ([w, k, f]) => window.upspoolEvents.slice(f).find((e) => e.widget === w && e.kind === k),
    [widget, kind, from],
    { timeout },
  );
  return handle.jsonValue();
}

function get(url) {
  return new Promise((resolve, reject) => {
    http.get(url, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
    }).on('error', reject);
  });
}

/** Polls `probe` until it returns `want` (or 10 s pass); returns the last value. */
async function eventually(probe, want) {
  let last;
  for (let i = 0; i < 100; i++) {
    last = await probe();
    if (last === want) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  return last;
}

/** SHA-256 of `?restore=<id>`, or the status when it fails. */
async function restored(id) {
  const r = await get(`${front.url}${ENDPOINT}?restore=${encodeURIComponent(id)}`);
  return r.status === 200 ? sha(r.body) : `status ${r.status}`;
}

const pondInput = 'input.filepond--browser';

// ---- FilePond -------------------------------------------------------------

scenario('FilePond: one small file', async () => {
  const f = makeFile('small.txt', 10_000, 1);
  const { page, context } = await openPage();
  await page.setInputFiles(pondInput, f.path);
  const e = await event(page, 'filepond', 'processed');
  assert.match(e.id, /^[0-9a-f]{32}$/);
  assert.equal(await restored(e.id), f.sha);
  await context.close();
});

scenario('FilePond: chunked upload, 1 MiB chunks', async () => {
  const f = makeFile('chunked.bin', 5.5 * MIB, 2);
  const { page, context } = await openPage(`chunk=${MIB}`);
  const before = front.seen.length;
  await page.setInputFiles(pondInput, f.path);
  const e = await event(page, 'filepond', 'processed');
  const patches = front.seen.slice(before).filter((r) => r.method === 'PATCH');
  assert.equal(patches.length, 6, 'six chunks of 1 MiB');
  assert.equal(claimed(e.id), f.sha);
  await context.close();
});

scenario('FilePond: interrupted chunked upload resumes through HEAD', async () => {
  const f = makeFile('interrupted.bin', 5.5 * MIB, 3);
  const { page, context } = await openPage(`chunk=${MIB}&retries=0`);
  const before = front.seen.length;
  front.fail((r) => r.method === 'PATCH' && r.headers['upload-offset'] === String(3 * MIB), 1, 500);
  await page.setInputFiles(pondInput, f.path);
  await event(page, 'filepond', 'error');
  await page.click('.filepond--action-retry-item-processing');
  const e = await event(page, 'filepond', 'processed');
  const after = front.seen.slice(before);
  assert.ok(after.some((r) => r.method === 'HEAD' && r.url.includes(`patch=${e.id}`)), 'the widget asked HEAD ?patch= for the offset');
  const resent = after.filter((r) => r.method === 'PATCH' && r.headers['upload-offset'] === '0');
  assert.equal(resent.length, 1, 'chunks below the offset were not sent again');
  assert.equal(await restored(e.id), f.sha);
  await context.close();
});

scenario('FilePond: revert, after which restore fails', async () => {
  const f = makeFile('revert.txt', 3000, 4);
  const { page, context } = await openPage();
  await page.setInputFiles(pondInput, f.path);
  const e = await event(page, 'filepond', 'processed');
  assert.equal(await restored(e.id), f.sha);
  await page.click('.filepond--action-revert-item-processing');
  await event(page, 'filepond', 'reverted');
  // FilePond reports the revert as soon as it sends it: wait for the DELETE
  // to have been answered, then restore must fail.
  assert.equal(await eventually(() => restored(e.id), 'status 404'), 'status 404');
  assert.ok(front.seen.some((r) => r.method === 'DELETE' && r.body.toString().trim() === e.id), 'the widget sent DELETE with the id');
  await context.close();
});

scenario('FilePond: restore a limbo file by its server id', async () => {
  const f = makeFile('limbo file.txt', 12_345, 5);
  const { page, context } = await openPage();
  await page.setInputFiles(pondInput, f.path);
  const e = await event(page, 'filepond', 'processed');
  const { page: page2, context: context2 } = await openPage();
  await page2.evaluate((id) => window.upspoolPond.addFile(id, { type: 'limbo' }), e.id);
  await event(page2, 'filepond', 'added');
  const got = await page2.evaluate(async () => {
    const item = window.upspoolPond.getFile();
    const buf = await item.file.arrayBuffer();
    const digest = await crypto.subtle.digest('SHA-256', buf);
    return { name: item.filename, size: item.fileSize, serverId: item.serverId,
      sha: [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('') };
  });
  assert.deepEqual(got, { name: 'limbo file.txt', size: f.size, serverId: e.id, sha: f.sha });
  await context.close();
  await context2.close();
});

// ---- Fine Uploader --------------------------------------------------------

const fuInput = '#fu-input';

scenario('Fine Uploader: simple upload', async () => {
  const f = makeFile('simple.txt', 50_000, 6);
  const { page, context } = await openPage(`part=${MIB}`);
  await page.setInputFiles(fuInput, f.path);
  const e = await event(page, 'fineuploader', 'complete');
  assert.equal(await restored(e.id), f.sha);
  await context.close();
});

scenario('Fine Uploader: chunked upload', async () => {
  const f = makeFile('chunked-fu.bin', 3.5 * MIB, 7);
  const { page, context } = await openPage(`part=${MIB}`);
  await page.setInputFiles(fuInput, f.path);
  const e = await event(page, 'fineuploader', 'complete');
  assert.equal(claimed(e.id), f.sha);
  await context.close();
});

scenario('Fine Uploader: concurrent chunking with the success endpoint', async () => {
  const f = makeFile('concurrent.bin', 4.2 * MIB, 8);
  const { page, context } = await openPage(`part=${MIB / 2}&concurrent=1`);
  const before = front.seen.length;
  await page.setInputFiles(fuInput, f.path);
  const e = await event(page, 'fineuploader', 'complete');
  const done = front.seen.slice(before).filter((r) => r.method === 'POST' && /[?&]done\b/.test(r.url));
  assert.equal(done.length, 1, 'one success request');
  assert.equal(await restored(e.id), f.sha);
  await context.close();
});

scenario('Fine Uploader: automatic retry after one failed chunk', async () => {
  const f = makeFile('retry.bin', 2.5 * MIB, 9);
  const { page, context } = await openPage(`part=${MIB}`);
  front.fail((r) => r.method === 'POST' && formField(r.body, 'qqpartindex') === '1', 1, 500);
  await page.setInputFiles(fuInput, f.path);
  await event(page, 'fineuploader', 'retry');
  const e = await event(page, 'fineuploader', 'complete');
  assert.equal(await restored(e.id), f.sha);
  await context.close();
});

scenario('Fine Uploader: resume after a page reload', async () => {
  const f = makeFile('resume.bin', 4.5 * MIB, 10);
  const { page, context } = await openPage(`part=${MIB}`);
  front.fail((r) => r.method === 'POST' && formField(r.body, 'qqpartindex') === '2', 100, 500);
  await page.setInputFiles(fuInput, f.path);
  const failed = await event(page, 'fineuploader', 'error', 0, 30_000);
  front.clearFaults();
  await page.reload();
  await page.waitForFunction(() => window.upspoolUploader);
  const before = front.seen.length;
  await page.setInputFiles(fuInput, f.path);
  const resumed = await event(page, 'fineuploader', 'resume');
  const e = await event(page, 'fineuploader', 'complete');
  assert.equal(resumed.id, failed.id, 'the same uuid after the reload');
  assert.equal(e.id, failed.id);
  const sent = front.seen.slice(before).filter((r) => r.method === 'POST' && formField(r.body, 'qqpartindex') !== undefined);
  assert.ok(sent.every((r) => Number(formField(r.body, 'qqpartindex')) >= 2), 'parts 0 and 1 were not sent again');
  assert.ok(sent.some((r) => formField(r.body, 'qqresume') === 'true'), 'qqresume=true was sent');
  assert.equal(claimed(e.id), f.sha);
  await context.close();
});

scenario('Fine Uploader: delete', async () => {
  const f = makeFile('delete-me.txt', 2000, 11);
  const { page, context } = await openPage();
  await page.setInputFiles(fuInput, f.path);
  const e = await event(page, 'fineuploader', 'complete');
  assert.equal(await restored(e.id), f.sha);
  await page.click('#fu-files button');
  await event(page, 'fineuploader', 'deleted');
  assert.equal(await restored(e.id), 'status 404');
  await context.close();
});

// ---- Cross-origin ---------------------------------------------------------

const direct = `http://${TARGET}${ENDPOINT}`;

scenario('cross-origin: both widgets from an allowed origin', async () => {
  const { page, context } = await openPage(`endpoint=${encodeURIComponent(direct)}&cors=1`);
  const a = makeFile('cors-pond.txt', 20_000, 12);
  await page.setInputFiles(pondInput, a.path);
  const p = await event(page, 'filepond', 'processed');
  assert.equal(await restored(p.id), a.sha);
  const b = makeFile('cors-fu.txt', 20_000, 13);
  await page.setInputFiles(fuInput, b.path);
  const u = await event(page, 'fineuploader', 'complete');
  assert.equal(await restored(u.id), b.sha);
  await context.close();
});

scenario('cross-origin: refused when the origin is not allowed', async () => {
  const { page, context } = await openPage(`endpoint=${encodeURIComponent(direct)}&cors=1`, stranger.url);
  const a = makeFile('stranger.txt', 5000, 14);
  await page.setInputFiles(pondInput, a.path);
  await event(page, 'filepond', 'error');
  await page.setInputFiles(fuInput, a.path);
  await event(page, 'fineuploader', 'error');
  await context.close();
});

// ---- The screenshot for the README ----------------------------------------

scenario('demo page screenshot', async () => {
  const { page, context } = await openPage(`chunk=${MIB}&part=${MIB}`);
  await page.waitForFunction(() => window.upspoolUppy);
  await page.setViewportSize({ width: 1400, height: 620 });
  await page.setInputFiles(pondInput, makeFile('photo.jpg', 1.5 * MIB, 15).path);
  await page.setInputFiles(fuInput, makeFile('report.pdf', 2.5 * MIB, 16).path);
  await page.setInputFiles('#uppy input.uppy-Dashboard-input[name="files[]"]:not([webkitdirectory])',
    makeFile('video.mp4', 3.5 * MIB, 17).path);
  await event(page, 'filepond', 'processed');
  await event(page, 'fineuploader', 'complete');
  await event(page, 'uppy', 'success');
  await page.waitForTimeout(800);
  await page.screenshot({ path: env.UPSPOOL_SCREENSHOT });
  await context.close();
}, { skip: !env.UPSPOOL_SCREENSHOT && 'only the serve run takes the screenshot' });
