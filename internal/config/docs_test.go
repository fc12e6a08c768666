package config

import (
	"os"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

const docsPath = "../../docs/configuration.md"

// TestDocsUpToDate checks docs/configuration.md against Markdown();
// MIKSILO_UPDATE_DOCS=1 (make docs) rewrites it instead.
func TestDocsUpToDate(t *testing.T) {
	want := Markdown()
	if os.Getenv("MIKSILO_UPDATE_DOCS") == "1" {
		if err := os.WriteFile(docsPath, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(docsPath)
	if err != nil {
		t.Fatalf("%v: run make docs", err)
	}
	if string(got) != want {
		t.Fatal("docs/configuration.md is stale: run make docs")
	}
}

// TestMarkdown checks that the generated doc covers every setting and that
// its example file is valid and holds exactly the defaults.
func TestMarkdown(t *testing.T) {
	md := Markdown()
	for _, s := range settings() {
		for _, w := range []string{"| `" + s.key + "` | `" + s.env + "` | `-" + s.flag + "` |", "# " + plain(s.doc)} {
			if !strings.Contains(md, w) {
				t.Errorf("Markdown lacks %q", w)
			}
		}
	}
	for _, w := range []string{"kurentoClient(url + '?access_token=TOKEN')", "Authorization: Bearer TOKEN", "shared secret", "MIKSILO_CONFIG"} {
		if !strings.Contains(md, w) {
			t.Errorf("Markdown lacks %q", w)
		}
	}

	_, rest, ok := strings.Cut(md, "```yaml\n")
	example, _, ok2 := strings.Cut(rest, "```\n")
	if !ok || !ok2 {
		t.Fatal("no yaml example")
	}
	dec := yaml.NewDecoder(strings.NewReader(example))
	dec.KnownFields(true)
	var got Config
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("example: %v\n%s", err, example)
	}
	if got != Default() {
		t.Errorf("example decodes to %+v, want the defaults %+v", got, Default())
	}
	var keys map[string]any
	if err := yaml.Unmarshal([]byte(example), &keys); err != nil {
		t.Fatal(err)
	}
	for _, s := range settings() {
		m := keys
		path := strings.Split(s.key, ".")
		for _, p := range path[:len(path)-1] {
			m, _ = m[p].(map[string]any)
		}
		if _, ok := m[path[len(path)-1]]; !ok {
			t.Errorf("example lacks %s", s.key)
		}
	}
}
