-- IPIM (docs/ipim.md) for Wireshark/tshark 4.0:
--   tshark -X lua_script:tools/wireshark/ipim.lua -r FILE -V
-- or copy it into ~/.local/lib/wireshark/plugins/. As root it loads too (4.0's init.lua sets
-- run_user_scripts_when_superuser = true); "Running as user root" is only a warning. Two protocols:
--   ipim      a postdissector: the first IPIM option of the outermost IPv4 header (type 0x5E) or
--             of its IPv6 Hop-by-Hop header (type 0x3E), found from the IP dissectors' version
--             fields, so any link type the IP dissectors handle works;
--   ipim.e2e  a UDP heuristic: payloads that start with "IPIM" (any port); an echo's option is
--             decoded with the same ipim.* fields.
-- Field names follow the keys of tools/scapy/ipim.py decode(). A malformed option gets
-- ipim.malformed (short, version, slot_size, pointer) and an expert info; no slots then.

local ipim = Proto("ipim", "In-Protocol Internet Measurement option")
local e2e = Proto("ipim.e2e", "IPIM end-to-end block")

local band, rshift = bit32.band, bit32.rshift  -- Lua 5.2: no bit operators
local IP4_TYPE, IP6_TYPE, HDR_LEN, MAX_SLOTS = 0x5e, 0x3e, 18, 15

local F = ipim.fields
F.carrier = ProtoField.string("ipim.carrier", "Carrier")
F.type = ProtoField.uint8("ipim.type", "Option type", base.HEX)
F.length = ProtoField.uint8("ipim.length", "Length byte", base.DEC)
F.version = ProtoField.uint8("ipim.version", "Version", base.DEC, nil, 0xf0)
F.overflow = ProtoField.bool("ipim.overflow", "O: overflow", 8, nil, 0x08)
F.sample = ProtoField.bool("ipim.sample", "S: sampling requested", 8, nil, 0x04)
F.perf = ProtoField.bool("ipim.perf", "K: performance slots", 8, nil, 0x02)
F.target_ttl = ProtoField.uint8("ipim.target_ttl", "Target TTL", base.DEC)
F.ttl_prime = ProtoField.uint8("ipim.ttl_prime", "TTL'", base.DEC)
F.cap_unavailable = ProtoField.bool("ipim.cap_unavailable", "Capacity unavailable", 8, nil, 0x80)
F.queue_unavailable = ProtoField.bool("ipim.queue_unavailable", "Queue unavailable", 8, nil, 0x40)
F.next_slot = ProtoField.uint8("ipim.next_slot", "Next free slot", base.DEC, nil, 0x0f)
F.evolution = ProtoField.uint32("ipim.evolution", "Evolution", base.HEX)
F.min_capacity = ProtoField.uint16("ipim.min_capacity", "Minimum available capacity (code)",
                                   base.DEC)
F.min_capacity_bps = ProtoField.double("ipim.min_capacity_bps", "Minimum available capacity, bit/s")
F.reserved = ProtoField.uint16("ipim.reserved", "Reserved", base.HEX)
F.queue_sum_us = ProtoField.uint32("ipim.queue_sum_us", "Queue delay sum, us", base.DEC)
F.malformed = ProtoField.string("ipim.malformed", "Malformed")
F.slot = ProtoField.bytes("ipim.slot", "Slot")
F.slot_index = ProtoField.uint8("ipim.slot.index", "Index", base.DEC)
F.slot_ttl = ProtoField.uint8("ipim.slot.ttl", "Arrival TTL", base.DEC)
F.slot_flags = ProtoField.uint8("ipim.slot.flags", "Flags", base.HEX)
F.slot_written = ProtoField.bool("ipim.slot.written", "W: written", 8, nil, 0x80)
F.slot_perf = ProtoField.bool("ipim.slot.perf", "P: performance", 8, nil, 0x40)
F.slot_triggered = ProtoField.bool("ipim.slot.triggered", "T: triggered", 8, nil, 0x20)
F.slot_unavailable = ProtoField.uint8("ipim.slot.unavailable", "Unavailable", base.HEX, nil, 0x0f)
F.slot_router_id = ProtoField.ipv4("ipim.slot.router_id", "Router id")
F.slot_as = ProtoField.uint32("ipim.slot.as", "AS", base.DEC)
F.slot_ingress = ProtoField.string("ipim.slot.ingress", "Ingress address")
F.slot_egress = ProtoField.string("ipim.slot.egress", "Egress address")
F.slot_level = ProtoField.uint8("ipim.slot.level", "Congestion level (/254)", base.DEC)
F.slot_time_us = ProtoField.uint32("ipim.slot.time_us", "Time, us mod 2^32", base.DEC)
F.slot_queue_us = ProtoField.uint32("ipim.slot.queue_us", "Queue delay, us", base.DEC)
F.slot_avail = ProtoField.uint16("ipim.slot.avail_capacity", "Available capacity (code)", base.DEC)
F.slot_avail_bps = ProtoField.double("ipim.slot.avail_capacity_bps", "Available capacity, bit/s")
F.slot_cap = ProtoField.uint16("ipim.slot.capacity", "Link capacity (code)", base.DEC)
F.slot_cap_bps = ProtoField.double("ipim.slot.capacity_bps", "Link capacity, bit/s")

local ex_malformed = ProtoExpert.new("ipim.malformed.expert", "Malformed IPIM option",
                                     expert.group.MALFORMED, expert.severity.ERROR)
ipim.experts = { ex_malformed }

local G = e2e.fields
G.magic = ProtoField.string("ipim.e2e.magic", "Magic")
G.version = ProtoField.uint8("ipim.e2e.version", "Version", base.DEC)
G.type = ProtoField.uint8("ipim.e2e.type", "Type", base.DEC, { [1] = "probe", [2] = "echo" })
G.host_id = ProtoField.uint16("ipim.e2e.host_id", "Host id", base.HEX)
G.seq = ProtoField.uint32("ipim.e2e.seq", "Sequence", base.DEC)
G.nonce = ProtoField.uint32("ipim.e2e.nonce", "Nonce", base.HEX)
G.nonce_sum_echo = ProtoField.uint32("ipim.e2e.nonce_sum_echo", "Nonce sum echo", base.HEX)
G.t_us = ProtoField.uint32("ipim.e2e.t_us", "t, us", base.DEC)
G.t_echo_us = ProtoField.uint32("ipim.e2e.t_echo_us", "t echo, us", base.DEC)
G.delta_us = ProtoField.uint32("ipim.e2e.delta_us", "Delta, us", base.DEC)
G.coverage = ProtoField.uint16("ipim.e2e.coverage", "Coverage", base.HEX)
G.mode = ProtoField.uint8("ipim.e2e.mode", "Integrity mode", base.DEC,
                          { [0] = "plain", [1] = "sender salt", [2] = "shared salt" })
G.reserved = ProtoField.uint8("ipim.e2e.reserved", "Reserved", base.HEX)
G.hash = ProtoField.bytes("ipim.e2e.hash", "Hash")
G.hash_echo = ProtoField.bytes("ipim.e2e.hash_echo", "Hash echo")
G.rx_ttl = ProtoField.uint8("ipim.e2e.rx_ttl", "Probe TTL at arrival", base.DEC)
G.rx_tos = ProtoField.uint8("ipim.e2e.rx_tos", "Probe TOS at arrival", base.HEX)
G.option_len = ProtoField.uint16("ipim.e2e.option_len", "Option length", base.DEC)
G.option = ProtoField.bytes("ipim.e2e.option", "Option as received")
G.malformed = ProtoField.string("ipim.e2e.malformed", "Malformed")

local ex_e2e_short = ProtoExpert.new("ipim.e2e.malformed.expert", "Truncated IPIM end-to-end block",
                                     expert.group.MALFORMED, expert.severity.ERROR)
e2e.experts = { ex_e2e_short }

local function cap_bps(code)
  if code == 0 then return 0 end
  return 2 ^ (code / 1024)
end

local function add_cap(t, fcode, fbps, r)
  t:add(fcode, r)
  local c = r:uint()
  if c ~= 0xffff then t:add(fbps, r, cap_bps(c)):set_generated() end
end

local function malformed(t, code, text)
  t:add(F.malformed, code):set_generated()
  t:add_proto_expert_info(ex_malformed, text)
  t:append_text(" [malformed: " .. code .. "]")
end

local function addr_text(r)
  if r:len() == 16 then return tostring(r:ipv6()) end
  return tostring(r:ipv4())
end

local function dissect_slot(tvb, o, size, i, perf, ip6, tree)
  local r = tvb(o, size)
  local fl = tvb(o + 1, 1):uint()
  local st = tree:add(F.slot, r)
  st:set_text(string.format("Slot %d: arrival TTL %d%s", i, tvb(o, 1):uint(),
                            band(fl, 0x80) ~= 0 and "" or ", free"))
  st:add(F.slot_index, r, i):set_generated()
  st:add(F.slot_ttl, tvb(o, 1))
  local ft = st:add(F.slot_flags, tvb(o + 1, 1))
  for _, f in ipairs({ F.slot_written, F.slot_perf, F.slot_triggered, F.slot_unavailable }) do
    ft:add(f, tvb(o + 1, 1))
  end
  if perf then
    st:add(F.slot_level, tvb(o + 2, 1))
    st:add(F.slot_time_us, tvb(o + 4, 4))
    st:add(F.slot_queue_us, tvb(o + 8, 4))
    add_cap(st, F.slot_avail, F.slot_avail_bps, tvb(o + 12, 2))
    add_cap(st, F.slot_cap, F.slot_cap_bps, tvb(o + 14, 2))
  else
    local a = ip6 and 16 or 4
    st:add(F.slot_router_id, tvb(o + 4, 4))
    st:add(F.slot_as, tvb(o + 8, 4))
    st:add(F.slot_ingress, tvb(o + 12, a), addr_text(tvb(o + 12, a)))
    st:add(F.slot_egress, tvb(o + 12 + a, a), addr_text(tvb(o + 12 + a, a)))
  end
end

-- One option at `off` (its type byte), its container holding `avail` bytes from there.
local function dissect_option(tvb, off, avail, tree)
  avail = math.min(avail, tvb:len() - off)
  local ip6 = tvb(off, 1):uint() == IP6_TYPE
  local n = -1
  if avail >= 2 then
    n = tvb(off + 1, 1):uint() + (ip6 and 2 or 0)
  end
  local whole = n >= HDR_LEN and n <= avail
  local t = tree:add(ipim, tvb(off, whole and n or avail))
  t:set_text(ip6 and "IPIM option (IPv6 Hop-by-Hop 0x3e)" or "IPIM option (IPv4 0x5e)")
  t:add(F.carrier, ip6 and "ipv6" or "ipv4"):set_generated()
  t:add(F.type, tvb(off, 1))
  if avail >= 2 then t:add(F.length, tvb(off + 1, 1)) end
  if not whole then
    malformed(t, "short", string.format("option length %d: under %d or past the %d bytes there",
                                        n, HDR_LEN, avail))
    return t
  end
  local b2 = tvb(off + 2, 1)
  for _, f in ipairs({ F.version, F.overflow, F.sample, F.perf }) do t:add(f, b2) end
  t:add(F.target_ttl, tvb(off + 3, 1))
  t:add(F.ttl_prime, tvb(off + 4, 1))
  local b5 = tvb(off + 5, 1)
  for _, f in ipairs({ F.cap_unavailable, F.queue_unavailable, F.next_slot }) do t:add(f, b5) end
  t:add(F.evolution, tvb(off + 6, 4))
  add_cap(t, F.min_capacity, F.min_capacity_bps, tvb(off + 10, 2))
  t:add(F.reserved, tvb(off + 12, 2))
  t:add(F.queue_sum_us, tvb(off + 14, 4))

  local version, perf = rshift(b2:uint(), 4), band(b2:uint(), 0x02) ~= 0
  local next_slot = band(b5:uint(), 0x0f)
  local size = perf and 16 or (ip6 and 44 or 20)
  local count = math.floor((n - HDR_LEN) / size)
  if version ~= 1 then
    malformed(t, "version", "version " .. version .. ", not 1")
  elseif (n - HDR_LEN) % size ~= 0 or count > MAX_SLOTS then
    malformed(t, "slot_size", string.format("%d slot bytes: not a whole number (at most %d) of %d",
      n - HDR_LEN, MAX_SLOTS, size))
  elseif next_slot > count then
    malformed(t, "pointer", string.format("next free slot %d past the %d slots", next_slot, count))
  else
    for i = 0, count - 1 do
      dissect_slot(tvb, off + HDR_LEN + i * size, size, i, perf, ip6, t)
    end
    t:append_text(string.format(", %d %s slots, %d written", count,
                                perf and "performance" or "topology", next_slot))
  end
  return t
end

-- The first 0x5e option in the IPv4 header at `o`: offset and bytes left in the options area.
local function find4(tvb, o)
  local fin = math.min(tvb:len(), o + band(tvb(o, 1):uint(), 0x0f) * 4)
  local i = o + 20
  while i < fin do
    local t = tvb(i, 1):uint()
    if t == 0 then return nil end
    if t == IP4_TYPE then return i, fin - i end
    if t == 1 then
      i = i + 1
    else
      if i + 1 >= fin or tvb(i + 1, 1):uint() < 2 then return nil end
      i = i + tvb(i + 1, 1):uint()
    end
  end
  return nil
end

-- The first 0x3e option in the Hop-by-Hop header at `o`.
local function find6(tvb, o)
  if o + 2 > tvb:len() then return nil end
  local fin = math.min(tvb:len(), o + (tvb(o + 1, 1):uint() + 1) * 8)
  local i = o + 2
  while i < fin do
    local t = tvb(i, 1):uint()
    if t == IP6_TYPE then return i, fin - i end
    if t == 0 then
      i = i + 1
    else
      if i + 1 >= fin then return nil end
      i = i + tvb(i + 1, 1):uint() + 2
    end
  end
  return nil
end

local f_ip_version = Field.new("ip.version")
local f_ip6_version = Field.new("ipv6.version")

-- The outermost IP header: the lowest offset of a version field (the IPv6 dissector adds a
-- hidden ip.version too, so the version nibble decides the family).
local function outer_ip()
  local best
  for _, f in ipairs({ f_ip_version, f_ip6_version }) do
    for _, fi in ipairs({ f() }) do
      if not best or fi.offset < best.offset then best = fi end
    end
  end
  return best
end

function ipim.dissector(tvb, pinfo, tree)
  local fi = outer_ip()
  if not fi then return end
  local src, o = fi.source or tvb, fi.offset
  local version = rshift(src(o, 1):uint(), 4)
  local off, avail
  if version == 6 then
    if o + 40 < src:len() and src(o + 6, 1):uint() == 0 then
      off, avail = find6(src, o + 40)
    end
  elseif version == 4 and o + 20 <= src:len() then
    off, avail = find4(src, o)
  end
  if off then dissect_option(src, off, avail, tree) end
end
register_postdissector(ipim)

local function dissect_e2e(tvb, pinfo, tree)
  if tvb:len() < 52 or tvb(0, 4):string() ~= "IPIM" then return false end
  local ty = tvb(5, 1):uint()
  local t = tree:add(e2e, tvb())
  t:add(G.magic, tvb(0, 4))
  for _, x in ipairs({ { G.version, 4, 1 }, { G.type, 5, 1 }, { G.host_id, 6, 2 }, { G.seq, 8, 4 },
                       { G.nonce, 12, 4 }, { G.nonce_sum_echo, 16, 4 }, { G.t_us, 20, 4 },
                       { G.t_echo_us, 24, 4 }, { G.delta_us, 28, 4 }, { G.coverage, 32, 2 },
                       { G.mode, 34, 1 }, { G.reserved, 35, 1 }, { G.hash, 36, 8 },
                       { G.hash_echo, 44, 8 } }) do
    t:add(x[1], tvb(x[2], x[3]))
  end
  local kind = ty == 2 and "echo" or (ty == 1 and "probe" or "type " .. ty)
  t:append_text(string.format(", %s, seq %d", kind, tvb(8, 4):uint()))
  if ty == 2 then
    local n = tvb:len() >= 56 and tvb(54, 2):uint() or -1
    if n >= 0 then
      t:add(G.rx_ttl, tvb(52, 1))
      t:add(G.rx_tos, tvb(53, 1))
      t:add(G.option_len, tvb(54, 2))
    end
    if n < 0 or 56 + n > tvb:len() then
      t:add(G.malformed, "short"):set_generated()
      t:add_proto_expert_info(ex_e2e_short, "echo shorter than its option length says")
    elseif n > 0 then
      local ot = t:add(G.option, tvb(56, n))
      local oty = tvb(56, 1):uint()
      if oty == IP4_TYPE or oty == IP6_TYPE then dissect_option(tvb, 56, n, ot) end
    end
  end
  pinfo.cols.protocol:set("IPIM")
  return true
end
e2e:register_heuristic("udp", dissect_e2e)
