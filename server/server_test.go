package server

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/miksilo/miksilo/internal/config"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// startServer runs a server on 127.0.0.1:0; stop cancels it and returns
// Run's result (the test's cleanup stops it too).
func startServer(t *testing.T, mutate func(*config.Config)) (srv *Server, addr string, stop func() error) {
	t.Helper()
	cfg := config.Default()
	cfg.Addr = "127.0.0.1:0"
	cfg.Shutdown.Timeout = 2 * time.Second
	if mutate != nil {
		mutate(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	srv, err := New(cfg, cfg.Logger(io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	var once sync.Once
	var runErr error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(5 * time.Second):
				runErr = errors.New("server did not stop")
			}
		})
		return runErr
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("run: %v", err)
		}
	})
	return srv, srv.Addr().String(), stop
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestHTTPEndpoints(t *testing.T) {
	_, addr, _ := startServer(t, nil)
	if code, body := get(t, "http://"+addr+"/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("/healthz = %d %q", code, body)
	}
	if code, _ := get(t, "http://"+addr+"/other"); code != http.StatusNotFound {
		t.Fatalf("unknown path = %d", code)
	}
	if code, _ := get(t, "http://"+addr+"/debug/pprof/"); code != http.StatusNotFound {
		t.Fatalf("profiler served without debug.pprof: %d", code)
	}
	if _, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/kurento2", nil); err == nil {
		t.Fatal("websocket accepted on a path other than /kurento")
	}
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/kurento", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"create","params":{"type":"MediaPipeline"}}`,
		`{"jsonrpc":"2.0","id":2,"method":"bogus"}`,
	} {
		if err := ws.WriteMessage(websocket.TextMessage, []byte(m)); err != nil {
			t.Fatal(err)
		}
		if _, _, err := ws.ReadMessage(); err != nil {
			t.Fatal(err)
		}
	}
	_, metrics := get(t, "http://"+addr+"/metrics")
	for _, want := range []string{
		`miksilo_rpc_requests_total{code="0",method="create"} 1`,
		`miksilo_rpc_requests_total{code="-32601",method="unknown"} 1`,
		`miksilo_rpc_request_duration_seconds_bucket{method="create"`,
		`miksilo_objects{type="MediaPipeline"} 1`,
		`miksilo_objects{type="PassThrough"} 0`,
		`miksilo_sessions 1`,
		`miksilo_websocket_connections 1`,
		`miksilo_composite_frames_total 0`,
		`miksilo_composite_inputs 0`,
		`miksilo_composite_frame_interval_seconds_count 0`,
		`miksilo_gstreamer_objects{kind="pipeline"}`,
		`miksilo_gstreamer_objects{kind="element"}`,
		`miksilo_c_heap_bytes{state="in_use"}`,
		`miksilo_c_heap_bytes{state="free"}`,
		`miksilo_c_heap_bytes{state="arenas"}`,
		`go_goroutines`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	ws.Close()
}

func TestConfigReachesTheServer(t *testing.T) {
	_, addr, _ := startServer(t, func(c *config.Config) { c.Auth.Token = "tok"; c.Metadata = "show-42" })
	if _, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/kurento", nil); err == nil {
		t.Fatal("token not enforced")
	}
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/kurento?access_token=tok", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	_ = ws.WriteMessage(websocket.TextMessage, []byte(`{"jsonrpc":"2.0","id":1,"method":"invoke","params":{"object":"manager_ServerManager","operation":"getMetadata"}}`))
	_, b, err := ws.ReadMessage()
	if err != nil || !strings.Contains(string(b), `"value":"show-42"`) {
		t.Fatalf("getMetadata = %s %v", b, err)
	}
}

func TestPprofOptIn(t *testing.T) {
	_, addr, _ := startServer(t, func(c *config.Config) { c.Debug.Pprof = true })
	if code, body := get(t, "http://"+addr+"/debug/pprof/"); code != 200 || !strings.Contains(body, "goroutine") {
		t.Fatalf("/debug/pprof/ = %d", code)
	}
}

// Shutdown releases every pipeline and closes client sockets.
func TestShutdownReleasesEverything(t *testing.T) {
	srv, addr, stop := startServer(t, nil)
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/kurento", nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = ws.WriteMessage(websocket.TextMessage, []byte(`{"jsonrpc":"2.0","id":1,"method":"create","params":{"type":"MediaPipeline"}}`))
	if _, _, err := ws.ReadMessage(); err != nil {
		t.Fatal(err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ws.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Fatalf("client saw %v, want close 1001", err)
	}
	ws.Close()
	if n := srv.Store().Len(); n != 0 {
		t.Fatalf("%d objects left after shutdown", n)
	}
}

// docs/api.md is generated from the registry: `make docs` rewrites it.
func TestDocsUpToDate(t *testing.T) {
	path := filepath.Join("..", "docs", "api.md")
	want := Registry(config.Default(), nil, nil).APIMarkdown()
	if os.Getenv("MIKSILO_UPDATE_DOCS") == "1" {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(path)
	if err != nil || string(got) != want {
		t.Fatal("docs/api.md is stale: run make docs")
	}
}
