-- Stops after LIMIT answers and says so in the file DONE (wrk runs on to its -d
-- otherwise). Used by lib.sh's `requests`, and by scan.lua.
local limit = tonumber(os.getenv("LIMIT"))
local answered = 0
response = function()
  answered = answered + 1
  if answered == limit then
    local done = io.open(os.getenv("DONE"), "w")
    done:close()
    wrk.thread:stop()
  end
end
