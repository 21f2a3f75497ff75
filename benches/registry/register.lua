-- wrk script: every request registers a new version. Each body is the base schema (the subject's 100
-- preloaded fields) plus one field with a default that no other request uses, so every registration
-- is BACKWARD_TRANSITIVE-compatible and really new (never the idempotent path).
-- Arguments: base fields, subject, and a subject count n: with n = 0 every request goes to `subject`;
-- otherwise requests take turns over `subject.0` .. `subject.(n-1)`.
-- `tid` is set per thread by setup() as a global of that thread's Lua state; a `local tid` here
-- would shadow it and give every thread the same field names, so half the requests would be
-- idempotent re-registrations.
local counter = 0
local threads = 0

function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

function init(args)
  base_fields = args[1]
  subject = args[2]
  subjects = tonumber(args[3] or "0")
end

function request()
  counter = counter + 1
  local fields = base_fields .. string.format(
    ',{"name":"w%d_%d","type":"string","default":""}', tid, counter)
  local schema = '{"type":"record","name":"Bench","fields":[' .. fields .. ']}'
  local escaped = schema:gsub('\\', '\\\\'):gsub('"', '\\"')
  local body = '{"schema":"' .. escaped .. '"}'
  local target = subject
  if subjects > 0 then
    target = subject .. "." .. ((counter + tid) % subjects)
  end
  return wrk.format("POST", "/subjects/" .. target .. "/versions",
    {["Content-Type"] = "application/vnd.schemaregistry.v1+json"}, body)
end

function response(status, headers, body)
  if status ~= 200 then
    io.stderr:write("registration answered " .. status .. ": " .. body .. "\n")
  end
end
