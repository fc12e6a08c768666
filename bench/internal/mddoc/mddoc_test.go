package mddoc

import (
	"strings"
	"testing"
)

func TestSplice(t *testing.T) {
	const begin, end = "<!-- BEGIN x -->", "<!-- END x -->"
	sec := begin + "\nnew\n" + end + "\n"
	for _, tc := range []struct{ name, doc, want string }{
		{"empty document", "", Intro + sec},
		{"no section yet", "# B\n\ntext\n", "# B\n\ntext\n\n" + sec},
		{"replaced, the rest kept", "# B\n\n" + begin + "\nold\n" + end + "\n\nafter\n", "# B\n\n" + sec + "\nafter\n"},
		{"other sections kept", "<!-- BEGIN y -->\ny\n<!-- END y -->\n\n" + begin + "\nold\n" + end + "\n",
			"<!-- BEGIN y -->\ny\n<!-- END y -->\n\n" + sec},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(Splice([]byte(tc.doc), sec, begin, end)); got != tc.want {
				t.Fatalf("got\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}

func TestEscape(t *testing.T) {
	if got := Escape("a|b\nc"); got != `a\|b c` {
		t.Fatalf("Escape = %q", got)
	}
	if CPUModel() == "" || strings.Contains(CPUModel(), "\n") {
		t.Fatalf("CPUModel = %q", CPUModel())
	}
}
