package mediaelements

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// APIVersion is the Kurento API version Miksilo implements and reports.
const APIVersion = "7.3.0"

// ServerManager is the fixed manager_ServerManager object.
type ServerManager struct {
	ObjectBase
}

func serverManagerClass() *Class {
	return &Class{
		Name: "ServerManager", Module: "core", Extends: "MediaObject", Abstract: true,
		Doc: "A standalone object for managing the media server; its id is always manager_ServerManager.",
		Properties: []Property{
			{Name: "info", Type: "ServerInfo", Access: ReadOnly, Doc: "Server information: version, modules and their factories, capabilities.",
				Get: Get(func(m *ServerManager) any { return m.info() })},
			{Name: "pipelines", Type: "MediaPipeline[]", Access: ReadOnly, Doc: "All the pipelines in the server.",
				Get: Get(func(m *ServerManager) any { return m.store.Pipelines() })},
			{Name: "sessions", Type: "String[]", Access: ReadOnly, Doc: "All the sessions in the server.",
				Get: Get(func(m *ServerManager) any { return m.store.Sessions() })},
			{Name: "metadata", Type: "String", Access: ReadOnly, Doc: "Metadata from the server configuration (setting metadata).",
				Get: Get(func(m *ServerManager) any { return m.store.metadata })},
		},
		Methods: []Method{
			{Name: "getKmd", Params: []Param{{Name: "moduleName", Type: "String"}}, Return: "String",
				Doc: "The kmd (interface description, JSON) of a module: core, elements or filters. Generated from the type registry.",
				Call: Do(func(_ *Call, m *ServerManager, a Args) (any, error) {
					return m.store.reg.Kmd(a.String("moduleName"))
				})},
			{Name: "getCpuCount", Return: "int", Doc: "Number of CPU cores the server can use.",
				Call: Do(func(_ *Call, _ *ServerManager, _ Args) (any, error) { return runtime.GOMAXPROCS(0), nil })},
			{Name: "getUsedCpu", Params: []Param{{Name: "interval", Type: "int", Optional: true, Default: 1000}}, Return: "float", Blocking: true,
				Doc: "Average CPU use of the server process over interval ms (at most 10000), in percent of the usable cores.",
				Call: Do(func(c *Call, _ *ServerManager, a Args) (any, error) {
					iv := a.Int("interval")
					if iv <= 0 || iv > 10000 {
						return nil, NewError(CodeIllegalParam, "interval must be between 1 and 10000 ms")
					}
					return usedCPU(c, time.Duration(iv)*time.Millisecond)
				})},
			{Name: "getUsedMemory", Return: "int64", Doc: "Resident memory of the server process, in KiB.",
				Call: Do(func(_ *Call, _ *ServerManager, _ Args) (any, error) { return usedMemoryKiB(), nil })},
		},
		Events: []string{"ObjectCreated", "ObjectDestroyed"},
	}
}

func (m *ServerManager) info() map[string]any {
	gen := m.created.UTC().Format(time.RFC3339)
	mods := []map[string]any{}
	for _, name := range Modules {
		mods = append(mods, map[string]any{
			"__module__": "kurento", "__type__": "ModuleInfo",
			"name": name, "version": APIVersion, "generationTime": gen,
			"factories": m.store.reg.Factories(name),
		})
	}
	return map[string]any{
		"__module__": "kurento", "__type__": "ServerInfo",
		"version": APIVersion, "type": "KMS", "capabilities": []string{"transactions"}, "modules": mods,
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func usedCPU(c *Call, d time.Duration) (float64, error) {
	start, t0 := cpuTime(), time.Now()
	select {
	case <-time.After(d):
	case <-c.Ctx.Done():
		return 0, NewError(CodeUnexpected, "request cancelled")
	}
	wall := time.Since(t0)
	used := cpuTime() - start
	return float64(used) / float64(wall) / float64(runtime.GOMAXPROCS(0)) * 100, nil
}

// usedMemoryKiB reads VmRSS from /proc; it falls back to the Go runtime's
// view of memory obtained from the OS.
func usedMemoryKiB() int64 {
	if f, err := os.Open("/proc/self/status"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
				fields := strings.Fields(rest)
				if len(fields) > 0 {
					if v, err := strconv.ParseInt(fields[0], 10, 64); err == nil {
						return v
					}
				}
			}
		}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.Sys / 1024)
}
