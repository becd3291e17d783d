-- Static JSON POST: the body is read from the file named by BENCH_BODY_FILE
-- (it may hold a password or a token: it is never printed).
dofile(os.getenv("BENCH_LUA_DIR") .. "/done.lua")
local f = assert(io.open(os.getenv("BENCH_BODY_FILE"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
