package composite

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
)

// Rect is a rectangle of the canvas, in pixels.
type Rect struct {
	X, Y, W, H int
}

// Empty reports a rectangle with no area.
func (r Rect) Empty() bool { return r.W <= 0 || r.H <= 0 }

// Region places one port on the canvas: its picture is scaled into the
// rectangle keeping its aspect ratio (letterboxed, never stretched).
// Regions with a higher Z are drawn on top.
type Region struct {
	Port string `json:"port"`
	X    int    `json:"x"`
	Y    int    `json:"y"`
	W    int    `json:"width"`
	H    int    `json:"height"`
	Z    int    `json:"zOrder"`
}

// Rect is the region's rectangle.
func (r Region) Rect() Rect { return Rect{r.X, r.Y, r.W, r.H} }

// GridShape is the automatic grid for n inputs: one fills the canvas, two
// are side by side, three or four share a 2×2 grid, and more grow the grid
// (columns = ⌈√n⌉, rows = ⌈n / columns⌉: 5–6 in 3×2, 7–9 in 3×3, 10–12 in
// 4×3, …).
func GridShape(n int) (cols, rows int) {
	if n <= 0 {
		return 0, 0
	}
	cols = int(math.Ceil(math.Sqrt(float64(n))))
	rows = (n + cols - 1) / cols
	return cols, rows
}

// Grid is the automatic layout of n inputs on a width×height canvas, in
// input order (row by row). Cells tile the canvas exactly; an incomplete
// last row is centred.
func Grid(n, width, height int) []Rect {
	cols, rows := GridShape(n)
	out := make([]Rect, 0, n)
	for i := 0; i < n; i++ {
		row, col := i/cols, i%cols
		inRow := cols
		if row == rows-1 {
			inRow = n - row*cols
		}
		x := col * width / cols
		w := (col+1)*width/cols - x
		if inRow < cols {
			// Centre the incomplete last row.
			x += (cols - inRow) * width / cols / 2
		}
		y := row * height / rows
		h := (row+1)*height/rows - y
		out = append(out, Rect{X: x, Y: y, W: w, H: h})
	}
	return out
}

// ParseLayout reads setLayout's JSON: an array of regions
// [{"port": id, "x": 0, "y": 0, "width": 400, "height": 300, "zOrder": 1}].
// "" and "[]" mean the automatic grid (nil). Regions must lie inside the
// width×height canvas, have a positive size, name a port and not name the
// same port twice; isPort checks that a port belongs to the composite.
func ParseLayout(s string, width, height int, isPort func(id string) bool) ([]Region, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	var regs []Region
	if err := dec.Decode(&regs); err != nil {
		return nil, fmt.Errorf("layout is not a JSON array of regions {port, x, y, width, height, zOrder}: %v", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("layout: trailing data after the JSON array")
	}
	if len(regs) == 0 {
		return nil, nil
	}
	seen := map[string]bool{}
	for i, r := range regs {
		switch {
		case r.Port == "":
			return nil, fmt.Errorf("layout region %d: no port", i)
		case seen[r.Port]:
			return nil, fmt.Errorf("layout region %d: port %s placed twice", i, r.Port)
		case r.W <= 0 || r.H <= 0:
			return nil, fmt.Errorf("layout region %d: width and height must be positive", i)
		case r.X < 0 || r.Y < 0 || r.X+r.W > width || r.Y+r.H > height:
			return nil, fmt.Errorf("layout region %d: %dx%d at (%d,%d) is outside the %dx%d canvas", i, r.W, r.H, r.X, r.Y, width, height)
		case r.Z < 0 || r.Z > 1000:
			return nil, fmt.Errorf("layout region %d: zOrder must be from 0 to 1000", i)
		case isPort != nil && !isPort(r.Port):
			return nil, fmt.Errorf("layout region %d: %s is not a port of this Composite", i, r.Port)
		}
		seen[r.Port] = true
	}
	return regs, nil
}

// Place computes where each active port goes. active lists the ports whose
// media flows, in port order; custom is setLayout's regions (nil: the
// automatic grid). Ports absent from the result are not drawn.
func Place(active []string, custom []Region, width, height int) map[string]Region {
	out := make(map[string]Region, len(active))
	if custom == nil {
		for i, r := range Grid(len(active), width, height) {
			out[active[i]] = Region{Port: active[i], X: r.X, Y: r.Y, W: r.W, H: r.H, Z: 1}
		}
		return out
	}
	on := make(map[string]bool, len(active))
	for _, id := range active {
		on[id] = true
	}
	for _, r := range custom {
		if on[r.Port] {
			out[r.Port] = r
		}
	}
	return out
}
