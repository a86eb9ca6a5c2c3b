// upspool demo page: FilePond and Fine Uploader against one endpoint.
// Query parameters let the browser tests reuse this very page:
//   endpoint=URL   the upload endpoint (default /upload)
//   chunk=N        FilePond chunk size;  retries=0 disables FilePond's chunk retries
//   part=N         Fine Uploader part size;  concurrent=1 for concurrent chunking
//   cors=1         Fine Uploader expects a cross-origin endpoint (with credentials)
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
})();
