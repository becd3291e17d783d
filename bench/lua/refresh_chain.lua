-- Refresh with rotation: every request spends a distinct, current refresh token.
-- BENCH_POOL_FILE holds a pool of refresh tokens of distinct login families, one
-- per line (minted before the run). Each wrk thread takes its own slice of the
-- pool; every 200 answer's rotated token goes back to the end of that thread's
-- queue, so a token is never sent twice and the pool never runs dry (it must hold
-- more tokens per thread than connections per thread). Should it run dry anyway,
-- an invalid token is sent and shows up as a status error, never as a reuse.
-- Tokens are never printed.
-- With BENCH_CLIENT_ID set, the request is the OAuth refresh grant instead (RFC 6749 §6,
-- form-encoded, a public client; BENCH_PATH /token) and the rotated token is read from
-- "refresh_token".
-- With BENCH_PROOF_FILE set, each request also carries the next DPoP proof of that file
-- (bench_dpop_proofs, one per line, each sent once; the pool's families are bound to its key).
dofile(os.getenv("BENCH_LUA_DIR") .. "/done.lua")

local path = os.getenv("BENCH_PATH") or "/api/token/refresh/"
local client_id = os.getenv("BENCH_CLIENT_ID")
local field = client_id and "refresh_token" or "refresh"
local threads = 0

function setup(thread)
   thread:set("thread_index", threads)
   threads = threads + 1
   thread:set("thread_count", threads)
end

function init(args)
   -- thread_count is only final for the last thread; BENCH_THREADS is authoritative.
   local n = tonumber(os.getenv("BENCH_THREADS") or "1")
   queue, head, tail = {}, 1, 0
   local i = 0
   for line in io.lines(os.getenv("BENCH_POOL_FILE")) do
      if line ~= "" and i % n == thread_index then
         tail = tail + 1
         queue[tail] = line
      end
      i = i + 1
   end
   proofs, next_proof, proof_count = nil, 1, 0
   local proof_file = os.getenv("BENCH_PROOF_FILE")
   if proof_file then
      proofs, i = {}, 0
      for line in io.lines(proof_file) do
         if line ~= "" and i % n == thread_index then
            proof_count = proof_count + 1
            proofs[proof_count] = line
         end
         i = i + 1
      end
   end
   if client_id then
      headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }
   else
      headers = { ["Content-Type"] = "application/json" }
   end
end

function request()
   local token
   if head <= tail then
      token = queue[head]
      queue[head] = nil
      head = head + 1
   else
      token = "pool-exhausted"
   end
   if proofs then
      local proof = "proof-exhausted"
      if next_proof <= proof_count then
         proof = proofs[next_proof]
         proofs[next_proof] = nil
         next_proof = next_proof + 1
      end
      headers["DPoP"] = proof
   end
   if client_id then
      -- Tokens and the client id are URL-safe: no percent-encoding needed.
      return wrk.format("POST", path, headers, "grant_type=refresh_token&client_id=" .. client_id
                        .. "&refresh_token=" .. token)
   end
   return wrk.format("POST", path, headers, '{"refresh":"' .. token .. '"}')
end

function response(status, hdrs, body)
   if status == 200 then
      local token = string.match(body, '"' .. field .. '"%s*:%s*"([^"]+)"')
      if token then
         tail = tail + 1
         queue[tail] = token
      end
   end
end
