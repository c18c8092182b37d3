-- Wireshark dissector for the dualrpc raw protocol, version 1.x
-- (docs/PROTOCOL.md is the specification; section numbers below refer to it).
--
-- Load it with `tshark -X lua_script:contrib/wireshark/dualrpc.lua ...` or
-- copy it into ~/.local/lib/wireshark/plugins/ (contrib/wireshark/README.md).
--
-- What it decodes:
--   * the 8-byte connection preface (magic, major, minor, reserved), §2;
--   * every 12-byte frame header field (payload length, type, flags with
--     END_STREAM / COMPRESSED / ACK, reserved, call id), §3;
--   * REQUEST and RESPONSE call headers (wire.proto RequestHeader and
--     ResponseHeader, walked by hand here: they are small and fixed), §4;
--   * the message part, handed to Wireshark's protobuf dissector with the
--     method path exactly as Wireshark's gRPC dissector passes it
--     ("application/grpc,/pkg.Svc/Method,request|response"), so that message
--     fields appear once the protobuf search path holds the service's .proto;
--   * CANCEL, PING (payload, ACK), GOAWAY (last call id, status), §5;
--   * streaming (§7, version 1.1): MESSAGE frames, their message handed to
--     the protobuf dissector like a REQUEST's or RESPONSE's (typed by the
--     call's REQUEST; its direction tells request from response), the
--     half-close (MESSAGE with END_STREAM), and WINDOW_UPDATE with its
--     increment.
-- Malformed frames get expert info naming the rule of PROTOCOL.md they break.
--
-- How it finds the protocol: as a TCP heuristic dissector it recognises the
-- preface magic "DRPC" at the start of a segment and then claims the whole
-- conversation; for a capture that starts mid-connection, set the port
-- preference (dualrpc.tcp_port) or use Decode As... -> DUALRPC.
--
-- Reassembly: a segment may end inside a preface or a frame, and may carry
-- many frames; the dissector asks TCP for the missing bytes through
-- pinfo.desegment_offset / desegment_len and decodes every complete PDU.
-- A PDU starting with "DRPC" is a preface, never a frame: as a frame header
-- those four bytes would announce a 1,146,245,187-byte payload, far above
-- any frame limit (§4.3).

local dualrpc = Proto("dualrpc", "dualrpc raw protocol")

---------------------------------------------------------------------------
-- Constants of the wire (PROTOCOL.md)

local kMagic = "DRPC"
local kPrefaceLength = 8
local kFrameHeaderLength = 12
local kSupportedMajor = 1
local kPingPayloadLength = 8

local kRequest, kResponse, kCancel, kPing, kGoaway, kMessage = 1, 2, 3, 4, 5, 6
local kWindowUpdate = 7
local kWindowUpdateLength = 4
local kSettings = 8

local frame_type_names = {
  [kRequest] = "REQUEST",
  [kResponse] = "RESPONSE",
  [kCancel] = "CANCEL",
  [kPing] = "PING",
  [kGoaway] = "GOAWAY",
  [kMessage] = "MESSAGE",
  [kWindowUpdate] = "WINDOW_UPDATE",
  [kSettings] = "SETTINGS",
}

local kFlagEndStream, kFlagCompressed, kFlagAck = 0x01, 0x02, 0x80

local status_names = {
  [0] = "OK", [1] = "CANCELLED", [2] = "UNKNOWN", [3] = "INVALID_ARGUMENT",
  [4] = "DEADLINE_EXCEEDED", [5] = "NOT_FOUND", [6] = "ALREADY_EXISTS",
  [7] = "PERMISSION_DENIED", [8] = "RESOURCE_EXHAUSTED",
  [9] = "FAILED_PRECONDITION", [10] = "ABORTED", [11] = "OUT_OF_RANGE",
  [12] = "UNIMPLEMENTED", [13] = "INTERNAL", [14] = "UNAVAILABLE",
  [15] = "DATA_LOSS", [16] = "UNAUTHENTICATED",
}

---------------------------------------------------------------------------
-- Fields (filterable as dualrpc.*)

local F = {
  preface = ProtoField.bytes("dualrpc.preface", "Preface"),
  magic = ProtoField.string("dualrpc.preface.magic", "Magic"),
  major = ProtoField.uint8("dualrpc.preface.major", "Major version"),
  minor = ProtoField.uint8("dualrpc.preface.minor", "Minor version"),
  preface_reserved = ProtoField.uint16("dualrpc.preface.reserved", "Reserved",
                                       base.HEX),

  frame = ProtoField.bytes("dualrpc.frame", "Frame"),
  length = ProtoField.uint32("dualrpc.length", "Payload length"),
  type = ProtoField.uint8("dualrpc.type", "Type", base.HEX, frame_type_names),
  flags = ProtoField.uint8("dualrpc.flags", "Flags", base.HEX),
  flag_end_stream = ProtoField.bool("dualrpc.flags.end_stream", "END_STREAM",
                                    8, nil, kFlagEndStream),
  flag_compressed = ProtoField.bool("dualrpc.flags.compressed", "COMPRESSED",
                                    8, nil, kFlagCompressed),
  flag_ack = ProtoField.bool("dualrpc.flags.ack", "ACK", 8, nil, kFlagAck),
  reserved = ProtoField.uint16("dualrpc.reserved", "Reserved", base.HEX),
  call_id = ProtoField.uint32("dualrpc.call_id", "Call id"),
  payload = ProtoField.bytes("dualrpc.payload", "Payload"),

  header_length = ProtoField.uint32("dualrpc.header_length", "Header length"),
  request_header = ProtoField.bytes("dualrpc.request_header", "RequestHeader"),
  response_header = ProtoField.bytes("dualrpc.response_header",
                                     "ResponseHeader"),
  method = ProtoField.string("dualrpc.method", "Method"),
  timeout_micros = ProtoField.uint64("dualrpc.timeout_micros",
                                     "Timeout (microseconds)"),
  status_code = ProtoField.int32("dualrpc.status_code", "Status code",
                                 base.DEC, status_names),
  status_message = ProtoField.string("dualrpc.status_message",
                                     "Status message"),
  metadata = ProtoField.bytes("dualrpc.metadata", "Metadata entry"),
  metadata_key = ProtoField.string("dualrpc.metadata.key", "Key"),
  metadata_value = ProtoField.bytes("dualrpc.metadata.value", "Value"),
  unknown_field = ProtoField.bytes("dualrpc.unknown_field",
                                   "Unknown header field"),
  message = ProtoField.bytes("dualrpc.message", "Message"),
  request_in = ProtoField.framenum("dualrpc.request_in", "Request in"),

  ping_payload = ProtoField.bytes("dualrpc.ping.payload", "PING payload"),
  window_increment = ProtoField.uint32("dualrpc.window_update.increment",
                                       "Window increment"),
  goaway_last_call_id = ProtoField.uint32("dualrpc.goaway.last_call_id",
                                          "Last call id"),
  goaway_code = ProtoField.int32("dualrpc.goaway.status_code", "Status code",
                                 base.DEC, status_names),
  goaway_message = ProtoField.string("dualrpc.goaway.status_message",
                                     "Status message"),

  -- SETTINGS (§5.6): wire.v1.Settings, fields 1-5.
  settings_max_message_bytes = ProtoField.uint32(
      "dualrpc.settings.max_message_bytes", "Max message bytes"),
  settings_max_header_bytes = ProtoField.uint32(
      "dualrpc.settings.max_header_bytes", "Max header bytes"),
  settings_max_calls_in_flight = ProtoField.uint32(
      "dualrpc.settings.max_calls_in_flight", "Max calls in flight"),
  settings_initial_window_bytes = ProtoField.uint32(
      "dualrpc.settings.initial_window_bytes", "Initial window bytes"),
  settings_idle_timeout_millis = ProtoField.uint64(
      "dualrpc.settings.idle_timeout_millis", "Idle timeout (ms)"),
}

-- Settings field number -> (field, short name for the summary).
local settings_fields = {
  [1] = { "settings_max_message_bytes", "max_message_bytes" },
  [2] = { "settings_max_header_bytes", "max_header_bytes" },
  [3] = { "settings_max_calls_in_flight", "max_calls_in_flight" },
  [4] = { "settings_initial_window_bytes", "initial_window_bytes" },
  [5] = { "settings_idle_timeout_millis", "idle_timeout_millis" },
}
local field_list = {}
for _, field in pairs(F) do field_list[#field_list + 1] = field end
dualrpc.fields = field_list

local E = {
  malformed = ProtoExpert.new("dualrpc.malformed", "Malformed dualrpc frame",
                              expert.group.MALFORMED, expert.severity.ERROR),
  protocol = ProtoExpert.new("dualrpc.protocol_error",
                             "dualrpc protocol violation (connection error)",
                             expert.group.PROTOCOL, expert.severity.ERROR),
  reserved = ProtoExpert.new("dualrpc.reserved_nonzero",
                             "Reserved bits not zero",
                             expert.group.PROTOCOL, expert.severity.WARN),
  status = ProtoExpert.new("dualrpc.call_failed", "Call failed",
                           expert.group.RESPONSE_CODE, expert.severity.NOTE),
}
dualrpc.experts = { E.malformed, E.protocol, E.reserved, E.status }

---------------------------------------------------------------------------
-- Preferences

dualrpc.prefs.tcp_port = Pref.uint("TCP port", 0,
    "Decode this TCP port as dualrpc raw (0: none; the heuristic on the " ..
    "preface magic still finds connections captured from their start)")
dualrpc.prefs.max_payload = Pref.uint("Maximum frame payload", 64 * 1024 * 1024,
    "A larger payload length is reported as malformed instead of being " ..
    "reassembled (the server's default frame limit is 4,210,692 bytes)")
dualrpc.prefs.dissect_messages = Pref.bool("Hand messages to protobuf", true,
    "Decode the message part with the protobuf dissector (set its search " ..
    "path to the directory holding the service's .proto files)")

local registered_port = 0
function dualrpc.prefs_changed()
  local tcp_table = DissectorTable.get("tcp.port")
  if registered_port ~= 0 then tcp_table:remove(registered_port, dualrpc) end
  registered_port = dualrpc.prefs.tcp_port
  if registered_port ~= 0 then tcp_table:add(registered_port, dualrpc) end
end

---------------------------------------------------------------------------
-- Per-conversation state, built on the first pass (pinfo.visited false) and
-- read back on later ones: which call id named which method (a RESPONSE does
-- not repeat it), the highest REQUEST call id seen, and per frame number what
-- the first pass concluded.

local conversations = {}  -- conversation key -> { calls = {}, last_id = n }
local requests_by_frame = {}  -- "frame:offset" -> { method, frame }

function dualrpc.init()
  conversations = {}
  requests_by_frame = {}
end

local function ConversationKey(pinfo, from_client)
  local client = tostring(pinfo.src) .. ":" .. pinfo.src_port
  local server = tostring(pinfo.dst) .. ":" .. pinfo.dst_port
  if not from_client then client, server = server, client end
  return client .. ">" .. server
end

local function Conversation(pinfo, from_client)
  local key = ConversationKey(pinfo, from_client)
  local conversation = conversations[key]
  if conversation == nil then
    conversation = { calls = {}, last_id = 0 }
    conversations[key] = conversation
  end
  return conversation
end

---------------------------------------------------------------------------
-- Protobuf wire walking (wire.proto: varints and length-delimited fields)

-- Reads a varint at `offset` of `tvb`, bounded by `limit`. Returns the value
-- as UInt64 and its byte length, or nil when it runs past `limit` or over 10
-- bytes.
local function ReadVarint(tvb, offset, limit)
  local value = UInt64(0)
  for i = 0, 9 do
    if offset + i >= limit then return nil end
    local byte = tvb(offset + i, 1):uint()
    value = value:bor(UInt64(byte % 128):lshift(7 * i))
    if byte < 128 then return value, i + 1 end
  end
  return nil
end

-- Walks the protobuf message in tvb[offset, limit) and calls
-- on_field(number, wire_type, range, value) for each field: value is the
-- UInt64 of a varint, nil otherwise (range is then the field's bytes without
-- tag and length). Returns nil on success, else an error string.
local function WalkMessage(tvb, offset, limit, on_field)
  while offset < limit do
    local tag, tag_len = ReadVarint(tvb, offset, limit)
    if tag == nil then return "truncated field tag" end
    local number = tag:rshift(3):tonumber()
    local wire_type = tag:band(7):tonumber()
    offset = offset + tag_len
    if wire_type == 0 then
      local value, len = ReadVarint(tvb, offset, limit)
      if value == nil then return "truncated varint in field " .. number end
      on_field(number, wire_type, tvb(offset, len), value)
      offset = offset + len
    elseif wire_type == 2 then
      local size, len = ReadVarint(tvb, offset, limit)
      if size == nil then return "truncated length in field " .. number end
      size = size:tonumber()
      offset = offset + len
      if offset + size > limit then
        return "field " .. number .. " runs past the header"
      end
      on_field(number, wire_type, tvb(offset, size), nil)
      offset = offset + size
    elseif wire_type == 1 or wire_type == 5 then
      local size = (wire_type == 1) and 8 or 4
      if offset + size > limit then
        return "truncated fixed field " .. number
      end
      on_field(number, wire_type, tvb(offset, size), nil)
      offset = offset + size
    else
      return "unsupported wire type " .. wire_type .. " in field " .. number
    end
  end
  return nil
end

-- A varint's low 32 bits as a signed int32 (how proto3 encodes int32).
local function ToInt32(value)
  local low = value:band(UInt64(0xffffffff)):tonumber()
  if low >= 0x80000000 then low = low - 0x100000000 end
  return low
end

local function StatusName(code)
  return status_names[code] or ("code " .. code .. " (UNKNOWN)")
end

local function AddMetadataEntry(tree, tvb, range)
  local entry = tree:add(F.metadata, range)
  local key, value = "", ""
  local err = WalkMessage(tvb, range:offset(), range:offset() + range:len(),
      function(number, wire_type, field_range)
        if number == 1 and wire_type == 2 then
          entry:add(F.metadata_key, field_range)
          key = field_range:string()
        elseif number == 2 and wire_type == 2 then
          entry:add(F.metadata_value, field_range)
          value = field_range:string()
        else
          entry:add(F.unknown_field, field_range):append_text(
              " (field " .. number .. ")")
        end
      end)
  if err then entry:add_proto_expert_info(E.malformed, "MetadataEntry: " .. err) end
  if key:sub(-4) == "-bin" then value = "(binary)" end
  entry:set_text("Metadata: " .. key .. ": " .. value)
end

-- Decodes RequestHeader in tvb[offset, offset+len). Returns the method path
-- (or nil).
local function DissectRequestHeader(tvb, tree, offset, len)
  local header = tree:add(F.request_header, tvb(offset, len))
  local method = nil
  local err = WalkMessage(tvb, offset, offset + len,
      function(number, wire_type, range, value)
        if number == 1 and wire_type == 2 then
          header:add(F.method, range)
          method = range:string()
        elseif number == 2 and wire_type == 0 then
          header:add(F.timeout_micros, range, value)
        elseif number == 3 and wire_type == 2 then
          AddMetadataEntry(header, tvb, range)
        else
          header:add(F.unknown_field, range):append_text(
              " (field " .. number .. ")")
        end
      end)
  if err then header:add_proto_expert_info(E.malformed, "RequestHeader: " .. err) end
  if method == nil then
    header:add_proto_expert_info(E.malformed,
                                 "RequestHeader without method (§4.1)")
  end
  return method
end

-- Decodes a ResponseHeader in tvb[offset, offset+len) (of a RESPONSE or a
-- GOAWAY, whose fields differ: `fields` = {code=, message=}). An absent
-- status_code is added as a generated 0 so that every RESPONSE carries one.
-- Returns the status code and message.
local function DissectResponseHeader(tvb, tree, offset, len, fields)
  local header = tree:add(F.response_header, tvb(offset, len))
  local code, message = nil, ""
  local err = WalkMessage(tvb, offset, offset + len,
      function(number, wire_type, range, value)
        if number == 1 and wire_type == 0 then
          code = ToInt32(value)
          header:add(fields.code, range, code)
        elseif number == 2 and wire_type == 2 then
          message = range:string()
          header:add(fields.message, range)
        elseif number == 3 and wire_type == 2 then
          AddMetadataEntry(header, tvb, range)
        else
          header:add(F.unknown_field, range):append_text(
              " (field " .. number .. ")")
        end
      end)
  if err then header:add_proto_expert_info(E.malformed, "ResponseHeader: " .. err) end
  if code == nil then
    code = 0
    header:add(fields.code, tvb(offset, 0), 0):set_generated()
  end
  if code < 0 or code > 16 then
    header:add_proto_expert_info(E.malformed,
        "status code " .. code .. " outside 0-16: read as UNKNOWN (§6.1)")
  end
  return code, message
end

local protobuf_dissector = nil

-- Hands the message bytes to the protobuf dissector as Wireshark's gRPC
-- dissector does: pinfo.private["pb_msg_type"] names the method and the
-- direction, and the protobuf dissector looks the type up in its search path.
-- A compressed message (the COMPRESSED flag) is left as bytes.
local function DissectMessage(tvb, pinfo, tree, offset, len, method, direction,
                              compressed)
  local range = (len > 0) and tvb(offset, len) or tvb(offset, 0)
  local item = tree:add(F.message, range)
  if len == 0 then
    item:append_text(" (empty: an all-default message)")
    return
  end
  if compressed then
    -- COMPRESSED is reserved (§7): the algorithm is not decoded here.
    item:append_text(" (compressed)")
    return
  end
  if not dualrpc.prefs.dissect_messages then return end
  if protobuf_dissector == nil then
    local ok, found = pcall(Dissector.get, "protobuf")
    if not ok or found == nil then return end
    protobuf_dissector = found
  end
  if method then
    pinfo.private["pb_msg_type"] =
        "application/grpc," .. method .. "," .. direction
  else
    pinfo.private["pb_msg_type"] = nil
  end
  pcall(Dissector.call, protobuf_dissector, range:tvb(), pinfo, item)
  pinfo.private["pb_msg_type"] = nil
end

---------------------------------------------------------------------------
-- PDUs

local function DissectPreface(tvb, pinfo, tree)
  local item = tree:add(F.preface, tvb(0, kPrefaceLength))
  item:add(F.magic, tvb(0, 4))
  local major, minor = tvb(4, 1):uint(), tvb(5, 1):uint()
  item:add(F.major, tvb(4, 1))
  item:add(F.minor, tvb(5, 1))
  local reserved = item:add(F.preface_reserved, tvb(6, 2))
  if tvb(6, 2):uint() ~= 0 then
    reserved:add_proto_expert_info(E.reserved, "preface reserved bytes not zero (§2)")
  end
  item:set_text(string.format("Preface: DRPC %d.%d", major, minor))
  if major ~= kSupportedMajor then
    item:add_proto_expert_info(E.protocol, string.format(
        "unsupported major version %d: GOAWAY UNIMPLEMENTED (§2)", major))
  end
  return string.format("Preface %d.%d", major, minor)
end

-- Call-id rule of §3.1: REQUEST, RESPONSE, CANCEL, MESSAGE and WINDOW_UPDATE
-- need id >= 1, PING, GOAWAY and SETTINGS id 0.
local connection_level = { [kPing] = true, [kGoaway] = true, [kSettings] = true }

-- A MESSAGE (§7.2): which call and which direction it belongs to comes from
-- the first pass (the REQUEST that opened the call was seen from one side of
-- the conversation: a MESSAGE from that side carries a request, from the
-- other a response).
local function DissectStreamMessage(tvb, pinfo, frame, key, call_id, length,
                                    end_stream, compressed, summary)
  local p = kFrameHeaderLength
  if not pinfo.visited then
    local seen = {}
    for _, from_client in ipairs({ true, false }) do
      local conversation = conversations[ConversationKey(pinfo, from_client)]
      local call = conversation and conversation.calls[call_id]
      if call then
        seen = { method = call.method, frame = call.frame,
                 direction = from_client and "request" or "response" }
        break
      end
    end
    requests_by_frame[key] = seen
  end
  local call = requests_by_frame[key] or {}
  if call.frame then
    frame:add(F.request_in, call.frame):set_generated()
  end
  if call.method then
    frame:add(F.method, tvb(p, 0), call.method):set_generated()
  end
  if end_stream then
    summary = summary .. " half-close"
    if length > 0 then
      frame:add(F.payload, tvb(p, length)):add_proto_expert_info(E.protocol,
          "half-close MESSAGE with a payload: call error INTERNAL (§7.5)")
    end
    return summary
  end
  if call.method then summary = summary .. " " .. call.method end
  DissectMessage(tvb, pinfo, frame, p, length, call.method,
                 call.direction or "request", compressed)
  return summary
end

local function DissectFrame(tvb, pinfo, tree)
  local length = tvb(0, 4):uint()
  local frame_type = tvb(4, 1):uint()
  local flags = tvb(5, 1):uint()
  local call_id = tvb(8, 4):uint()
  local compressed = (flags % (2 * kFlagCompressed)) >= kFlagCompressed
  local end_stream = (flags % (2 * kFlagEndStream)) >= kFlagEndStream
  -- Names this PDU across passes (a frame may hold several PDUs).
  local key = pinfo.number .. ":" .. tvb:offset()
  local name = frame_type_names[frame_type] or
               string.format("UNKNOWN(0x%02x)", frame_type)

  local frame = tree:add(F.frame, tvb(0, kFrameHeaderLength + length))
  frame:add(F.length, tvb(0, 4))
  local type_item = frame:add(F.type, tvb(4, 1))
  local flags_item = frame:add(F.flags, tvb(5, 1))
  flags_item:add(F.flag_end_stream, tvb(5, 1))
  flags_item:add(F.flag_compressed, tvb(5, 1))
  flags_item:add(F.flag_ack, tvb(5, 1))
  local reserved = frame:add(F.reserved, tvb(6, 2))
  if tvb(6, 2):uint() ~= 0 then
    reserved:add_proto_expert_info(E.reserved, "frame reserved bytes not zero (§3)")
  end
  local id_item = frame:add(F.call_id, tvb(8, 4))

  local summary = string.format("%s id=%d", name, call_id)
  if frame_type == kPing and flags >= kFlagAck then  -- ACK is the top bit
    summary = summary .. " ACK"
  end
  frame:set_text(string.format("Frame: %s, call id %d, payload %d bytes",
                               name, call_id, length))

  if frame_type_names[frame_type] == nil then
    type_item:add_proto_expert_info(E.protocol,
        "unknown frame type: GOAWAY UNIMPLEMENTED (§3.1)")
    if length > 0 then frame:add(F.payload, tvb(kFrameHeaderLength, length)) end
    return summary
  end
  if connection_level[frame_type] and call_id ~= 0 then
    id_item:add_proto_expert_info(E.protocol, name .. " needs call id 0 (§3.1)")
  elseif not connection_level[frame_type] and call_id == 0 then
    id_item:add_proto_expert_info(E.protocol, name .. " needs a call id >= 1 (§3.1)")
  end

  local p = kFrameHeaderLength  -- payload offset within tvb
  if frame_type == kRequest or frame_type == kResponse then
    if length < 4 then
      frame:add_proto_expert_info(E.malformed,
          "payload shorter than its 4-byte header length (§4.1)")
      return summary
    end
    local header_length = tvb(p, 4):uint()
    local hl_item = frame:add(F.header_length, tvb(p, 4))
    if header_length > length - 4 then
      hl_item:add_proto_expert_info(E.malformed,
          "header length greater than the payload: INVALID_ARGUMENT (§6.2)")
      return summary
    end
    local message_offset = p + 4 + header_length
    local message_length = length - 4 - header_length
    local is_request = frame_type == kRequest  -- else a RESPONSE, from the server
    local conversation = Conversation(pinfo, is_request)
    if is_request then
      local method = DissectRequestHeader(tvb, frame, p + 4, header_length)
      if method then summary = summary .. " " .. method end
      if not pinfo.visited then
        -- (A frame dissected twice on the first pass does not flag itself.)
        local prior = conversation.calls[call_id]
        local again = prior ~= nil and prior.key == key
        if call_id ~= 0 and call_id <= conversation.last_id and not again then
          requests_by_frame[key] = { non_increasing = conversation.last_id }
        end
        conversation.last_id = math.max(conversation.last_id, call_id)
        conversation.calls[call_id] =
            { method = method, frame = pinfo.number, key = key }
      end
      local seen = requests_by_frame[key]
      if seen and seen.non_increasing then
        id_item:add_proto_expert_info(E.protocol, string.format(
            "call id %d not greater than earlier id %d: INTERNAL (§3.3)",
            call_id, seen.non_increasing))
      end
      DissectMessage(tvb, pinfo, frame, message_offset, message_length,
                     method, "request", compressed)
    else
      if not pinfo.visited then
        requests_by_frame[key] = conversation.calls[call_id] or {}
      end
      local call = requests_by_frame[key] or {}
      if call.frame then
        frame:add(F.request_in, call.frame):set_generated()
      end
      if call.method then
        frame:add(F.method, tvb(p, 0), call.method):set_generated()
      end
      local code, message = DissectResponseHeader(
          tvb, frame, p + 4, header_length,
          { code = F.status_code, message = F.status_message })
      summary = summary .. " " .. StatusName(code)
      if code ~= 0 then
        frame:add_proto_expert_info(E.status, StatusName(code) .. ": " .. message)
        if message_length > 0 then
          frame:add_proto_expert_info(E.malformed,
              "message part on a failed RESPONSE (§4.2)")
        end
      end
      if call.method then summary = summary .. " " .. call.method end
      DissectMessage(tvb, pinfo, frame, message_offset, message_length,
                     call.method, "response", compressed)
    end
  elseif frame_type == kCancel then
    if length > 0 then
      frame:add(F.payload, tvb(p, length)):add_proto_expert_info(E.protocol,
          "CANCEL with a payload: INTERNAL (§6.3)")
    end
  elseif frame_type == kPing then
    local item = frame:add(F.ping_payload, tvb(p, length))
    if length ~= kPingPayloadLength then
      item:add_proto_expert_info(E.protocol, string.format(
          "PING payload of %d bytes, not 8: INTERNAL (§5.2)", length))
    end
  elseif frame_type == kGoaway then
    if length < 4 then
      frame:add_proto_expert_info(E.malformed,
          "GOAWAY shorter than its last call id: INTERNAL (§5.5)")
      return summary
    end
    local last = tvb(p, 4):uint()
    frame:add(F.goaway_last_call_id, tvb(p, 4))
    local code, message = DissectResponseHeader(
        tvb, frame, p + 4, length - 4,
        { code = F.goaway_code, message = F.goaway_message })
    summary = string.format("%s last=%d %s", summary, last, StatusName(code))
    if message ~= "" then summary = summary .. " (" .. message .. ")" end
  elseif frame_type == kMessage then
    summary = DissectStreamMessage(tvb, pinfo, frame, key, call_id, length,
                                   end_stream, compressed, summary)
  elseif frame_type == kSettings then
    local parts = {}
    local err = WalkMessage(tvb, p, p + length,
        function(number, wire_type, range, value)
          local known = settings_fields[number]
          if known and wire_type == 0 then
            -- Field 5 is a uint64; the others fit a Lua number.
            local shown = number == 5 and value or value:tonumber()
            frame:add(F[known[1]], range, shown)
            parts[#parts + 1] = known[2] .. "=" .. tostring(value)
          else
            frame:add(F.unknown_field, range):append_text(
                " (field " .. number .. ", ignored: §5.6)")
          end
        end)
    if err then frame:add_proto_expert_info(E.malformed, "Settings: " .. err) end
    if #parts > 0 then summary = summary .. " " .. table.concat(parts, " ") end
  elseif frame_type == kWindowUpdate then
    if length ~= kWindowUpdateLength then
      frame:add(F.payload, tvb(p, length)):add_proto_expert_info(E.protocol,
          string.format("WINDOW_UPDATE payload of %d bytes, not 4: INTERNAL (§7.5)",
                        length))
      return summary
    end
    local increment = tvb(p, 4):uint()
    local item = frame:add(F.window_increment, tvb(p, 4))
    summary = string.format("%s +%d", summary, increment)
    if increment == 0 or increment >= 0x80000000 then
      item:add_proto_expert_info(E.protocol,
          "WINDOW_UPDATE increment 0 or with the high bit set: INTERNAL (§7.5)")
    end
  end
  return summary
end

---------------------------------------------------------------------------
-- Segment loop with TCP reassembly

-- Length of the PDU at `offset`, or nil plus how many more bytes are needed
-- to tell (DESEGMENT_ONE_MORE_SEGMENT when unknown).
local function PduLength(tvb, offset)
  local remaining = tvb:len() - offset
  if remaining < 4 then return nil, DESEGMENT_ONE_MORE_SEGMENT end
  if tvb(offset, 4):string() == kMagic then return kPrefaceLength end
  if remaining < kFrameHeaderLength then
    return nil, kFrameHeaderLength - remaining
  end
  return kFrameHeaderLength + tvb(offset, 4):uint()
end

function dualrpc.dissector(tvb, pinfo, tree)
  local total = tvb:len()
  local offset = 0
  local summaries = {}
  local root = nil
  while offset < total do
    local pdu_length, more = PduLength(tvb, offset)
    if pdu_length == nil then
      pinfo.desegment_offset = offset
      pinfo.desegment_len = more
      break
    end
    if root == nil then root = tree:add(dualrpc, tvb(offset)) end
    if pdu_length - kFrameHeaderLength > dualrpc.prefs.max_payload then
      root:add(F.length, tvb(offset, 4)):add_proto_expert_info(E.malformed,
          "payload length above the max_payload preference: not reassembled")
      summaries[#summaries + 1] = "malformed frame"
      offset = total
      break
    end
    if total - offset < pdu_length then
      pinfo.desegment_offset = offset
      pinfo.desegment_len = pdu_length - (total - offset)
      break
    end
    local pdu = tvb(offset, pdu_length):tvb()
    if pdu_length == kPrefaceLength and pdu(0, 4):string() == kMagic then
      summaries[#summaries + 1] = DissectPreface(pdu, pinfo, root)
    else
      summaries[#summaries + 1] = DissectFrame(pdu, pinfo, root)
    end
    offset = offset + pdu_length
  end
  if #summaries > 0 then
    pinfo.cols.protocol = "DUALRPC"
    pinfo.cols.info:set(table.concat(summaries, ", "))
  end
  return total
end

-- TCP heuristic: a connection's first bytes in either direction are the
-- preface, so "DRPC" at the start of a segment that is not yet in a dualrpc
-- conversation marks one; the conversation is then claimed for both
-- directions.
local function Heuristic(tvb, pinfo, tree)
  if tvb:len() < 4 or tvb(0, 4):string() ~= kMagic then return false end
  pinfo.conversation = dualrpc
  dualrpc.dissector(tvb, pinfo, tree)
  return true
end

dualrpc:register_heuristic("tcp", Heuristic)
DissectorTable.get("tcp.port"):add_for_decode_as(dualrpc)
