package server

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/miksilo/miksilo/composite"
	"github.com/miksilo/miksilo/internal/config"
	"github.com/miksilo/miksilo/mediaelements"
	"github.com/miksilo/miksilo/mediaelements/webrtcendpoint"
)

// Registry builds the type registry: the object model's own classes plus
// one line per element type. cfg, log and reg (metrics; nil: none) reach
// the element types that need them; the registry itself (docs, kmd) does
// not depend on them.
func Registry(cfg config.Config, log *slog.Logger, reg prometheus.Registerer) *mediaelements.Registry {
	var compositeMetrics *composite.Metrics
	if reg != nil {
		compositeMetrics = composite.NewMetrics(reg)
	}
	return mediaelements.NewRegistry(
		mediaelements.PassThroughClass(),
		mediaelements.DispatcherClass(),
		mediaelements.DispatcherOneToManyClass(),
		webrtcendpoint.Class(webrtcSettings(cfg.WebRTC, log, reg)),
		composite.Class(log, compositeMetrics),
	)
}

// webrtcSettings maps the webrtc.* configuration onto the WebRtcEndpoint's settings.
func webrtcSettings(c config.WebRTCConfig, log *slog.Logger, reg prometheus.Registerer) webrtcendpoint.Settings {
	return webrtcendpoint.Settings{
		UDPPortMin:        uint16(c.UDPPortMin),
		UDPPortMax:        uint16(c.UDPPortMax),
		UDPMuxPort:        c.UDPMuxPort,
		UDPMuxBuffer:      c.UDPMuxBuffer,
		UDPEndpointBuffer: c.UDPEndpointBuffer,
		TCPPort:           c.TCPPort,
		DSCP:              c.QoSDSCP,
		NAT1To1IPs:        c.NAT1To1List(),
		STUNServer:        c.STUNServer,
		TURNURL:           c.TURNURL,
		LoopbackOnly:      c.LoopbackOnly,
		NoSendBatching:    !c.SendBatching,
		Logger:            log,
		Registerer:        reg,
	}
}
