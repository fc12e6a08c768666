package composite

import (
	"reflect"
	"strings"
	"testing"
)

func TestGrid(t *testing.T) {
	for _, tc := range []struct {
		n          int
		cols, rows int
		want       []Rect
	}{
		{0, 0, 0, []Rect{}},
		{1, 1, 1, []Rect{{0, 0, 800, 600}}},
		{2, 2, 1, []Rect{{0, 0, 400, 600}, {400, 0, 400, 600}}},
		{3, 2, 2, []Rect{{0, 0, 400, 300}, {400, 0, 400, 300}, {200, 300, 400, 300}}},
		{4, 2, 2, []Rect{{0, 0, 400, 300}, {400, 0, 400, 300}, {0, 300, 400, 300}, {400, 300, 400, 300}}},
		{5, 3, 2, []Rect{{0, 0, 266, 300}, {266, 0, 267, 300}, {533, 0, 267, 300}, {133, 300, 266, 300}, {399, 300, 267, 300}}},
		{6, 3, 2, nil},
		{7, 3, 3, nil},
		{9, 3, 3, nil},
		{10, 4, 3, nil},
		{16, 4, 4, nil},
		{17, 5, 4, nil},
	} {
		cols, rows := GridShape(tc.n)
		if cols != tc.cols || rows != tc.rows {
			t.Errorf("GridShape(%d) = %d×%d, want %d×%d", tc.n, cols, rows, tc.cols, tc.rows)
		}
		got := Grid(tc.n, 800, 600)
		if tc.want != nil && !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Grid(%d) = %v, want %v", tc.n, got, tc.want)
		}
		if len(got) != tc.n {
			t.Fatalf("Grid(%d) has %d cells", tc.n, len(got))
		}
		// Every cell is inside the canvas, cells never overlap, and full
		// rows cover the canvas width exactly.
		area := 0
		for i, a := range got {
			if a.X < 0 || a.Y < 0 || a.X+a.W > 800 || a.Y+a.H > 600 || a.Empty() {
				t.Errorf("Grid(%d)[%d] = %v outside the canvas", tc.n, i, a)
			}
			area += a.W * a.H
			for j, b := range got[i+1:] {
				if a.X < b.X+b.W && b.X < a.X+a.W && a.Y < b.Y+b.H && b.Y < a.Y+a.H {
					t.Errorf("Grid(%d): cells %d and %d overlap: %v %v", tc.n, i, i+1+j, a, b)
				}
			}
		}
		if tc.n > 0 && tc.n == cols*rows && area != 800*600 {
			t.Errorf("Grid(%d) covers %d pixels, want the whole canvas", tc.n, area)
		}
	}
}

func TestParseLayout(t *testing.T) {
	ports := map[string]bool{"a": true, "b": true}
	isPort := func(id string) bool { return ports[id] }
	for _, tc := range []struct {
		name, in string
		want     []Region
		err      string
	}{
		{"empty string is automatic", "", nil, ""},
		{"empty array is automatic", " [] ", nil, ""},
		{"two regions", `[{"port":"a","x":0,"y":0,"width":800,"height":600,"zOrder":0},{"port":"b","x":600,"y":450,"width":200,"height":150,"zOrder":2}]`,
			[]Region{{"a", 0, 0, 800, 600, 0}, {"b", 600, 450, 200, 150, 2}}, ""},
		{"not JSON", `{x`, nil, "not a JSON array"},
		{"object instead of array", `{"port":"a"}`, nil, "not a JSON array"},
		{"unknown field", `[{"port":"a","x":0,"y":0,"width":8,"height":6,"alpha":1}]`, nil, "unknown field"},
		{"trailing data", `[] []`, nil, "trailing"},
		{"no port", `[{"x":0,"y":0,"width":8,"height":6}]`, nil, "no port"},
		{"port twice", `[{"port":"a","width":8,"height":6},{"port":"a","width":8,"height":6}]`, nil, "twice"},
		{"zero size", `[{"port":"a","width":0,"height":6}]`, nil, "positive"},
		{"outside", `[{"port":"a","x":700,"width":200,"height":6}]`, nil, "outside"},
		{"negative", `[{"port":"a","x":-1,"width":200,"height":6}]`, nil, "outside"},
		{"bad z", `[{"port":"a","width":2,"height":6,"zOrder":-3}]`, nil, "zOrder"},
		{"foreign port", `[{"port":"c","width":8,"height":6}]`, nil, "not a port"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseLayout(tc.in, 800, 600, isPort)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("ParseLayout = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestPlace(t *testing.T) {
	got := Place([]string{"a", "b", "c"}, nil, 320, 240)
	want := map[string]Region{
		"a": {"a", 0, 0, 160, 120, 1}, "b": {"b", 160, 0, 160, 120, 1}, "c": {"c", 80, 120, 160, 120, 1},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("automatic = %v", got)
	}
	custom := []Region{{"a", 0, 0, 320, 240, 0}, {"gone", 0, 0, 10, 10, 5}, {"c", 200, 150, 100, 75, 3}}
	got = Place([]string{"a", "b", "c"}, custom, 320, 240)
	want = map[string]Region{"a": custom[0], "c": custom[2]}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("custom = %v (ports without a region or without media are not drawn)", got)
	}
	if got := Place(nil, nil, 320, 240); len(got) != 0 {
		t.Fatalf("no inputs = %v", got)
	}
}
