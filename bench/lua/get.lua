-- Static GET of the URL's path (no credentials).
dofile(os.getenv("BENCH_LUA_DIR") .. "/done.lua")
