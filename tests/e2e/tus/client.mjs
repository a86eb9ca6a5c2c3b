// One tus-js-client upload against a running upspool, driven by the Rust
// tests in tests/e2e/tus_clients.rs. Node, the real client from
// node_modules (package-lock.json pins 4.3.1), and no other dependency.
//
//   node tests/e2e/tus/client.mjs '<json>'
//
// The JSON names:
//   endpoint   the creation URL, e.g. http://127.0.0.1:8080/upload
//   file       the file to send (read into a Buffer, the client's Node input)
//   options    tus-js-client options as given (chunkSize, parallelUploads,
//              uploadDataDuringCreation, uploadLengthDeferred,
//              overridePatchMethod, protocol, uploadUrl, metadata, ...);
//              retries are off unless `retryDelays` is given, so that a
//              server's refusal shows instead of being retried away
//   cutAt      optional fraction of the file: the first request body that
//              would carry more than that is sent slowly, stalls at that
//              byte, and the upload is aborted there (the connection cut
//              mid-PATCH that a resume must survive)
//   timeoutMs  a bound on the whole run (default 120 s)
//
// It prints one JSON line: { ok, url, error, requests, progress, cut }.
// Every request is listed with its method, URL, status and the tus headers
// of its answer (and the body of a refusal), as the evidence of a failure.
import fs from 'node:fs';
import { Readable } from 'node:stream';
import { Upload, DefaultHttpStack } from 'tus-js-client';

const spec = JSON.parse(process.argv[2]);
const data = fs.readFileSync(spec.file);
const requests = [];
// Each request's entry in `requests`, found again when its answer comes.
const entries = new WeakMap();
const progress = { first: null, last: null, count: 0 };
let cut = null;
let upload;

function finish(result) {
  process.stdout.write(`${JSON.stringify({ ...result, requests, progress, cut })}\n`);
  process.exit(result.ok ? 0 : 1);
}

const timer = setTimeout(
  () => finish({ ok: false, url: upload?.url ?? null, error: `timed out after ${spec.timeoutMs ?? 120000} ms` }),
  spec.timeoutMs ?? 120_000,
);

/** A body sent in 1 MiB pieces that stops at `stopAt` bytes, then calls `stalled`. */
function stallingBody(body, stopAt, stalled) {
  const piece = 1024 * 1024;
  let pos = 0;
  const stream = new Readable({
    read() {
      if (pos >= stopAt) return;
      const end = Math.min(pos + piece, stopAt);
      const chunk = body.subarray(pos, end);
      pos = end;
      setTimeout(() => {
        this.push(chunk);
        if (pos >= stopAt) setTimeout(stalled, 500);
      }, 5);
    },
  });
  stream.size = body.length;
  return stream;
}

/** The default Node stack, except that the one body crossing the cut stalls there. */
class CuttingStack {
  constructor(cutBytes) {
    this.inner = new DefaultHttpStack();
    this.cutBytes = cutBytes;
  }

  createRequest(method, url) {
    const req = this.inner.createRequest(method, url);
    const send = req.send.bind(req);
    req.send = (body) => {
      const offset = Number(req.getHeader('Upload-Offset') ?? 0);
      const size = body?.length ?? 0;
      if (cut === null && body instanceof Uint8Array && offset + size > this.cutBytes) {
        const stopAt = this.cutBytes - offset;
        cut = { method, url, offset, bodySize: size, sentBeforeCut: stopAt };
        body = stallingBody(body, stopAt, () => {
          cut.abortedAt = Date.now();
          upload.abort().then(() => {
            // Let the server see the connection go before we report.
            setTimeout(() => finish({ ok: true, url: upload.url, error: null }), 300);
          });
        });
      }
      return send(body);
    };
    return req;
  }

  getName() {
    return 'CuttingStack';
  }
}

const SENT_HEADERS = [
  'Content-Type', 'Upload-Offset', 'Upload-Length', 'Upload-Defer-Length', 'Upload-Concat',
  'Upload-Complete', 'Upload-Draft-Interop-Version', 'Tus-Resumable', 'X-HTTP-Method-Override',
];
const TUS_HEADERS = [
  'Location', 'Upload-Offset', 'Upload-Length', 'Upload-Defer-Length', 'Upload-Concat',
  'Upload-Expires', 'Upload-Complete', 'Upload-Incomplete', 'Upload-Draft-Interop-Version',
  'Tus-Resumable', 'Tus-Version',
];

const options = {
  endpoint: spec.endpoint,
  metadata: { filename: 'tus-js.bin', filetype: 'application/octet-stream' },
  retryDelays: null,
  ...spec.options,
  onBeforeRequest(req) {
    const sent = {};
    for (const name of SENT_HEADERS) {
      const value = req.getHeader(name);
      if (value !== undefined) sent[name] = value;
    }
    const entry = { method: req.getMethod(), url: req.getURL(), sent, status: null };
    requests.push(entry);
    entries.set(req, entry);
  },
  onAfterResponse(req, res) {
    const entry = entries.get(req);
    entry.status = res.getStatus();
    entry.headers = {};
    for (const name of TUS_HEADERS) {
      const value = res.getHeader(name);
      if (value !== undefined) entry.headers[name] = value;
    }
    if (entry.status >= 300) entry.body = res.getBody();
  },
  onProgress(sent, total) {
    if (progress.first === null) progress.first = sent;
    progress.last = sent;
    progress.total = total;
    progress.count += 1;
  },
  onSuccess() {
    clearTimeout(timer);
    finish({ ok: true, url: upload.url, error: null });
  },
  onError(err) {
    clearTimeout(timer);
    finish({ ok: false, url: upload.url ?? null, error: String(err?.message ?? err) });
  },
};
if (spec.cutAt !== undefined) {
  options.httpStack = new CuttingStack(Math.floor(data.length * spec.cutAt));
}

upload = new Upload(data, options);
upload.start();
