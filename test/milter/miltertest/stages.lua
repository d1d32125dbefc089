-- miltertest(8) script: every stage of sluice milter, driven by OpenDKIM's protocol test tool.
-- Run by test/milter/miltertest.test.ts with MILTER=inet:PORT@127.0.0.1. Fails with error().

local spec = os.getenv("MILTER")

local function expect(conn, want, what)
  local got = mt.getreply(conn)
  if got ~= want then error(what .. ": unexpected reply " .. tostring(got)) end
end

-- A valid X-MSYS-API: removed by index, X-Sluice-Message-ID added, message continues.
local conn = mt.connect(spec, 1, 1)
if conn == nil then error("mt.connect failed") end
mt.negotiate(conn, nil, nil, nil)
if mt.conninfo(conn, "localhost", "127.0.0.1") ~= nil then error("conninfo failed") end
if mt.getreply(conn) ~= SMFIR_CONTINUE then error("connect: not continued") end
if mt.mailfrom(conn, "<app@example.com>") ~= nil then error("mailfrom failed") end
expect(conn, SMFIR_CONTINUE, "mail")
if mt.rcptto(conn, "<you@example.net>") ~= nil then error("rcptto failed") end
-- No DATA: the filter negotiates SMFIP_NODATA (the MTA does not send it); miltertest refuses mt.data then.
if mt.header(conn, "Subject", "miltertest") ~= nil then error("header failed") end
if mt.header(conn, "X-MSYS-API", '{"campaign_id":"mt"}') ~= nil then error("header failed") end
-- EOH is negotiated without a reply (NR_EOH): miltertest reports it as continue.
if mt.eoh(conn) ~= nil then error("eoh failed") end
expect(conn, SMFIR_CONTINUE, "eoh")
if mt.bodystring(conn, "Hello.\r\n") ~= nil then error("body failed") end
if mt.eom(conn) ~= nil then error("eom failed") end
expect(conn, SMFIR_CONTINUE, "eom")
if not mt.eom_check(conn, MT_HDRCHANGE, "X-MSYS-API", "") then error("X-MSYS-API not removed") end
if not mt.eom_check(conn, MT_HDRADD, "X-Sluice-Message-ID") then error("X-Sluice-Message-ID not added") end

-- Abort, then an invalid X-MSYS-API on the same connection: 550 5.6.0 at end of message.
if mt.abort(conn) ~= nil then error("abort failed") end
if mt.mailfrom(conn, "<app@example.com>") ~= nil then error("mailfrom failed") end
expect(conn, SMFIR_CONTINUE, "mail 2")
if mt.rcptto(conn, "<you@example.net>") ~= nil then error("rcptto failed") end
if mt.header(conn, "X-MSYS-API", '{"tags":"x"}') ~= nil then error("header failed") end
if mt.eoh(conn) ~= nil then error("eoh failed") end
if mt.bodystring(conn, "Hello.\r\n") ~= nil then error("body failed") end
if mt.eom(conn) ~= nil then error("eom failed") end
expect(conn, SMFIR_REPLYCODE, "invalid header")
mt.disconnect(conn)
print("ok")
