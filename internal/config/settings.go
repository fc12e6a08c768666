package config

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"
)

// settings is the one table of configuration settings. Defaults, YAML keys,
// environment variables, flags, validation, -help and docs/configuration.md
// all come from it. Adding a setting is one entry here plus a field in Config
// (whose yaml tags must spell the same key; TestSettingsMatchConfig checks).
func settings() []setting {
	return []setting{
		{
			key: "addr", env: "MIKSILO_ADDR", flag: "addr", typ: "host:port",
			doc:  "listener for ws://HOST:PORT/kurento, /metrics and /healthz",
			bind: stringField(func(c *Config) *string { return &c.Addr }, "0.0.0.0:8888", hostPort),
		},
		{
			key: "log.level", env: "MIKSILO_LOG_LEVEL", flag: "log-level",
			doc:  "least severe log level written",
			bind: enumField(func(c *Config) *string { return &c.Log.Level }, "info", "debug", "info", "warn", "error"),
		},
		{
			key: "log.format", env: "MIKSILO_LOG_FORMAT", flag: "log-format",
			doc:  "log output: text (key=value lines) or json (one object per line)",
			bind: enumField(func(c *Config) *string { return &c.Log.Format }, "text", "text", "json"),
		},
		{
			key: "sessions.gc_period", env: "MIKSILO_GC_PERIOD", flag: "gc-period",
			doc:  "a session whose socket is gone is dropped (its objects released) after this",
			bind: durationField(func(c *Config) *time.Duration { return &c.Sessions.GCPeriod }, 240*time.Second, positive[time.Duration]),
		},
		{
			key: "sessions.request_cache_ttl", env: "MIKSILO_REQUEST_CACHE_TTL", flag: "request-cache-ttl",
			doc:  "duplicate-request cache lifetime; 0 disables",
			bind: durationField(func(c *Config) *time.Duration { return &c.Sessions.RequestCacheTTL }, 20*time.Second, nonNegative[time.Duration]),
		},
		{
			key: "limits.max_message_bytes", env: "MIKSILO_MAX_MESSAGE_BYTES", flag: "max-message-bytes",
			doc:  "largest WebSocket message accepted",
			bind: int64Field(func(c *Config) *int64 { return &c.Limits.MaxMessageBytes }, 1<<20, positive[int64]),
		},
		{
			key: "limits.max_objects_per_session", env: "MIKSILO_MAX_OBJECTS_PER_SESSION", flag: "max-objects-per-session",
			doc:  "objects one session may hold",
			bind: intField(func(c *Config) *int { return &c.Limits.MaxObjectsPerSession }, 10000, positive[int]),
		},
		{
			key: "limits.max_objects", env: "MIKSILO_MAX_OBJECTS", flag: "max-objects",
			doc:  "objects in the whole server",
			bind: intField(func(c *Config) *int { return &c.Limits.MaxObjects }, 100000, positive[int]),
		},
		{
			key: "limits.event_queue", env: "MIKSILO_EVENT_QUEUE", flag: "event-queue",
			doc:  "events queued per WebSocket before new ones are dropped",
			bind: intField(func(c *Config) *int { return &c.Limits.EventQueue }, 4096, positive[int]),
		},
		{
			key: "auth.token", env: "MIKSILO_AUTH_TOKEN", flag: "auth-token", secret: true,
			doc:  "shared secret; when set, the WebSocket requires `?access_token=` or `Authorization: Bearer`",
			bind: stringField(func(c *Config) *string { return &c.Auth.Token }, "", nil),
		},
		{
			key: "metadata", env: "MIKSILO_METADATA", flag: "metadata",
			doc:  "text returned by ServerManager.getMetadata",
			bind: stringField(func(c *Config) *string { return &c.Metadata }, "", nil),
		},
		{
			key: "debug.pprof", env: "MIKSILO_DEBUG_PPROF", flag: "debug-pprof",
			doc:  "serve Go's profiler at /debug/pprof/ on the main listener (exposes internals: trusted networks only)",
			bind: boolField(func(c *Config) *bool { return &c.Debug.Pprof }, false),
		},
		{
			key: "webrtc.udp_port_min", env: "MIKSILO_WEBRTC_UDP_PORT_MIN", flag: "webrtc-udp-port-min",
			doc:  "lowest local UDP port for WebRTC (ICE) sockets; 0 with `webrtc.udp_port_max` 0 lets the system choose",
			bind: intField(func(c *Config) *int { return &c.WebRTC.UDPPortMin }, 0, port),
		},
		{
			key: "webrtc.udp_port_max", env: "MIKSILO_WEBRTC_UDP_PORT_MAX", flag: "webrtc-udp-port-max",
			doc:  "highest local UDP port for WebRTC (ICE) sockets; 0 with `webrtc.udp_port_min` 0 lets the system choose",
			bind: intField(func(c *Config) *int { return &c.WebRTC.UDPPortMax }, 0, port),
		},
		{
			key: "webrtc.udp_mux_port", env: "MIKSILO_WEBRTC_UDP_MUX_PORT", flag: "webrtc-udp-mux-port",
			doc:  "serve every WebRTC endpoint on this one UDP port (single-port mux, for NAT and containers); 0 = off",
			bind: intField(func(c *Config) *int { return &c.WebRTC.UDPMuxPort }, 0, port),
		},
		{
			key: "webrtc.udp_mux_buffer", env: "MIKSILO_WEBRTC_UDP_MUX_BUFFER", flag: "webrtc-udp-mux-buffer", typ: "bytes",
			doc:  "receive and send buffer of the UDP mux socket, which carries every endpoint's media: bursts (key frames, many publishers at once) beyond it are dropped by the kernel (counted in `miksilo_webrtc_udp_mux_drops_total`); the kernel caps it at net.core.rmem_max / wmem_max (the server logs a warning then); 0 = the system's default",
			bind: intField(func(c *Config) *int { return &c.WebRTC.UDPMuxBuffer }, 4<<20, socketBuffer),
		},
		{
			key: "webrtc.udp_endpoint_buffer", env: "MIKSILO_WEBRTC_UDP_ENDPOINT_BUFFER", flag: "webrtc-udp-endpoint-buffer", typ: "bytes",
			doc:  "receive and send buffer of each WebRTC endpoint's own UDP sockets (when `webrtc.udp_mux_port` is 0): a publisher's key-frame burst beyond it is dropped by the kernel while the server is busy (counted in `miksilo_webrtc_udp_endpoint_drops_total`); capped at net.core.rmem_max / wmem_max like the mux's (a warning then); 0 = the system's default",
			bind: intField(func(c *Config) *int { return &c.WebRTC.UDPEndpointBuffer }, 1<<20, socketBuffer),
		},
		{
			key: "webrtc.tcp_port", env: "MIKSILO_WEBRTC_TCP_PORT", flag: "webrtc-tcp-port",
			doc:  "accept ICE-TCP on this one TCP port for every WebRTC endpoint (passive candidates; endpoints with `iceTcp` false gather none); 0 = off",
			bind: intField(func(c *Config) *int { return &c.WebRTC.TCPPort }, 0, port),
		},
		{
			key: "webrtc.qos_dscp", env: "MIKSILO_WEBRTC_QOS_DSCP", flag: "webrtc-qos-dscp", typ: "DSCPValue",
			doc:  "DSCP marking (a Kurento DSCPValue name, e.g. EF, AF41) of what endpoints created with `qosDscp` NO_VALUE send, and of the shared UDP mux and ICE-TCP sockets; empty or NO_DSCP = none",
			bind: stringField(func(c *Config) *string { return &c.WebRTC.QoSDSCP }, "", dscpValue),
		},
		{
			key: "webrtc.nat1to1_ips", env: "MIKSILO_WEBRTC_NAT1TO1_IPS", flag: "webrtc-nat1to1-ips", typ: "IP[,IP...]",
			doc:  "public IPs of a 1:1 NAT, comma-separated: host ICE candidates carry them instead of the local addresses",
			bind: stringField(func(c *Config) *string { return &c.WebRTC.NAT1To1IPs }, "", ipList),
		},
		{
			key: "webrtc.stun_server", env: "MIKSILO_WEBRTC_STUN_SERVER", flag: "webrtc-stun-server", typ: "host[:port]",
			doc:  "STUN server for server-reflexive candidates (port 3478 when omitted); empty = none. Endpoints may override it",
			bind: stringField(func(c *Config) *string { return &c.WebRTC.STUNServer }, "", stunServer),
		},
		{
			key: "webrtc.turn_url", env: "MIKSILO_WEBRTC_TURN_URL", flag: "webrtc-turn-url", typ: "user:password@host:port[?transport=T]",
			doc: "TURN relay in Kurento's turnUrl format; empty = none. Endpoints may override it", secret: true,
			bind: stringField(func(c *Config) *string { return &c.WebRTC.TURNURL }, "", turnURL),
		},
		{
			key: "webrtc.loopback_only", env: "MIKSILO_WEBRTC_LOOPBACK_ONLY", flag: "webrtc-loopback-only",
			doc:  "gather only 127.0.0.1 candidates (UDP, and TCP with `webrtc.tcp_port`), without mDNS (tests on one machine)",
			bind: boolField(func(c *Config) *bool { return &c.WebRTC.LoopbackOnly }, false),
		},
		{
			key: "webrtc.send_batching", env: "MIKSILO_WEBRTC_SEND_BATCHING", flag: "webrtc-send-batching",
			doc:  "send the packets of a burst (a Composite frame, for each viewer) with one sendmmsg system call per socket instead of one sendto each; false = one system call per packet (to compare)",
			bind: boolField(func(c *Config) *bool { return &c.WebRTC.SendBatching }, true),
		},
		{
			key: "memory.trim_interval", env: "MIKSILO_MEMORY_TRIM_INTERVAL", flag: "memory-trim-interval",
			doc:  "how often the C allocator is asked to return freed memory to the system (malloc_trim): GStreamer's threads come and go with every Composite input and glibc otherwise keeps what they freed, so the server's RSS only grows under churn; 0 = never",
			bind: durationField(func(c *Config) *time.Duration { return &c.Memory.TrimInterval }, 30*time.Second, nonNegative[time.Duration]),
		},
		{
			key: "memory.malloc_arenas", env: "MIKSILO_MEMORY_MALLOC_ARENAS", flag: "memory-malloc-arenas",
			doc:  "most malloc arenas of the C allocator (glibc's M_ARENA_MAX, set as MALLOC_ARENA_MAX when the server re-executes itself at start-up, see Go runtime below): by default glibc gives every new thread an arena of its own, up to 8 per CPU, and each keeps its own fragments, so a server whose Composite inputs come and go grew its RSS under churn; 0 = glibc's default",
			bind: intField(func(c *Config) *int { return &c.Memory.MallocArenas }, 2, nonNegative[int]),
		},
		{
			key: "shutdown.timeout", env: "MIKSILO_SHUTDOWN_TIMEOUT", flag: "shutdown-timeout",
			doc:  "graceful drain before forcing close",
			bind: durationField(func(c *Config) *time.Duration { return &c.Shutdown.Timeout }, 10*time.Second, nonNegative[time.Duration]),
		},
	}
}

// DSCPValues are the names of Kurento's DSCPValue enum (webrtc.qos_dscp).
var DSCPValues = []string{
	"NO_DSCP", "NO_VALUE", "AUDIO_VERYLOW", "AUDIO_LOW", "AUDIO_MEDIUM", "AUDIO_HIGH", "VIDEO_VERYLOW", "VIDEO_LOW",
	"VIDEO_MEDIUM", "VIDEO_MEDIUM_THROUGHPUT", "VIDEO_HIGH", "VIDEO_HIGH_THROUGHPUT", "DATA_VERYLOW", "DATA_LOW",
	"DATA_MEDIUM", "DATA_HIGH", "CHROME_HIGH", "CHROME_MEDIUM", "CHROME_LOW", "CHROME_VERYLOW", "CS0", "CS1", "CS2",
	"CS3", "CS4", "CS5", "CS6", "CS7", "AF11", "AF12", "AF13", "AF21", "AF22", "AF23", "AF31", "AF32", "AF33", "AF41",
	"AF42", "AF43", "EF", "VOICEADMIT", "LE",
}

// The -config flag and MIKSILO_CONFIG name the YAML file; they are not
// settings themselves (a file cannot name another file).
const (
	configFlag = "config"
	configEnv  = "MIKSILO_CONFIG"
)

// setting describes one configuration value.
type setting struct {
	key    string // dotted YAML path, e.g. "log.level"
	env    string // environment variable
	flag   string // flag name without the dash
	typ    string // placeholder in -help and the docs; empty means bind.typ
	doc    string // one line; may contain `code`
	secret bool   // redacted in logs
	bind   binding
}

// typeName is the placeholder shown for the setting's value.
func (s setting) typeName() string {
	if s.typ != "" {
		return s.typ
	}
	return s.bind.typ
}

// names is how errors refer to the setting, whatever source the value came from.
func (s setting) names() string {
	return fmt.Sprintf("%s (-%s, %s)", s.key, s.flag, s.env)
}

// binding ties a setting to its Config field. The helpers below build one per
// field type so the table stays declarative.
type binding struct {
	typ        string
	setDefault func(*Config)
	value      func(*Config) flag.Value // parses and prints the field in flag/env syntax
	copy       func(dst, src *Config)
	check      func(*Config) error  // message without the setting's name
	literal    func(*Config) string // the field as a YAML scalar
	logValue   func(*Config) slog.Value
}

func bind[T any](typ string, ptr func(*Config) *T, def T,
	parse func(string) (T, error), format, literal func(T) string, check func(T) error) binding {
	return binding{
		typ:        typ,
		setDefault: func(c *Config) { *ptr(c) = def },
		value: func(c *Config) flag.Value {
			return fieldValue[T]{p: ptr(c), parse: parse, format: format}
		},
		copy: func(dst, src *Config) { *ptr(dst) = *ptr(src) },
		check: func(c *Config) error {
			if check == nil {
				return nil
			}
			return check(*ptr(c))
		},
		literal:  func(c *Config) string { return literal(*ptr(c)) },
		logValue: func(c *Config) slog.Value { return slog.AnyValue(*ptr(c)) },
	}
}

func stringField(ptr func(*Config) *string, def string, check func(string) error) binding {
	return bind("string", ptr, def, parseString, formatString, strconv.Quote, check)
}

func enumField(ptr func(*Config) *string, def string, allowed ...string) binding {
	return bind(strings.Join(allowed, "|"), ptr, def, parseString, formatString, formatString, oneOf(allowed...))
}

func boolField(ptr func(*Config) *bool, def bool) binding {
	b := bind("bool", ptr, def, parseBool, strconv.FormatBool, strconv.FormatBool, nil)
	value := b.value
	b.value = func(c *Config) flag.Value { return boolValue{value(c)} }
	return b
}

// boolValue lets a bool flag be given bare (-debug-pprof) as well as =true/=false.
type boolValue struct{ flag.Value }

func (boolValue) IsBoolFlag() bool { return true }

func parseBool(s string) (bool, error) {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, fmt.Errorf("%q is not a boolean (true or false)", s)
	}
	return b, nil
}

func durationField(ptr func(*Config) *time.Duration, def time.Duration, check func(time.Duration) error) binding {
	return bind("duration", ptr, def, parseDuration, formatDuration, formatDuration, check)
}

func intField(ptr func(*Config) *int, def int, check func(int) error) binding {
	return bind("int", ptr, def, parseInt[int], formatInt[int], formatInt[int], check)
}

func int64Field(ptr func(*Config) *int64, def int64, check func(int64) error) binding {
	return bind("int", ptr, def, parseInt[int64], formatInt[int64], formatInt[int64], check)
}

// fieldValue is the flag.Value of one Config field; environment variables
// are parsed with it too, so both accept the same syntax.
type fieldValue[T any] struct {
	p      *T
	parse  func(string) (T, error)
	format func(T) string
}

func (v fieldValue[T]) Set(s string) error {
	x, err := v.parse(s)
	if err != nil {
		return err
	}
	*v.p = x
	return nil
}

func (v fieldValue[T]) String() string {
	if v.p == nil {
		return ""
	}
	return v.format(*v.p)
}

func parseString(s string) (string, error) { return s, nil }
func formatString(s string) string         { return s }

func parseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (write e.g. 240s, 2m, 1h30m)", s)
	}
	return d, nil
}

// formatDuration writes whole seconds as "240s" (as the docs quote them) and
// anything else in time.Duration's own syntax; both parse back.
func formatDuration(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	return d.String()
}

func parseInt[T int | int64](s string) (T, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if errors.Is(err, strconv.ErrRange) || int64(T(n)) != n {
		return 0, fmt.Errorf("%q is out of range", s)
	}
	if err != nil {
		return 0, fmt.Errorf("%q is not an integer", s)
	}
	return T(n), nil
}

func formatInt[T int | int64](n T) string { return strconv.FormatInt(int64(n), 10) }

// Checks used by the table.

func positive[T int | int64 | time.Duration](v T) error {
	if v <= 0 {
		return fmt.Errorf("must be greater than 0, got %v", v)
	}
	return nil
}

func nonNegative[T int | int64 | time.Duration](v T) error {
	if v < 0 {
		return fmt.Errorf("must not be negative, got %v", v)
	}
	return nil
}

func oneOf(allowed ...string) func(string) error {
	return func(v string) error {
		for _, a := range allowed {
			if v == a {
				return nil
			}
		}
		return fmt.Errorf("%q is not one of %s", v, strings.Join(allowed, ", "))
	}
}

// dscpValue checks webrtc.qos_dscp: empty (none) or a DSCPValue name.
func dscpValue(v string) error {
	if v == "" {
		return nil
	}
	return oneOf(DSCPValues...)(v)
}

func hostPort(v string) error {
	_, port, err := net.SplitHostPort(v)
	if err != nil {
		return fmt.Errorf("%q is not host:port", v)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("%q: port must be a number from 0 to 65535", v)
	}
	return nil
}

// socketBuffer checks webrtc.udp_mux_buffer and webrtc.udp_endpoint_buffer: 0 (the system's default) or 64 KiB to 1 GiB.
func socketBuffer(v int) error {
	if v != 0 && (v < 64<<10 || v > 1<<30) {
		return fmt.Errorf("must be 0 (the system's default) or from 65536 to 1073741824 bytes, got %d", v)
	}
	return nil
}

func port(v int) error {
	if v < 0 || v > 65535 {
		return fmt.Errorf("must be a port from 0 to 65535, got %d", v)
	}
	return nil
}

// ipList checks a comma-separated list of IP addresses (empty is fine).
func ipList(v string) error {
	if v == "" {
		return nil
	}
	for _, s := range strings.Split(v, ",") {
		if net.ParseIP(strings.TrimSpace(s)) == nil {
			return fmt.Errorf("%q is not an IP address", strings.TrimSpace(s))
		}
	}
	return nil
}

// stunServer checks host[:port] (empty is fine).
func stunServer(v string) error {
	if v == "" {
		return nil
	}
	if _, _, err := net.SplitHostPort(v); err != nil {
		v = net.JoinHostPort(v, "3478")
	}
	if err := hostPort(v); err != nil {
		return err
	}
	if host, _, _ := net.SplitHostPort(v); host == "" {
		return fmt.Errorf("%q has no host", v)
	}
	return nil
}

// turnURL checks Kurento's turnUrl format: user:password@host:port with an
// optional ?transport=udp|tcp|tls (empty is fine). The value is secret: the
// messages do not repeat it.
func turnURL(v string) error {
	if v == "" {
		return nil
	}
	i := strings.LastIndex(v, "@") // the password may contain @
	if i < 0 {
		return errors.New("want user:password@host:port[?transport=udp|tcp|tls]")
	}
	creds, addr := v[:i], v[i+1:]
	if user, _, hasPass := strings.Cut(creds, ":"); !hasPass || user == "" {
		return errors.New("want user:password before the @")
	}
	addr, query, _ := strings.Cut(addr, "?")
	if query != "" {
		t, ok := strings.CutPrefix(query, "transport=")
		if !ok || (t != "udp" && t != "tcp" && t != "tls") {
			return errors.New("the only option is ?transport=udp, tcp or tls")
		}
	}
	host, p, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return errors.New("want host:port after the @")
	}
	if n, err := strconv.ParseUint(p, 10, 16); err != nil || n == 0 {
		return errors.New("the port must be a number from 1 to 65535")
	}
	return nil
}
