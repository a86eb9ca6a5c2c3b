-- wrk script: 1 KiB tus uploads, each a creation (POST, Upload-Length 1024)
-- followed by one PATCH of the 1 KiB to the Location it answered.
-- TUS_ENDPOINT: the creation path (default /upload; /files for the peers).
-- wrk calls request() per connection and has no per-connection state, so the
-- Locations of answered creations wait in the thread's queue; every request
-- takes one and PATCHes it if there is one, else creates. The thread's
-- counts of 201 and 204 answers are printed by done().
local endpoint = os.getenv("TUS_ENDPOINT") or "/upload"
local payload = string.rep("0123456789abcdef", 64) -- 1 KiB
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  pending, first, last = {}, 1, 0
  created, patched = 0, 0
end

request = function()
  if first <= last then
    local path = pending[first]
    pending[first] = nil
    first = first + 1
    return wrk.format("PATCH", path, {
      ["Tus-Resumable"] = "1.0.0",
      ["Upload-Offset"] = "0",
      ["Content-Type"] = "application/offset+octet-stream",
    }, payload)
  end
  return wrk.format("POST", endpoint, {
    ["Tus-Resumable"] = "1.0.0",
    ["Upload-Length"] = "1024",
  }, "")
end

response = function(status, headers, body)
  if status == 201 then
    for k, v in pairs(headers) do
      if string.lower(k) == "location" then
        last = last + 1
        -- An absolute URL (the peers) or a path (upspool): keep the path.
        pending[last] = string.gsub(v, "^https?://[^/]+", "")
        created = created + 1
        break
      end
    end
  elseif status == 204 then
    patched = patched + 1
  end
end

function done(summary, latency, requests)
  local c, p = 0, 0
  for _, t in ipairs(threads) do
    c = c + t:get("created")
    p = p + t:get("patched")
  end
  io.write(string.format("tus created: %d patched: %d\n", c, p))
end
