-- Random paths (a scan), stopping as count.lua does.
dofile("benches/load/count.lua")
local sent = 0
request = function()
  sent = sent + 1
  return wrk.format("GET", "/scan/" .. sent .. "/" .. math.random(1, 1000000000))
end
