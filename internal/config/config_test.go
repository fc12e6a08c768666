package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// env returns a getenv reading from m.
func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// writeFile writes content to a new file in a temporary directory.
func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "miksilo.yaml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefault(t *testing.T) {
	want := Config{
		Addr:     "0.0.0.0:8888",
		Log:      LogConfig{Level: "info", Format: "text"},
		Sessions: SessionsConfig{GCPeriod: 240 * time.Second, RequestCacheTTL: 20 * time.Second},
		Limits:   LimitsConfig{MaxMessageBytes: 1048576, MaxObjectsPerSession: 10000, MaxObjects: 100000, EventQueue: 4096},
		Auth:     AuthConfig{Token: ""},
		Metadata: "",
		WebRTC:   WebRTCConfig{UDPMuxBuffer: 4 << 20, UDPEndpointBuffer: 1 << 20, SendBatching: true},
		Memory:   MemoryConfig{TrimInterval: 30 * time.Second, MallocArenas: 2},
		Shutdown: ShutdownConfig{Timeout: 10 * time.Second},
	}
	if got := Default(); got != want {
		t.Errorf("Default() = %+v, want %+v", got, want)
	}
	if err := Default().Validate(); err != nil {
		t.Errorf("Default().Validate() = %v", err)
	}
	got, err := Load(nil, env(nil), io.Discard)
	if err != nil || got != want {
		t.Errorf("Load(no args, no env) = %+v, %v; want %+v", got, err, want)
	}
}

const fullYAML = `
addr: 127.0.0.1:9000
log:
  level: debug
  format: json
sessions:
  gc_period: 2m
  request_cache_ttl: 0s
limits:
  max_message_bytes: 65536
  max_objects_per_session: 10
  max_objects: 20
  event_queue: 30
auth:
  token: s3cret
metadata: hello
shutdown:
  timeout: 1m30s
`

func TestLoad(t *testing.T) {
	full := Config{
		Addr:     "127.0.0.1:9000",
		Log:      LogConfig{Level: "debug", Format: "json"},
		Sessions: SessionsConfig{GCPeriod: 2 * time.Minute, RequestCacheTTL: 0},
		Limits:   LimitsConfig{MaxMessageBytes: 65536, MaxObjectsPerSession: 10, MaxObjects: 20, EventQueue: 30},
		Auth:     AuthConfig{Token: "s3cret"},
		Metadata: "hello",
		WebRTC:   WebRTCConfig{UDPMuxBuffer: 4 << 20, UDPEndpointBuffer: 1 << 20, SendBatching: true},
		Memory:   MemoryConfig{TrimInterval: 30 * time.Second, MallocArenas: 2},
		Shutdown: ShutdownConfig{Timeout: 90 * time.Second},
	}
	with := func(f func(*Config)) Config {
		c := Default()
		f(&c)
		return c
	}

	tests := []struct {
		name string
		yaml string // when set, written to a file named by -config, or by MIKSILO_CONFIG if fileByEnv
		// fileByEnv names the file with MIKSILO_CONFIG instead of -config.
		fileByEnv bool
		env       map[string]string
		args      []string
		want      Config
	}{
		{name: "yaml sets every key", yaml: fullYAML, want: full},
		{
			name: "yaml overrides some keys, others keep defaults",
			yaml: "log:\n  level: warn\nlimits:\n  max_objects: 7\n",
			want: with(func(c *Config) { c.Log.Level = "warn"; c.Limits.MaxObjects = 7 }),
		},
		{name: "empty yaml file", yaml: "\n", want: Default()},
		{name: "yaml file with only comments", yaml: "# nothing set\n", want: Default()},
		{name: "yaml file named by MIKSILO_CONFIG", yaml: "metadata: from-env-file\n", fileByEnv: true,
			want: with(func(c *Config) { c.Metadata = "from-env-file" })},
		{
			name: "env sets every key",
			env: map[string]string{
				"MIKSILO_ADDR": "127.0.0.1:9000", "MIKSILO_LOG_LEVEL": "debug", "MIKSILO_LOG_FORMAT": "json",
				"MIKSILO_GC_PERIOD": "2m", "MIKSILO_REQUEST_CACHE_TTL": "0s",
				"MIKSILO_MAX_MESSAGE_BYTES": "65536", "MIKSILO_MAX_OBJECTS_PER_SESSION": "10",
				"MIKSILO_MAX_OBJECTS": "20", "MIKSILO_EVENT_QUEUE": "30", "MIKSILO_AUTH_TOKEN": "s3cret",
				"MIKSILO_METADATA": "hello", "MIKSILO_SHUTDOWN_TIMEOUT": "1m30s",
			},
			want: full,
		},
		{
			name: "flags set every key",
			args: []string{
				"-addr", "127.0.0.1:9000", "-log-level", "debug", "-log-format=json",
				"-gc-period", "2m", "-request-cache-ttl", "0", "-max-message-bytes", "65536",
				"-max-objects-per-session", "10", "-max-objects", "20", "-event-queue", "30",
				"-auth-token", "s3cret", "-metadata", "hello", "--shutdown-timeout", "1m30s",
			},
			want: full,
		},
		{
			name: "env overrides yaml",
			yaml: fullYAML,
			env:  map[string]string{"MIKSILO_ADDR": ":7000", "MIKSILO_GC_PERIOD": "5s", "MIKSILO_AUTH_TOKEN": ""},
			want: with(func(c *Config) {
				*c = full
				c.Addr, c.Sessions.GCPeriod, c.Auth.Token = ":7000", 5*time.Second, ""
			}),
		},
		{
			name: "flags override env and yaml",
			yaml: fullYAML,
			env:  map[string]string{"MIKSILO_ADDR": ":7000", "MIKSILO_MAX_OBJECTS": "50"},
			args: []string{"-addr", ":6000", "-log-level", "error"},
			want: with(func(c *Config) {
				*c = full
				c.Addr, c.Log.Level, c.Limits.MaxObjects = ":6000", "error", 50
			}),
		},
		{
			name: "send batching off by env",
			env:  map[string]string{"MIKSILO_WEBRTC_SEND_BATCHING": "false"},
			want: with(func(c *Config) { c.WebRTC.SendBatching = false }),
		},
		{
			name: "send batching off by yaml",
			yaml: "webrtc:\n  send_batching: false\n",
			want: with(func(c *Config) { c.WebRTC.SendBatching = false }),
		},
		{
			name: "memory trim interval by yaml",
			yaml: "memory:\n  trim_interval: 5s\n",
			want: with(func(c *Config) { c.Memory.TrimInterval = 5 * time.Second }),
		},
		{
			name: "malloc arenas by env",
			env:  map[string]string{"MIKSILO_MEMORY_MALLOC_ARENAS": "0"},
			want: with(func(c *Config) { c.Memory.MallocArenas = 0 }),
		},
		{
			name: "memory trim off by flag",
			args: []string{"-memory-trim-interval", "0"},
			want: with(func(c *Config) { c.Memory.TrimInterval = 0 }),
		},
		{
			name: "send batching off by flag",
			args: []string{"-webrtc-send-batching=false"},
			want: with(func(c *Config) { c.WebRTC.SendBatching = false }),
		},
		{
			name: "a flag given with its default value still overrides",
			env:  map[string]string{"MIKSILO_LOG_LEVEL": "debug"},
			args: []string{"-log-level", "info"},
			want: Default(),
		},
		{
			name:      "-config overrides MIKSILO_CONFIG",
			yaml:      "metadata: from-flag-file\n",
			fileByEnv: false,
			env:       map[string]string{"MIKSILO_CONFIG": "/nonexistent/miksilo.yaml"},
			want:      with(func(c *Config) { c.Metadata = "from-flag-file" }),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := map[string]string{}
			for k, v := range tt.env {
				e[k] = v
			}
			args := tt.args
			if tt.yaml != "" {
				p := writeFile(t, tt.yaml)
				if tt.fileByEnv {
					e["MIKSILO_CONFIG"] = p
				} else {
					args = append([]string{"-config", p}, args...)
				}
			}
			var out bytes.Buffer
			got, err := Load(args, env(e), &out)
			if err != nil {
				t.Fatalf("Load: %v\noutput: %s", err, out.String())
			}
			if got != tt.want {
				t.Errorf("Load =\n %+v\nwant\n %+v", got, tt.want)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string // when set, written to a file named by -config
		env  map[string]string
		args []string
		// want are substrings of the error, typically the setting's name.
		want []string
	}{
		{name: "unknown yaml field", yaml: "log:\n  lvl: debug\n", want: []string{"line 2", `unknown key "log.lvl"`}},
		{name: "unknown top-level yaml field", yaml: "adr: :80\n", want: []string{`unknown key "adr"`}},
		{name: "unknown yaml fields all named", yaml: "adr: :80\nlimits:\n  max_object: 1\n  event_queue: 1\n",
			want: []string{`line 1: unknown key "adr"`, `line 3: unknown key "limits.max_object"`}},
		{name: "yaml: unknown field in a merged mapping", yaml: "x: &x {level: info, lvl: 1}\nlog:\n  <<: *x\n",
			want: []string{`unknown key "x"`, `unknown key "log.lvl"`}},
		{name: "yaml: mapping for a scalar setting", yaml: "addr:\n  host: x\n", want: []string{"line 2: addr:"}},
		{name: "yaml: bad duration", yaml: "sessions:\n  gc_period: soon\n", want: []string{"line 2: sessions.gc_period:", "soon"}},
		{name: "yaml: duration without unit", yaml: "shutdown:\n  timeout: 10\n", want: []string{"shutdown.timeout", "need a unit"}},
		{name: "yaml: bad int", yaml: "limits:\n  max_objects: many\n", want: []string{"limits.max_objects:", "many"}},
		{name: "yaml: int out of range", yaml: "limits:\n  event_queue: 99999999999999999999\n", want: []string{"limits.event_queue"}},
		{name: "yaml: several bad values", yaml: "limits:\n  event_queue: x\n  max_objects: y\n",
			want: []string{"limits.event_queue", "limits.max_objects"}},
		{name: "yaml: invalid syntax", yaml: "addr: [\n", want: []string{"config file"}},
		{name: "yaml: two documents", yaml: "addr: :1\n---\naddr: :2\n", want: []string{"single YAML document"}},
		{name: "yaml: invalid value", yaml: "log:\n  level: loud\n", want: []string{"log.level", `"loud"`}},
		{name: "missing config file", env: map[string]string{"MIKSILO_CONFIG": "/nonexistent/miksilo.yaml"},
			want: []string{"config file", "/nonexistent/miksilo.yaml"}},

		{name: "env: bad duration", env: map[string]string{"MIKSILO_GC_PERIOD": "soon"},
			want: []string{"sessions.gc_period", "MIKSILO_GC_PERIOD", `"soon" is not a duration`}},
		{name: "env: bad int", env: map[string]string{"MIKSILO_MAX_OBJECTS": "1.5"},
			want: []string{"limits.max_objects", "MIKSILO_MAX_OBJECTS", `"1.5" is not an integer`}},
		{name: "env: int out of range", env: map[string]string{"MIKSILO_EVENT_QUEUE": "99999999999999999999"},
			want: []string{"limits.event_queue", "out of range"}},
		{name: "env: empty int", env: map[string]string{"MIKSILO_MAX_MESSAGE_BYTES": ""},
			want: []string{"limits.max_message_bytes", "not an integer"}},
		{name: "env: bad enum", env: map[string]string{"MIKSILO_LOG_FORMAT": "xml"},
			want: []string{"log.format", `"xml" is not one of text, json`}},
		{name: "env: several errors reported together",
			env:  map[string]string{"MIKSILO_GC_PERIOD": "x", "MIKSILO_MAX_OBJECTS": "y"},
			want: []string{"sessions.gc_period", "limits.max_objects"}},

		{name: "flag: bad duration", args: []string{"-request-cache-ttl", "1 minute"},
			want: []string{"-request-cache-ttl", "not a duration"}},
		{name: "flag: bad int", args: []string{"-max-objects-per-session=ten"},
			want: []string{"-max-objects-per-session", "not an integer"}},
		{name: "flag: unknown", args: []string{"-port", "80"}, want: []string{"-port"}},
		{name: "flag: missing value", args: []string{"-addr"}, want: []string{"-addr"}},
		{name: "flag: positional argument", args: []string{"serve"}, want: []string{`"serve"`}},
		{name: "flag: bad addr", args: []string{"-addr", "localhost"},
			want: []string{"addr (-addr, MIKSILO_ADDR)", "not host:port"}},
		{name: "flag: negative ttl", args: []string{"-request-cache-ttl", "-1s"},
			want: []string{"sessions.request_cache_ttl", "negative"}},
		{name: "flag: unknown DSCP value", args: []string{"-webrtc-qos-dscp", "ef"},
			want: []string{"webrtc.qos_dscp", `"ef" is not one of`}},
		{name: "env: ICE-TCP port out of range", env: map[string]string{"MIKSILO_WEBRTC_TCP_PORT": "70000"},
			want: []string{"webrtc.tcp_port", "port"}},
		{name: "flag: UDP mux buffer too small", args: []string{"-webrtc-udp-mux-buffer", "1000"},
			want: []string{"webrtc.udp_mux_buffer", "65536"}},
		{name: "env: endpoint socket buffer too large", env: map[string]string{"MIKSILO_WEBRTC_UDP_ENDPOINT_BUFFER": "2147483648"},
			want: []string{"webrtc.udp_endpoint_buffer", "1073741824"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if tt.yaml != "" {
				args = append([]string{"-config", writeFile(t, tt.yaml)}, args...)
			}
			got, err := Load(args, env(tt.env), io.Discard)
			if err == nil {
				t.Fatalf("Load = %+v, want an error", got)
			}
			if got != (Config{}) {
				t.Errorf("Load returned %+v with its error, want the zero Config", got)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Config)
		want   []string // substrings of the error; none means valid
	}{
		{name: "defaults", modify: func(*Config) {}},
		{name: "addr without host", modify: func(c *Config) { c.Addr = ":8888" }},
		{name: "addr with port 0", modify: func(c *Config) { c.Addr = "127.0.0.1:0" }},
		{name: "addr IPv6", modify: func(c *Config) { c.Addr = "[::1]:65535" }},
		{name: "addr without port", modify: func(c *Config) { c.Addr = "127.0.0.1" }, want: []string{"addr", "host:port"}},
		{name: "addr named port", modify: func(c *Config) { c.Addr = "127.0.0.1:http" }, want: []string{"addr", "0 to 65535"}},
		{name: "addr port too big", modify: func(c *Config) { c.Addr = "127.0.0.1:65536" }, want: []string{"addr", "0 to 65535"}},
		{name: "addr negative port", modify: func(c *Config) { c.Addr = "127.0.0.1:-1" }, want: []string{"addr"}},
		{name: "addr empty", modify: func(c *Config) { c.Addr = "" }, want: []string{"addr"}},
		{name: "log level", modify: func(c *Config) { c.Log.Level = "INFO" }, want: []string{"log.level", "debug, info, warn, error"}},
		{name: "log format", modify: func(c *Config) { c.Log.Format = "" }, want: []string{"log.format"}},
		{name: "gc period 0", modify: func(c *Config) { c.Sessions.GCPeriod = 0 }, want: []string{"sessions.gc_period", "greater than 0"}},
		{name: "ttl 0 disables the cache", modify: func(c *Config) { c.Sessions.RequestCacheTTL = 0 }},
		{name: "ttl negative", modify: func(c *Config) { c.Sessions.RequestCacheTTL = -time.Second }, want: []string{"sessions.request_cache_ttl"}},
		{name: "max message bytes", modify: func(c *Config) { c.Limits.MaxMessageBytes = 0 }, want: []string{"limits.max_message_bytes"}},
		{name: "max objects per session", modify: func(c *Config) { c.Limits.MaxObjectsPerSession = -1 }, want: []string{"limits.max_objects_per_session"}},
		{name: "max objects", modify: func(c *Config) { c.Limits.MaxObjects = 0 }, want: []string{"limits.max_objects (-max-objects"}},
		{name: "event queue", modify: func(c *Config) { c.Limits.EventQueue = 0 }, want: []string{"limits.event_queue"}},
		{name: "shutdown timeout 0", modify: func(c *Config) { c.Shutdown.Timeout = 0 }},
		{name: "shutdown timeout negative", modify: func(c *Config) { c.Shutdown.Timeout = -1 }, want: []string{"shutdown.timeout"}},
		{
			name:   "all errors joined",
			modify: func(c *Config) { c.Addr = "x"; c.Log.Level = "x"; c.Limits.EventQueue = 0 },
			want:   []string{"addr", "log.level", "limits.event_queue"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.modify(&c)
			err := c.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate() = nil, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestHelp(t *testing.T) {
	for _, arg := range []string{"-help", "-h", "--help"} {
		t.Run(arg, func(t *testing.T) {
			var out bytes.Buffer
			_, err := Load([]string{arg}, env(nil), &out)
			if !errors.Is(err, flag.ErrHelp) {
				t.Fatalf("Load(%s) error = %v, want flag.ErrHelp", arg, err)
			}
			help := out.String()
			want := []string{"-config FILE", "MIKSILO_CONFIG", "1. built-in defaults", "4. command-line flags"}
			for _, s := range settings() {
				want = append(want, "-"+s.flag+" ", s.env+",", "yaml "+s.key+",", plain(s.doc))
			}
			want = append(want, `default "0.0.0.0:8888"`, "default 240s", "default 1048576")
			for _, w := range want {
				if !strings.Contains(help, w) {
					t.Errorf("help does not contain %q:\n%s", w, help)
				}
			}
		})
	}
}

func TestLogValue(t *testing.T) {
	c := Default()
	c.Auth.Token = "s3cret-t0ken"
	c.Metadata = "meta"

	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			var out bytes.Buffer
			lc := c
			lc.Log.Format = format
			lc.Logger(&out).Info("starting", "config", lc)
			s := out.String()
			if strings.Contains(s, "s3cret") {
				t.Errorf("log leaks the token: %s", s)
			}
			for _, w := range []string{redacted, "meta", "0.0.0.0:8888"} {
				if !strings.Contains(s, w) {
					t.Errorf("log does not contain %q: %s", w, s)
				}
			}
			if format == "json" {
				var rec struct {
					Config struct {
						Auth     struct{ Token string }
						Sessions struct {
							GCPeriod int64 `json:"gc_period"`
						}
					}
				}
				if err := json.Unmarshal(out.Bytes(), &rec); err != nil {
					t.Fatal(err)
				}
				if rec.Config.Auth.Token != redacted || rec.Config.Sessions.GCPeriod != int64(240*time.Second) {
					t.Errorf("json record = %+v", rec)
				}
			} else if !strings.Contains(s, "config.auth.token="+redacted) {
				t.Errorf("text record lacks config.auth.token=%s: %s", redacted, s)
			}
		})
	}

	t.Run("fmt", func(t *testing.T) {
		for _, verb := range []string{"%v", "%+v", "%s"} {
			s := strings.ReplaceAll(verb, "%", "")
			got := fmt.Sprintf(verb, c)
			if strings.Contains(got, "s3cret") || !strings.Contains(got, "auth.token="+redacted) {
				t.Errorf("%s: %s", s, got)
			}
		}
	})

	t.Run("empty token shown empty", func(t *testing.T) {
		v := Default().LogValue()
		if strings.Contains(v.String(), redacted) {
			t.Errorf("empty token shown as %s: %s", redacted, v)
		}
	})
}

func TestLogger(t *testing.T) {
	tests := []struct {
		level, format string
		wantDebug     bool
		wantInfo      bool
	}{
		{"debug", "text", true, true},
		{"info", "json", false, true},
		{"warn", "text", false, false},
		{"error", "json", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.level+"/"+tt.format, func(t *testing.T) {
			c := Default()
			c.Log.Level, c.Log.Format = tt.level, tt.format
			var out bytes.Buffer
			log := c.Logger(&out)
			log.Debug("d")
			log.Info("i")
			log.Error("e")
			s := out.String()
			if got := strings.Contains(s, "msg=d") || strings.Contains(s, `"msg":"d"`); got != tt.wantDebug {
				t.Errorf("debug logged = %v, want %v: %s", got, tt.wantDebug, s)
			}
			if got := strings.Contains(s, "msg=i") || strings.Contains(s, `"msg":"i"`); got != tt.wantInfo {
				t.Errorf("info logged = %v, want %v: %s", got, tt.wantInfo, s)
			}
			if isJSON := strings.HasPrefix(s, "{"); isJSON != (tt.format == "json") {
				t.Errorf("format %s produced %s", tt.format, s)
			}
		})
	}
}

// TestSettingsMatchConfig checks the table against Config: one setting per
// field, keys equal to the yaml tags, names following the conventions.
func TestSettingsMatchConfig(t *testing.T) {
	var fields []string
	var walk func(reflect.Type, string)
	walk = func(typ reflect.Type, prefix string) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			key := prefix + strings.Split(f.Tag.Get("yaml"), ",")[0]
			if f.Type.Kind() == reflect.Struct {
				walk(f.Type, key+".")
				continue
			}
			fields = append(fields, key)
		}
	}
	walk(reflect.TypeFor[Config](), "")

	var keys []string
	seen := map[string]bool{}
	for _, s := range settings() {
		keys = append(keys, s.key)
		for _, name := range []string{s.key, s.env, "-" + s.flag} {
			if seen[name] {
				t.Errorf("%s declared twice", name)
			}
			seen[name] = true
		}
		if want := "MIKSILO_" + strings.ToUpper(strings.ReplaceAll(s.flag, "-", "_")); s.env != want {
			t.Errorf("%s: env %s, want %s", s.key, s.env, want)
		}
		if s.doc == "" || strings.Contains(s.doc, "\n") {
			t.Errorf("%s: doc must be one non-empty line", s.key)
		}
	}
	if !reflect.DeepEqual(fields, keys) {
		t.Errorf("Config fields %v\ndo not match the settings %v (same order)", fields, keys)
	}

	// Each setting must reach its own field: set every field to a distinct
	// value through the table, and the same values through YAML.
	var viaTable Config
	tree := map[string]any{}
	for i, s := range settings() {
		var sample string
		switch typ := s.typeName(); {
		case s.key == "addr":
			sample = "host:1"
		case s.key == "webrtc.nat1to1_ips":
			sample = "192.0.2.1"
		case s.key == "webrtc.turn_url":
			sample = "user:pass@192.0.2.2:3478"
		case s.key == "webrtc.qos_dscp":
			sample = "EF"
		case s.key == "webrtc.udp_mux_buffer":
			sample = "1048576"
		case s.key == "webrtc.udp_endpoint_buffer":
			sample = "2097152"
		case strings.Contains(typ, "|"): // an enum: not its default
			sample = strings.Split(typ, "|")[1]
		case typ == "int":
			sample = formatInt(i + 1)
		case typ == "duration":
			sample = formatDuration(time.Duration(i+1) * time.Second)
		case typ == "bool": // every bool defaults to false
			sample = "true"
		default:
			sample = fmt.Sprint("v", i)
		}
		if err := s.bind.value(&viaTable).Set(sample); err != nil {
			t.Fatalf("%s: Set(%q): %v", s.key, sample, err)
		}
		m, path := tree, strings.Split(s.key, ".")
		for _, p := range path[:len(path)-1] {
			if m[p] == nil {
				m[p] = map[string]any{}
			}
			m = m[p].(map[string]any)
		}
		m[path[len(path)-1]] = s.bind.logValue(&viaTable).Any() // typed: int64, time.Duration, string
	}
	doc, err := yaml.Marshal(tree)
	if err != nil {
		t.Fatal(err)
	}
	var viaYAML Config
	dec := yaml.NewDecoder(bytes.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(&viaYAML); err != nil {
		t.Fatalf("decoding\n%s: %v", doc, err)
	}
	if viaTable != viaYAML {
		t.Errorf("table sets %+v\nyaml sets  %+v\nfrom\n%s", viaTable, viaYAML, doc)
	}
	if viaTable == Default() {
		t.Error("samples equal the defaults")
	}
	if err := viaTable.Validate(); err != nil {
		t.Errorf("sample config invalid: %v", err)
	}
}

func TestBoolSetting(t *testing.T) {
	env := func(m map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	for _, tc := range []struct {
		name    string
		args    []string
		env     map[string]string
		want    bool
		wantErr bool
	}{
		{"default off", nil, nil, false, false},
		{"bare flag", []string{"-debug-pprof"}, nil, true, false},
		{"flag false beats env", []string{"-debug-pprof=false"}, map[string]string{"MIKSILO_DEBUG_PPROF": "true"}, false, false},
		{"env", nil, map[string]string{"MIKSILO_DEBUG_PPROF": "true"}, true, false},
		{"bad env", nil, map[string]string{"MIKSILO_DEBUG_PPROF": "yes please"}, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(tc.args, env(tc.env), io.Discard)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			if err == nil && c.Debug.Pprof != tc.want {
				t.Fatalf("pprof = %v, want %v", c.Debug.Pprof, tc.want)
			}
		})
	}
}
