// upspool demo page: FilePond, Fine Uploader and Uppy (tus) against one endpoint.
// Query parameters let the browser tests reuse this very page:
//   endpoint=URL   the upload endpoint (default /upload)
//   chunk=N        FilePond chunk size;  retries=0 disables FilePond's chunk retries
//   part=N         Fine Uploader part size;  concurrent=1 for concurrent chunking
//   cors=1         Fine Uploader expects a cross-origin endpoint (with credentials)
//   tuschunk=N     Uppy's tus chunk size (default: the whole file in one PATCH)
// Every widget event is appended to window.upspoolEvents for the tests.
'use strict';
(function () {
  const params = new URLSearchParams(location.search);
  const endpoint = params.get('endpoint') || '/upload';
  const join = (key) => endpoint + (endpoint.includes('?') ? '&' : '?') + key;
  const events = (window.upspoolEvents = []);
  const record = (widget, kind, id, name, detail) => {
    events.push({ widget, kind, id, name, detail, at: Date.now() });
  };
  document.getElementById('endpoint').textContent = endpoint;
  if (!window.FilePond || !window.qq) {
    document.getElementById('missing').hidden = false;
    return;
  }

  // A row per file: name, state, the id, a restore link, and revert/delete.
  const row = (list, name) => {
    const li = document.createElement('li');
    li.innerHTML = '<strong></strong> <span class="state status-busy">uploading</span>' +
      '<div class="id"></div>';
    li.querySelector('strong').textContent = name;
    list.appendChild(li);
    return li;
  };
  const done = (li, id, remove) => {
    li.querySelector('.state').textContent = 'stored';
    li.querySelector('.state').className = 'state status-ok';
    const idBox = li.querySelector('.id');
    idBox.textContent = 'id: ' + id + ' ';
    const a = document.createElement('a');
    a.href = join('restore=' + encodeURIComponent(id));
    a.textContent = 'restore';
    a.target = '_blank';
    idBox.appendChild(a);
    if (remove) {
      const b = document.createElement('button');
      b.textContent = 'delete';
      b.onclick = () => remove(b);
      idBox.appendChild(b);
    }
  };
  const failed = (li, why) => {
    li.querySelector('.state').textContent = 'failed: ' + why;
    li.querySelector('.state').className = 'state status-error';
  };

  // FilePond: one URL for every action.
  const retries = params.get('retries') === '0' ? [] : [500, 1000, 3000];
  const pondRows = new Map();
  const pond = FilePond.create(document.getElementById('pond'), {
    server: endpoint,
    chunkUploads: true,
    chunkSize: Number(params.get('chunk') || 1000000),
    chunkRetryDelays: retries,
    allowRevert: true,
    credits: false,
    onaddfile: (error, file) => {
      if (!error) pondRows.set(file.id, row(document.getElementById('pond-files'), file.filename));
      record('filepond', 'added', null, file.filename);
    },
    onprocessfile: (error, file) => {
      const li = pondRows.get(file.id);
      if (error) {
        record('filepond', 'error', file.serverId, file.filename, error.body || error.type);
        if (li) failed(li, error.body || 'error');
        return;
      }
      record('filepond', 'processed', file.serverId, file.filename);
      if (li) done(li, file.serverId, null);
    },
    onprocessfilerevert: (file) => {
      record('filepond', 'reverted', file.serverId, file.filename);
      const li = pondRows.get(file.id);
      if (li) li.querySelector('.state').textContent = 'reverted';
    },
    onremovefile: (error, file) => {
      const li = pondRows.get(file.id);
      if (li) li.remove();
    },
  });
  window.upspoolPond = pond;

  // Fine Uploader (core API, the page draws its own list).
  const cors = params.get('cors') === '1';
  const fuRows = new Map();
  const uploader = new qq.FineUploaderBasic({
    autoUpload: true,
    request: { endpoint },
    chunking: {
      enabled: true,
      partSize: Number(params.get('part') || 1000000),
      concurrent: { enabled: params.get('concurrent') === '1' },
      success: { endpoint: join('done') },
    },
    resume: { enabled: true },
    retry: { enableAuto: true, maxAutoAttempts: 3, autoAttemptDelay: 1 },
    deleteFile: { enabled: true, endpoint },
    cors: { expected: cors, sendCredentials: cors },
    callbacks: {
      onSubmitted: function (id, name) {
        fuRows.set(id, row(document.getElementById('fu-files'), name));
      },
      onResume: function (id, name) {
        record('fineuploader', 'resume', this.getUuid(id), name);
      },
      onAutoRetry: function (id, name, attempt) {
        record('fineuploader', 'retry', this.getUuid(id), name, attempt);
      },
      onComplete: function (id, name, json) {
        const uuid = this.getUuid(id);
        if (json && json.success) {
          record('fineuploader', 'complete', uuid, name);
          done(fuRows.get(id), uuid, (button) => { button.disabled = true; uploader.deleteFile(id); });
        } else {
          record('fineuploader', 'error', uuid, name, json && json.error);
          failed(fuRows.get(id), (json && json.error) || 'error');
        }
      },
      onDeleteComplete: function (id, xhr, isError) {
        record('fineuploader', isError ? 'delete-error' : 'deleted', this.getUuid(id), this.getName(id), xhr && xhr.status);
        if (!isError) fuRows.get(id).querySelector('.state').textContent = 'deleted';
      },
    },
  });
  window.upspoolUploader = uploader;
  document.getElementById('fu-input').addEventListener('change', (e) => {
    uploader.addFiles(e.target.files);
    e.target.value = '';
  });

  // Uppy: Dashboard + Tus from Uppy's own ES module bundle (no bundler). tus
  // answers the creation with Location: <endpoint>/<id>; the id is its last
  // segment, and restores like any other upload's.
  const uppyRows = new Map();
  const uppyList = document.getElementById('uppy-files');
  import('/node_modules/uppy/dist/uppy.min.mjs').then(({ Uppy, Dashboard, Tus }) => {
    const uppy = new Uppy({ autoProceed: true })
      .use(Dashboard, {
        target: '#uppy',
        inline: true,
        width: '100%',
        height: 260,
        proudlyDisplayPoweredByUppy: false,
      })
      .use(Tus, { endpoint, chunkSize: Number(params.get('tuschunk')) || Infinity });
    uppy.on('file-added', (file) => {
      uppyRows.set(file.id, row(uppyList, file.name));
      record('uppy', 'added', null, file.name);
    });
    uppy.on('upload-progress', (file, progress) => {
      record('uppy', 'progress', null, file.name, progress.bytesUploaded);
    });
    uppy.on('upload-success', (file, response) => {
      const url = response.uploadURL;
      const id = new URL(url, location.href).pathname.split('/').pop();
      record('uppy', 'success', id, file.name, url);
      const li = uppyRows.get(file.id);
      if (li) done(li, id, null);
    });
    uppy.on('upload-error', (file, error) => {
      record('uppy', 'error', null, file && file.name, String(error && error.message));
      const li = file && uppyRows.get(file.id);
      if (li) failed(li, (error && error.message) || 'error');
    });
    uppy.on('file-removed', (file) => {
      record('uppy', 'removed', null, file.name);
      const li = uppyRows.get(file.id);
      if (li && li.querySelector('.state').textContent !== 'stored') li.remove();
      uppyRows.delete(file.id);
    });
    window.upspoolUppy = uppy;
  }).catch((e) => {
    record('uppy', 'missing', null, null, String(e));
    document.getElementById('missing').hidden = false;
  });
})();
