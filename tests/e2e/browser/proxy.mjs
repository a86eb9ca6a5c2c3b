// The test's own front: serves the demo page (web/demo.html, web/demo.js and
// the widgets from node_modules, the same files `upspool serve` serves) and
// forwards the upload endpoint to the deployment under test. It records every
// request and can fail chosen ones: the fault switch lives here, never in
// upspool.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.gif': 'image/gif' };

function staticFile(pathname) {
  if (pathname === '/' || pathname === '/index.html') return path.join(ROOT, 'web/demo.html');
  if (pathname === '/demo.js') return path.join(ROOT, 'web/demo.js');
  const packages = ['/node_modules/filepond/dist/', '/node_modules/fine-uploader/fine-uploader/', '/node_modules/uppy/dist/'];
  if (packages.some((p) => pathname.startsWith(p))) {
    const file = path.join(ROOT, pathname);
    if (file.startsWith(path.join(ROOT, 'node_modules'))) return file;
  }
  return null;
}

/**
 * Starts the front on `port`, forwarding `endpoint` (and below) to `target`.
 * Returns { url, seen, answers, fail(match, times, status), clearFaults(),
 * slow(match, ms), clearSlow(), close() }. `slow` holds each matching request
 * `ms` before forwarding it (a slow link, so a page can be reloaded
 * mid-upload); a request whose client went away meanwhile is not forwarded. `answers` lists upstream responses as
 * { method, url, status, headers }.
 */
export async function startProxy({ port, target, endpoint }) {
  const seen = [];
  const answers = [];
  const faults = [];
  const delays = [];
  const [host, targetPort] = target.split(':');
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://front');
    const file = staticFile(url.pathname);
    if (file) {
      fs.readFile(file, (err, data) => {
        if (err) { res.writeHead(404); res.end('missing: run npm ci'); return; }
        res.writeHead(200, { 'Content-Type': TYPES[path.extname(file)] || 'application/octet-stream' });
        res.end(data);
      });
      return;
    }
    if (!(url.pathname === endpoint || url.pathname.startsWith(endpoint + '/'))) {
      res.writeHead(404);
      res.end('not found');
      return;
    }
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const entry = { method: req.method, url: req.url, headers: req.headers, body };
      seen.push(entry);
      const fault = faults.find((f) => f.times > 0 && f.match(entry));
      if (fault) {
        fault.times -= 1;
        res.writeHead(fault.status, { 'Content-Type': 'text/plain' });
        res.end('injected failure');
        return;
      }
      const headers = { ...req.headers, host: target, 'content-length': String(body.length) };
      delete headers['transfer-encoding'];
      const forward = () => {
        if (res.destroyed || req.socket.destroyed) return;
        const upstream = http.request({ host, port: Number(targetPort), method: req.method, path: req.url, headers }, (up) => {
          answers.push({ method: req.method, url: req.url, status: up.statusCode, headers: up.headers });
          res.writeHead(up.statusCode, up.statusMessage, up.headers);
          up.pipe(res);
        });
        upstream.on('error', (e) => { res.writeHead(502); res.end(String(e)); });
        upstream.end(body);
      };
      const delay = delays.find((d) => d.match(entry));
      if (delay) setTimeout(forward, delay.ms);
      else forward();
    });
  });
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    answers,
    fail(match, times = 1, status = 500) { faults.push({ match, times, status }); },
    clearFaults() { faults.length = 0; },
    slow(match, ms) { delays.push({ match, ms }); },
    clearSlow() { delays.length = 0; },
    close() { return new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); }); },
  };
}

/** The value of a multipart text field in a request body, if present. */
export function formField(body, name) {
  const text = body.toString('latin1');
  const m = text.match(new RegExp(`name="${name}"\\r\\n\\r\\n([^\\r]*)\\r\\n`));
  return m ? m[1] : undefined;
}
