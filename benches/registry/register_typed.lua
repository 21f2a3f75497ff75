-- wrk script for the JSON Schema and Protobuf subjects: every request registers a new version, the
-- subject's base schema (an `id` and 99 string fields) plus one field that no other request uses.
-- That is BACKWARD-compatible with whatever version came before (for JSON, under the LENIENT policy
-- run.sh sets: an optional property added to an open content model, and the previous request's
-- removed; for Protobuf, a field added and one removed), so every registration is new and
-- accepted, never the idempotent path.
-- Arguments: the schema type (JSON or PROTOBUF) and the subject.
-- `tid` is set per thread by setup(), as in register.lua.
local counter = 0
local threads = 0

function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

local function base(kind)
  local parts = {}
  for i = 1, 99 do
    if kind == "JSON" then
      parts[#parts + 1] = string.format('"f%d":{"type":"string"}', i)
    else
      parts[#parts + 1] = string.format("string f%d = %d;", i, i + 1)
    end
  end
  return table.concat(parts, kind == "JSON" and "," or " ")
end

function init(args)
  kind = args[1]
  subject = args[2]
  fields = base(kind)
end

local function json_string(s)
  return '"' .. s:gsub('\\', '\\\\'):gsub('"', '\\"') .. '"'
end

function request()
  counter = counter + 1
  local schema
  if kind == "JSON" then
    schema = string.format('{"type":"object","properties":{"id":{"type":"integer"},%s,"w%d_%d":{"type":"string"}}}',
      fields, tid, counter)
  else
    -- Field numbers from 20000 up skip the range 19000-19999 that Protobuf reserves.
    schema = string.format('syntax = "proto3"; package bench; message Bench { int64 id = 1; %s string w%d_%d = %d; }',
      fields, tid, counter, 20000 + counter * 8 + tid)
  end
  local body = '{"schemaType":"' .. kind .. '","schema":' .. json_string(schema) .. '}'
  return wrk.format("POST", "/subjects/" .. subject .. "/versions",
    {["Content-Type"] = "application/vnd.schemaregistry.v1+json"}, body)
end

function response(status, headers, body)
  if status ~= 200 then
    io.stderr:write("registration answered " .. status .. ": " .. body .. "\n")
  end
end
