// Package config holds Miksilo's settings and loads them from, in order of
// increasing precedence: built-in defaults, a YAML file, MIKSILO_*
// environment variables and command-line flags; the result is validated.
//
// Every setting is declared once, in the table in settings.go; the YAML keys,
// environment variables, flags, -help text and docs/configuration.md are all
// derived from it.
package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the server's configuration. The yaml tags are the keys of the
// configuration file.
type Config struct {
	Addr     string         `yaml:"addr"`
	Log      LogConfig      `yaml:"log"`
	Sessions SessionsConfig `yaml:"sessions"`
	Limits   LimitsConfig   `yaml:"limits"`
	Auth     AuthConfig     `yaml:"auth"`
	Metadata string         `yaml:"metadata"`
	Debug    DebugConfig    `yaml:"debug"`
	WebRTC   WebRTCConfig   `yaml:"webrtc"`
	Memory   MemoryConfig   `yaml:"memory"`
	Shutdown ShutdownConfig `yaml:"shutdown"`
}

// MemoryConfig is how the server returns memory to the system.
type MemoryConfig struct {
	TrimInterval time.Duration `yaml:"trim_interval"` // malloc_trim period; 0: never
	MallocArenas int           `yaml:"malloc_arenas"` // glibc M_ARENA_MAX; 0: glibc's default
}

// WebRTCConfig holds the network settings of WebRTC endpoints.
type WebRTCConfig struct {
	UDPPortMin        int    `yaml:"udp_port_min"`        // 0/0: any port
	UDPPortMax        int    `yaml:"udp_port_max"`        //
	UDPMuxPort        int    `yaml:"udp_mux_port"`        // 0: off
	UDPMuxBuffer      int    `yaml:"udp_mux_buffer"`      // bytes, receive and send; 0: the system's default
	UDPEndpointBuffer int    `yaml:"udp_endpoint_buffer"` // bytes, receive and send; 0: the system's default
	TCPPort           int    `yaml:"tcp_port"`            // ICE-TCP; 0: off
	QoSDSCP           string `yaml:"qos_dscp"`            // DSCPValue name; "" or NO_DSCP: none
	NAT1To1IPs        string `yaml:"nat1to1_ips"`         // comma-separated
	STUNServer        string `yaml:"stun_server"`         // host[:port]
	TURNURL           string `yaml:"turn_url"`            // user:password@host:port[?transport=…]
	LoopbackOnly      bool   `yaml:"loopback_only"`       // 127.0.0.1 candidates only (tests)
	SendBatching      bool   `yaml:"send_batching"`       // a burst's datagrams in one sendmmsg per socket
}

// NAT1To1List returns the NAT 1:1 IPs as a list.
func (w WebRTCConfig) NAT1To1List() []string {
	var out []string
	for _, s := range strings.Split(w.NAT1To1IPs, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// check validates what involves several WebRTC settings.
func (w WebRTCConfig) check() error {
	switch {
	case (w.UDPPortMin == 0) != (w.UDPPortMax == 0):
		return errors.New("webrtc.udp_port_min and webrtc.udp_port_max: set both or neither")
	case w.UDPPortMin > w.UDPPortMax:
		return fmt.Errorf("webrtc.udp_port_min (%d) is above webrtc.udp_port_max (%d)", w.UDPPortMin, w.UDPPortMax)
	}
	return nil
}

// DebugConfig holds diagnostics that are off by default.
type DebugConfig struct {
	Pprof bool `yaml:"pprof"`
}

// LogConfig selects the log level and format.
type LogConfig struct {
	Level  string `yaml:"level"`  // debug, info, warn or error
	Format string `yaml:"format"` // text or json
}

// SessionsConfig tunes the lifetime of Kurento sessions.
type SessionsConfig struct {
	GCPeriod        time.Duration `yaml:"gc_period"`
	RequestCacheTTL time.Duration `yaml:"request_cache_ttl"`
}

// LimitsConfig bounds what clients may consume.
type LimitsConfig struct {
	MaxMessageBytes      int64 `yaml:"max_message_bytes"`
	MaxObjectsPerSession int   `yaml:"max_objects_per_session"`
	MaxObjects           int   `yaml:"max_objects"`
	EventQueue           int   `yaml:"event_queue"`
}

// AuthConfig holds the shared secret clients must present.
type AuthConfig struct {
	Token string `yaml:"token"`
}

// ShutdownConfig tunes graceful shutdown.
type ShutdownConfig struct {
	Timeout time.Duration `yaml:"timeout"`
}

// Default returns the built-in defaults.
func Default() Config {
	var c Config
	for _, s := range settings() {
		s.bind.setDefault(&c)
	}
	return c
}

// Load builds the configuration from defaults, the YAML file named by
// -config or MIKSILO_CONFIG, MIKSILO_* environment variables (read with
// getenv, e.g. os.LookupEnv) and the flags in args (without the program
// name), then validates it. Usage and errors from flag parsing go to out.
// With -h or -help it prints the full help and returns flag.ErrHelp.
func Load(args []string, getenv func(string) (string, bool), out io.Writer) (Config, error) {
	if getenv == nil {
		getenv = func(string) (string, bool) { return "", false }
	}
	if out == nil {
		out = io.Discard
	}
	table := settings()

	// Flags are parsed first (they may name the file) into a scratch Config,
	// and copied over the file and environment afterwards.
	flagged := Default()
	var file string
	fs := newFlagSet(table, &flagged, &file, out)
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q: settings are given as flags, e.g. -addr 127.0.0.1:8888", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	cfg := Default()

	if !set[configFlag] {
		file, _ = getenv(configEnv)
	}
	if file != "" {
		if err := cfg.loadFile(file); err != nil {
			return Config{}, err
		}
	}

	var errs []error
	for _, s := range table {
		if v, ok := getenv(s.env); ok {
			if err := s.bind.value(&cfg).Set(v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", s.names(), err))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, err
	}

	for _, s := range table {
		if set[s.flag] {
			s.bind.copy(&cfg, &flagged)
		}
	}

	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// loadFile overlays the YAML file at path on c. Keys that are not settings
// are rejected.
func (c *Config) loadFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	fail := func(format string, a ...any) error {
		return fmt.Errorf("config file %s: %s", path, fmt.Sprintf(format, a...))
	}

	// A first pass names unknown keys by their full path ("log.lvl").
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	switch err := dec.Decode(&doc); {
	case errors.Is(err, io.EOF): // empty file
		return nil
	case err != nil:
		return fail("%v", err)
	}
	if err := dec.Decode(new(yaml.Node)); !errors.Is(err, io.EOF) {
		return fail("want a single YAML document")
	}
	lines := map[int]string{} // line of a setting's value -> its key
	if unknown := walkYAML(&doc, keyTree(settings()), "", lines); len(unknown) > 0 {
		return fail("%s (see miksilo -help for the keys)", strings.Join(unknown, "; "))
	}

	// The typed decode still rejects unknown fields, and reports bad values.
	dec = yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			// "line 5: cannot unmarshal !!int `10` into time.Duration" becomes
			// "line 5: shutdown.timeout: cannot unmarshal ... (durations need a unit, e.g. 10s)".
			msgs := make([]string, len(te.Errors))
			for i, m := range te.Errors {
				var line int
				if _, err := fmt.Sscanf(m, "line %d:", &line); err == nil && lines[line] != "" {
					m = strings.Replace(m, ": ", ": "+lines[line]+": ", 1)
				}
				if strings.HasSuffix(m, "into time.Duration") {
					m += " (durations need a unit, e.g. 10s)"
				}
				msgs[i] = m
			}
			return fail("%s", strings.Join(msgs, "; "))
		}
		return fail("%v", err)
	}
	return nil
}

// walkYAML lists the mapping keys under n that are not in the key tree, each
// with its line and dotted path, and records in lines where each setting's
// value is. Other problems are left to the decoder.
func walkYAML(n *yaml.Node, known []*keyNode, prefix string, lines map[int]string) []string {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 1 {
			return walkYAML(n.Content[0], known, prefix, lines)
		}
	case yaml.AliasNode:
		if n.Alias != nil {
			return walkYAML(n.Alias, known, prefix, lines)
		}
	case yaml.MappingNode:
		var unknown []string
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Tag == "!!merge" {
				unknown = append(unknown, walkYAML(v, known, prefix, lines)...)
				continue
			}
			var kn *keyNode
			for _, c := range known {
				if c.name == k.Value {
					kn = c
				}
			}
			switch {
			case kn == nil:
				unknown = append(unknown, fmt.Sprintf("line %d: unknown key %q", k.Line, prefix+k.Value))
			case kn.setting == nil:
				unknown = append(unknown, walkYAML(v, kn.children, prefix+k.Value+".", lines)...)
			default:
				if prev, ok := lines[v.Line]; ok && prev != kn.setting.key {
					lines[v.Line] = "" // several settings on one line: name none
				} else {
					lines[v.Line] = kn.setting.key
				}
			}
		}
		return unknown
	}
	return nil
}

// Validate checks every setting and returns all problems joined, each naming
// its setting.
func (c Config) Validate() error {
	var errs []error
	for _, s := range settings() {
		if err := s.bind.check(&c); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.names(), err))
		}
	}
	if err := c.WebRTC.check(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Logger returns a logger writing to w in the configured format, at the
// configured level.
func (c Config) Logger(w io.Writer) *slog.Logger {
	level := slog.LevelInfo
	switch c.Log.Level {
	case "debug":
		level = slog.LevelDebug
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	}
	opts := &slog.HandlerOptions{Level: level}
	if c.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// redacted replaces secrets in logs. An empty secret is shown as empty, so
// the log still tells whether it is set.
const redacted = "REDACTED"

// LogValue groups the settings by their YAML keys, with auth.token redacted,
// so a Config can be logged as is: logger.Info("config", "config", cfg).
func (c Config) LogValue() slog.Value {
	var attrs []slog.Attr
	for _, s := range settings() {
		v := s.bind.logValue(&c)
		if s.secret && s.bind.value(&c).String() != "" {
			v = slog.StringValue(redacted)
		}
		attrs = insertAttr(attrs, strings.Split(s.key, "."), v)
	}
	return slog.GroupValue(attrs...)
}

// String prints the settings as key=value pairs, with auth.token redacted,
// so that fmt never leaks the token either.
func (c Config) String() string {
	var b strings.Builder
	for i, s := range settings() {
		if i > 0 {
			b.WriteByte(' ')
		}
		v := s.bind.literal(&c)
		if s.secret && s.bind.value(&c).String() != "" {
			v = redacted
		}
		b.WriteString(s.key + "=" + v)
	}
	return b.String()
}

// insertAttr adds v at the dotted path, nesting groups in order of first use.
func insertAttr(attrs []slog.Attr, path []string, v slog.Value) []slog.Attr {
	if len(path) == 1 {
		return append(attrs, slog.Attr{Key: path[0], Value: v})
	}
	for i := range attrs {
		if attrs[i].Key == path[0] && attrs[i].Value.Kind() == slog.KindGroup {
			attrs[i].Value = slog.GroupValue(insertAttr(attrs[i].Value.Group(), path[1:], v)...)
			return attrs
		}
	}
	return append(attrs, slog.Attr{Key: path[0], Value: slog.GroupValue(insertAttr(nil, path[1:], v)...)})
}
