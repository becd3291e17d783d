-- Static GET with "Authorization: Bearer <token>"; the token is read from the
-- file named by BENCH_TOKEN_FILE and never printed.
dofile(os.getenv("BENCH_LUA_DIR") .. "/done.lua")
local f = assert(io.open(os.getenv("BENCH_TOKEN_FILE"), "rb"))
local token = f:read("*l")
f:close()
wrk.method = "GET"
wrk.headers["Authorization"] = "Bearer " .. token
