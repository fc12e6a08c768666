package webrtcendpoint

import (
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/pion/webrtc/v4"

	me "github.com/miksilo/miksilo/mediaelements"
)

// Stats implements getStats in Kurento's shape: an EndpointStats entry plus
// RTCInboundRTPStreamStats, RTCOutboundRTPStreamStats,
// RTCIceCandidatePairStats and RTCDataChannelStats entries, keyed by id:
// RTP streams from pion's statistics interceptor, the candidate pair from
// the ICE transport, the data channels from the endpoint's own counters
// (and the packets and bytes sent from the sending track's counters). A
// media type keeps only its RTP streams (and, for DATA, the data channels).
func (e *Endpoint) Stats(_ *me.Call, t *me.MediaType) (map[string]any, error) {
	now := time.Now().UnixMilli()
	id := e.ID() + "_endpoint"
	out := map[string]any{id: map[string]any{
		"__module__": "kurento", "__type__": "EndpointStats", "id": id, "type": "endpoint",
		"timestampMillis": now, "inputLatency": []any{}, "E2ELatency": []any{},
	}}
	e.mu.Lock()
	streams := append([]stream(nil), e.streams...)
	getter, ice := e.stats, e.ice
	channels := maps.Clone(e.channels)
	e.mu.Unlock()
	kindOK := func(k me.MediaType) bool { return t == nil || *t == k }
	if getter != nil {
		for _, st := range streams {
			if !kindOK(st.kind) {
				continue
			}
			s := getter.Get(st.ssrc)
			if s == nil {
				continue
			}
			if st.inbound {
				in := s.InboundRTPStreamStats
				id := "inbound-rtp-" + strconv.FormatUint(uint64(st.ssrc), 10)
				m := rtpStream(id, "RTCInboundRTPStreamStats", "inboundrtp", now, st)
				m["firCount"], m["pliCount"], m["nackCount"] = int64(in.FIRCount), int64(in.PLICount), int64(in.NACKCount)
				m["packetsLost"] = in.PacketsLost
				if total := int64(in.PacketsReceived) + in.PacketsLost; total > 0 && in.PacketsLost > 0 {
					m["fractionLost"] = float64(in.PacketsLost) / float64(total)
				}
				m["packetsReceived"], m["bytesReceived"], m["jitter"] = int64(in.PacketsReceived), int64(in.BytesReceived), in.Jitter
				out[id] = m
				continue
			}
			o, r := s.OutboundRTPStreamStats, s.RemoteInboundRTPStreamStats
			id := "outbound-rtp-" + strconv.FormatUint(uint64(st.ssrc), 10)
			m := rtpStream(id, "RTCOutboundRTPStreamStats", "outboundrtp", now, st)
			m["firCount"], m["pliCount"], m["nackCount"] = int64(o.FIRCount), int64(o.PLICount), int64(o.NACKCount)
			m["packetsLost"], m["fractionLost"] = r.PacketsLost, r.FractionLost
			m["packetsSent"], m["bytesSent"], m["targetBitrate"] = int64(o.PacketsSent), int64(o.BytesSent), 0.0
			if st.track != nil { // counted by the track: the interceptor does not see outgoing RTP
				m["packetsSent"], m["bytesSent"] = int64(st.track.packets.Load()), int64(st.track.bytes.Load())
			}
			m["roundTripTime"] = r.RoundTripTime.Seconds()
			out[id] = m
		}
	}
	// pion's GetStats races with a close triggered by the remote's DTLS
	// close_notify (it reads the connection's stats getter unlocked), so the
	// pair and the channels are read from their own objects.
	if ice != nil {
		if v, ok := ice.GetSelectedCandidatePairStats(); ok && (t == nil) {
			ts := now
			if v.Timestamp != 0 {
				ts = int64(v.Timestamp)
			}
			out[v.ID] = map[string]any{
				"__module__": "kurento", "__type__": "RTCIceCandidatePairStats", "id": v.ID, "type": "candidatepair",
				"timestampMillis": ts, "transportId": "iceTransport",
				"localCandidateId": v.LocalCandidateID, "remoteCandidateId": v.RemoteCandidateID,
				"state": strings.ReplaceAll(string(v.State), "-", ""), "priority": int64(0), "nominated": v.Nominated,
				"writable": v.State == webrtc.StatsICECandidatePairStateSucceeded, "readable": v.PacketsReceived > 0,
				"bytesSent": int64(v.BytesSent), "bytesReceived": int64(v.BytesReceived),
				"roundTripTime": v.CurrentRoundTripTime, "availableOutgoingBitrate": v.AvailableOutgoingBitrate,
				"availableIncomingBitrate": v.AvailableIncomingBitrate,
			}
		}
	}
	if t == nil || *t == me.Data {
		for id, ch := range channels {
			sid := "datachannel-" + strconv.Itoa(int(id))
			out[sid] = map[string]any{
				"__module__": "kurento", "__type__": "RTCDataChannelStats", "id": sid, "type": "datachannel",
				"timestampMillis": now, "label": ch.dc.Label(), "protocol": ch.dc.Protocol(),
				"datachannelid": int64(id), "state": ch.dc.ReadyState().String(),
				"messagesSent": ch.msgsOut.Load(), "bytesSent": ch.bytesOut.Load(),
				"messagesReceived": ch.msgsIn.Load(), "bytesReceived": ch.bytesIn.Load(),
			}
		}
	}
	return out, nil
}

func rtpStream(id, typ, statsType string, ts int64, st stream) map[string]any {
	return map[string]any{
		"__module__": "kurento", "__type__": typ, "id": id, "type": statsType, "timestampMillis": ts,
		"ssrc": strconv.FormatUint(uint64(st.ssrc), 10), "associateStatsId": "", "isRemote": false,
		"mediaTrackId": st.trackID, "transportId": "iceTransport", "codecId": st.codec,
		"sliCount": int64(0), "remb": int64(0), "fractionLost": 0.0,
	}
}
