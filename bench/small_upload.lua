-- wrk script: one 1 KiB upload per request, a fresh id each time.
-- WIDGET=fineuploader (default): a Fine Uploader multipart upload with a new qquuid.
-- WIDGET=filepond: a FilePond process request (metadata + file part).
local widget = os.getenv("WIDGET") or "fineuploader"
local boundary = "----upspoolbench7MA4YWxkTrZu0gW"
local payload = string.rep("0123456789abcdef", 64) -- 1 KiB
local counter = 0
local thread_id = 0
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("thread_id", threads)
end

function init(args)
  math.randomseed(os.time() * 1000 + thread_id)
end

local function part(name, value, filename)
  local head = "--" .. boundary .. "\r\nContent-Disposition: form-data; name=\"" .. name .. "\""
  if filename then
    head = head .. "; filename=\"" .. filename .. "\"\r\nContent-Type: application/octet-stream"
  end
  return head .. "\r\n\r\n" .. value .. "\r\n"
end

request = function()
  counter = counter + 1
  local body
  if widget == "filepond" then
    body = part("filepond", "{}") .. part("filepond", payload, "small.bin")
  else
    local id = string.format("%08x-%04x-4%03x-8%03x-%012x", math.random(0, 0x7fffffff), thread_id,
      math.random(0, 0xfff), math.random(0, 0xfff), counter)
    body = part("qquuid", id) .. part("qqfilename", "small.bin") .. part("qqtotalfilesize", "1024")
      .. part("qqfile", payload, "small.bin")
  end
  body = body .. "--" .. boundary .. "--\r\n"
  return wrk.format("POST", nil, {
    ["Content-Type"] = "multipart/form-data; boundary=" .. boundary,
    ["X-Requested-With"] = "XMLHttpRequest",
  }, body)
end
