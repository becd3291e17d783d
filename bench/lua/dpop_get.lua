-- GET with "Authorization: DPoP <token>" and a fresh DPoP proof per request (RFC 9449).
-- BENCH_TOKEN_FILE: the bound access token; BENCH_PROOF_FILE: pre-signed proofs, one per
-- line (bench_dpop_proofs), each sent once: each wrk thread takes its own slice. Should a
-- thread run out, it sends "proof-exhausted", which the server refuses (a status error,
-- never a replay). Neither the token nor a proof is ever printed.
dofile(os.getenv("BENCH_LUA_DIR") .. "/done.lua")
local threads = 0

function setup(thread)
   thread:set("thread_index", threads)
   threads = threads + 1
end

function init(args)
   local n = tonumber(os.getenv("BENCH_THREADS") or "1")
   local f = assert(io.open(os.getenv("BENCH_TOKEN_FILE"), "rb"))
   token = f:read("*l")
   f:close()
   proofs, next_proof, count = {}, 1, 0
   local i = 0
   for line in io.lines(os.getenv("BENCH_PROOF_FILE")) do
      if line ~= "" and i % n == thread_index then
         count = count + 1
         proofs[count] = line
      end
      i = i + 1
   end
end

function request()
   local proof = "proof-exhausted"
   if next_proof <= count then
      proof = proofs[next_proof]
      proofs[next_proof] = nil
      next_proof = next_proof + 1
   end
   return wrk.format("GET", nil, { ["Authorization"] = "DPoP " .. token, ["DPoP"] = proof })
end
